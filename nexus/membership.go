package nexus

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/nexus/internal/members"
)

// membership serves spike operator cluster over this replica's node:
// the handler (package members) authorises and records; this says what
// Raft holds and changes it, telling a conflict or an unknown member
// from a failure.
type membership struct{ n *Nexus }

var _ members.Cluster = membership{}

func (m membership) Members(ctx context.Context) ([]api.ClusterMember, string, error) {
	ms, leader, err := m.n.node.Members(ctx)
	if err != nil {
		return nil, "", err
	}
	out := make([]api.ClusterMember, 0, len(ms))
	for _, c := range ms {
		am := api.ClusterMember{ID: c.ID, RaftAddress: c.RaftAddr, APIAddress: m.apiAddr(c), Role: c.Role, Voter: c.Role != api.MemberNonvoter}
		out = append(out, am)
	}
	return out, leader, nil
}

// apiAddr fills in the port of a member configured without an API
// address: this replica's own.
func (m membership) apiAddr(c cluster.Member) string {
	if c.APIAddr == "" || c.APIAddr[len(c.APIAddr)-1] != ':' {
		return c.APIAddr
	}
	_, port, _ := net.SplitHostPort(m.n.apiAddr)
	return c.APIAddr + port
}

func (m membership) Add(ctx context.Context, id, raftAddr, apiAddr string) error {
	ms, _, err := m.n.node.Members(ctx)
	if err != nil {
		return err
	}
	for _, c := range ms {
		switch {
		case c.ID == id && c.RaftAddr == raftAddr:
			return nil // already a member, as asked
		case c.ID == id || c.RaftAddr == raftAddr:
			return fmt.Errorf("%w: %s at %s is a member", members.ErrMemberConflict, c.ID, c.RaftAddr)
		}
	}
	return m.mapErr(m.n.node.Add(ctx, id, raftAddr, apiAddr))
}

func (m membership) Remove(ctx context.Context, id string) error {
	ms, _, err := m.n.node.Members(ctx)
	if err != nil {
		return err
	}
	found := false
	for _, c := range ms {
		found = found || c.ID == id
	}
	if !found {
		return fmt.Errorf("%w: %s", members.ErrNoSuchMember, id)
	}
	return m.mapErr(m.n.node.Remove(ctx, id))
}

func (m membership) mapErr(err error) error {
	if errors.Is(err, cluster.ErrNotLeader) {
		return fmt.Errorf("%w: %v", members.ErrNoLeader, err)
	}
	return err
}
