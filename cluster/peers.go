package cluster

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spikeledger/spike/api"
)

// Peer is one replica as configured: its id, the address its Raft
// listener is reached at, and the address of its API, where followers
// forward requests while it leads.
type Peer struct {
	ID       string
	RaftAddr string
	APIAddr  string
}

// MaxPeers bounds a group's configured size: Raft groups of more than
// seven voters only add latency.
const MaxPeers = 9

// ParsePeers parses SPIKE_NEXUS_CLUSTER_PEERS: comma-separated
// id=raft-host:port=api-host:port entries, such as
// "n1=10.0.0.1:8554=10.0.0.1:8553,n2=…". The API address may be left out
// (id=raft-host:port): the replica's API is then taken to be on the Raft
// host at the port this replica's own API listens on.
func ParsePeers(s string) ([]Peer, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("no peers")
	}
	var peers []Peer
	for _, entry := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(entry), "=")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("peer %q: want id=raft-host:port[=api-host:port]", entry)
		}
		p := Peer{ID: parts[0], RaftAddr: parts[1]}
		if len(parts) == 3 {
			p.APIAddr = parts[2]
		}
		if err := p.check(); err != nil {
			return nil, err
		}
		peers = append(peers, p)
	}
	if len(peers) > MaxPeers {
		return nil, fmt.Errorf("%d peers: at most %d", len(peers), MaxPeers)
	}
	return peers, nil
}

func (p Peer) check() error {
	if err := validID(p.ID); err != nil {
		return fmt.Errorf("peer id %q: %w", p.ID, err)
	}
	if err := validAddr(p.RaftAddr); err != nil {
		return fmt.Errorf("peer %s: raft address: %w", p.ID, err)
	}
	if p.APIAddr != "" {
		if err := validAddr(p.APIAddr); err != nil {
			return fmt.Errorf("peer %s: api address: %w", p.ID, err)
		}
	}
	return nil
}

// checkPeers checks that self is among peers and that ids and Raft
// addresses are distinct.
func checkPeers(self string, peers []Peer) error {
	ids, addrs := map[string]bool{}, map[string]bool{}
	found := false
	for _, p := range peers {
		if err := p.check(); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		if ids[p.ID] || addrs[p.RaftAddr] {
			return fmt.Errorf("cluster: peer %s (%s) is listed twice", p.ID, p.RaftAddr)
		}
		ids[p.ID], addrs[p.RaftAddr] = true, true
		found = found || p.ID == self
	}
	if !found {
		return fmt.Errorf("cluster: this replica's id %q is not among the peers", self)
	}
	return nil
}

// validID checks a replica id by the rule members have on the wire
// (api.ValidateMemberID), so a peer the settings accept is one
// `spike operator cluster add` accepts too.
func validID(id string) error { return reason(api.ValidateMemberID(id)) }

// validAddr checks a host:port address by the wire's rule for member
// addresses.
func validAddr(addr string) error { return reason(api.ValidateMemberAddress(addr)) }

// reason drops the wire's field framing ("api: invalid id: ..."): the
// callers name the setting themselves.
func reason(err error) error {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return errors.New(fe.Reason)
	}
	return err
}
