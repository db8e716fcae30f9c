package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
)

// ErrNotLeader is Replicate's error on a replica that does not lead, or
// no longer does: nothing was committed through it.
var ErrNotLeader = errors.New("this replica is not the cluster's leader")

// Timing tunes Raft; zero values take the defaults, chosen so that a
// leader's loss is noticed and a new one elected within about two
// seconds on a busy machine.
type Timing struct {
	HeartbeatTimeout   time.Duration // default 1s
	ElectionTimeout    time.Duration // default 1s
	LeaderLeaseTimeout time.Duration // default 500ms
	SnapshotInterval   time.Duration // default 2m
	SnapshotThreshold  uint64        // default 8192 entries
	TrailingLogs       uint64        // default 10240 entries
}

// Config configures a replica.
type Config struct {
	// ID names this replica in the group (1-64 of a-z, 0-9 and -).
	ID string
	// Listener is where the replica accepts Raft connections; the Node
	// owns it from Start on.
	Listener net.Listener
	// Peers is the group's initial membership, this replica included. A
	// replica whose data directory holds no Raft state bootstraps the
	// group with it; every replica given the same list forms one group.
	Peers []Peer
	// Join marks a replica added to a running group (cluster add): with
	// no Raft state of its own it waits to be contacted by the leader
	// instead of bootstrapping a group from Peers.
	Join bool
	// Dir holds Raft's log (raft.db) and its snapshots.
	Dir string
	// Source and Roles prove this replica and admit only Nexus peers.
	Source identity.Source
	Roles  *identity.Roles
	// CanLead reports whether this replica can serve as leader (it holds
	// the root key). A leader that cannot, on a log that has a key
	// ring, hands leadership on.
	CanLead func() bool
	// LogInitialized reports whether the log has a key ring yet: before
	// that (a group waiting for its bootstrap) whichever replica leads
	// keeps leading, since none holds a key.
	LogInitialized func() bool
	Logger         *slog.Logger
	Timing         Timing
}

// Node is one replica's membership in the Raft group.
type Node struct {
	cfg    Config
	logger *slog.Logger

	raft   *raft.Raft
	store  *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	fsm    *fsm
	wg     sync.WaitGroup
	stop   chan struct{}
	closed sync.Once

	// leading is set once this replica leads and has applied every
	// entry of earlier terms: only then do its changes continue the log.
	leading atomic.Bool
	removed atomic.Bool
	mu      sync.Mutex
	api     map[string]string // replica id → API address
	changed chan struct{}     // closed and replaced when leading changes
}

// New checks cfg and returns a Node that has not started.
func New(cfg Config) (*Node, error) {
	if err := validID(cfg.ID); err != nil {
		return nil, fmt.Errorf("cluster: node id: %w", err)
	}
	switch {
	case cfg.Listener == nil:
		return nil, errors.New("cluster: no Raft listener")
	case cfg.Dir == "":
		return nil, errors.New("cluster: no data directory")
	case cfg.Source == nil || cfg.Roles == nil:
		return nil, errors.New("cluster: no identity")
	}
	if err := checkPeers(cfg.ID, cfg.Peers); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	n := &Node{cfg: cfg, logger: cfg.Logger, stop: make(chan struct{}), api: map[string]string{}, changed: make(chan struct{})}
	for _, p := range cfg.Peers {
		n.api[p.ID] = p.APIAddr
	}
	return n, nil
}

// Start joins the group with log as this replica's state.
func (n *Node) Start(log *eventlog.Log) error {
	if err := os.MkdirAll(n.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(n.cfg.Dir, "raft.db")})
	if err != nil {
		return fmt.Errorf("cluster: open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, 2, NewHCLogger(n.logger, "raft-snapshot"))
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster: open snapshot store: %w", err)
	}
	stream, err := NewStreamLayer(n.advertised(), n.cfg.Source, n.cfg.Roles, n.logger)
	if err != nil {
		store.Close()
		return err
	}
	trans, err := NewTransport(stream, TransportOptions{Logger: n.logger})
	if err != nil {
		stream.Close()
		store.Close()
		return err
	}
	n.store, n.trans = store, trans
	n.fsm = &fsm{log: log, logger: n.logger}
	conf := n.raftConfig()
	has, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("cluster: read raft state: %w", err)
	}
	if !has && !n.cfg.Join {
		if err := raft.BootstrapCluster(conf, store, store, snaps, trans, n.configuration()); err != nil {
			n.closeStores()
			return fmt.Errorf("cluster: bootstrap raft group: %w", err)
		}
		n.logger.Info("cluster: formed a new raft group", "id", n.cfg.ID, "peers", len(n.cfg.Peers))
	}
	r, err := raft.NewRaft(conf, n.fsm, store, store, snaps, trans)
	if err != nil {
		n.closeStores()
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft = r
	n.wg.Add(2)
	go n.watchLeadership()
	go n.watchHealth()
	return nil
}

// advertised is the Raft listener as this replica's peers know it: Raft
// tells followers the leader's address from its listener's, and one
// bound to every interface (":8555") would point them at themselves.
func (n *Node) advertised() net.Listener {
	for _, p := range n.cfg.Peers {
		if p.ID == n.cfg.ID {
			return peerListener{Listener: n.cfg.Listener, addr: peerAddr(p.RaftAddr)}
		}
	}
	return n.cfg.Listener
}

// peerListener reports a peer's configured address as its own.
type peerListener struct {
	net.Listener
	addr net.Addr
}

func (l peerListener) Addr() net.Addr { return l.addr }

// peerAddr is a host:port address as configured, host name kept.
type peerAddr string

func (peerAddr) Network() string  { return "tcp" }
func (a peerAddr) String() string { return string(a) }

func (n *Node) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.cfg.ID)
	c.Logger = NewHCLogger(n.logger, "raft")
	c.HeartbeatTimeout = orDuration(n.cfg.Timing.HeartbeatTimeout, time.Second)
	c.ElectionTimeout = orDuration(n.cfg.Timing.ElectionTimeout, time.Second)
	c.LeaderLeaseTimeout = orDuration(n.cfg.Timing.LeaderLeaseTimeout, 500*time.Millisecond)
	c.SnapshotInterval = orDuration(n.cfg.Timing.SnapshotInterval, 2*time.Minute)
	c.SnapshotThreshold = orUint(n.cfg.Timing.SnapshotThreshold, 8192)
	c.TrailingLogs = orUint(n.cfg.Timing.TrailingLogs, 10240)
	// Raft restores the newest snapshot at every start. The log records
	// the Raft index it applied, so a snapshot it holds already is
	// skipped after reading its header; one it lacks (the log fell
	// behind it) is installed.
	c.NoSnapshotRestoreOnStart = false
	return c
}

func (n *Node) configuration() raft.Configuration {
	var c raft.Configuration
	for _, p := range n.cfg.Peers {
		c.Servers = append(c.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
	}
	return c
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orUint(v, def uint64) uint64 {
	if v > 0 {
		return v
	}
	return def
}

// Replicate commits change through the group (eventlog.Replicator).
func (n *Node) Replicate(ctx context.Context, change []byte) error {
	if n.raft == nil || !n.leading.Load() {
		return ErrNotLeader
	}
	if err := n.Broken(); err != nil {
		return fmt.Errorf("%w: this replica stopped applying changes: %v", ErrNotLeader, err)
	}
	timeout := eventlog.ReplicateTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	f := n.raft.Apply(change, timeout)
	if err := f.Error(); err != nil {
		// Refused before it was sent: nothing committed. Lost
		// leadership after sending is another matter (the entry may
		// still commit under the next leader): that error says so.
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return fmt.Errorf("cluster: replicate: %w", err)
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
}

// Leading reports whether this replica leads and is caught up, with a
// channel closed when that changes.
func (n *Node) Leading() (bool, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leading.Load(), n.changed
}

func (n *Node) setLeading(v bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.leading.Load() == v {
		return
	}
	n.leading.Store(v)
	close(n.changed)
	n.changed = make(chan struct{})
}

// Leads reports whether this replica leads and is caught up.
func (n *Node) Leads() bool { return n.leading.Load() }

// Leader returns the leader's id and API address, if one is known.
func (n *Node) Leader() (id, apiAddr string, ok bool) {
	if n.raft == nil {
		return "", "", false
	}
	addr, sid := n.raft.LeaderWithID()
	if sid == "" {
		return "", "", false
	}
	return string(sid), n.apiAddr(string(sid), string(addr)), true
}

// apiAddr is the API address of replica id: the one configured or added
// for it, else its Raft host with this replica's API port convention
// left to the caller (an empty port).
func (n *Node) apiAddr(id, raftAddr string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.api[id]; a != "" {
		return a
	}
	if host, _, err := net.SplitHostPort(raftAddr); err == nil {
		return net.JoinHostPort(host, "")
	}
	return ""
}

// ID is this replica's id.
func (n *Node) ID() string { return n.cfg.ID }

// Removed reports whether this replica was removed from the group.
func (n *Node) Removed() bool { return n.removed.Load() }

// Broken returns the error that stopped this replica following the
// group, if any.
func (n *Node) Broken() error {
	if n.fsm == nil {
		return nil
	}
	if p := n.fsm.broken.Load(); p != nil {
		return *p
	}
	return nil
}

// watchLeadership follows Raft's leadership signal. A new leader first
// waits on a barrier, so that every entry committed in earlier terms is
// applied to its log before it builds a change on top of it.
func (n *Node) watchLeadership() {
	defer n.wg.Done()
	ch := n.raft.LeaderCh()
	for {
		select {
		case <-n.stop:
			n.setLeading(false)
			return
		case lead := <-ch:
			if !lead {
				n.setLeading(false)
				n.logger.Info("cluster: no longer the leader", "id", n.cfg.ID)
				continue
			}
			// Not leading until this term's barrier is through: a lost
			// and regained leadership can reach us as one signal, and
			// the earlier term's entries must be applied first.
			n.setLeading(false)
			term := n.raft.CurrentTerm()
			if err := n.raft.Barrier(eventlog.ReplicateTimeout).Error(); err != nil {
				n.logger.Warn("cluster: elected, but could not apply the earlier terms' entries", "err", err)
				continue
			}
			if n.raft.State() == raft.Leader && n.raft.CurrentTerm() == term && n.Broken() == nil {
				n.setLeading(true)
				n.logger.Info("cluster: leading", "id", n.cfg.ID)
			}
		}
	}
}

// watchHealth hands leadership on when this replica leads without the
// root key, and notices when it has been removed from the group.
func (n *Node) watchHealth() {
	defer n.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	member, keyless := false, 0
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		if n.Broken() != nil && n.raft.State() == raft.Leader {
			// Its log takes no more changes: it must not lead.
			n.setLeading(false)
			n.logger.Warn("cluster: this replica stopped applying changes; handing leadership on", "id", n.cfg.ID)
			n.raft.LeadershipTransfer()
			continue
		}
		if n.raft.State() == raft.Leader && n.cfg.CanLead != nil && !n.cfg.CanLead() &&
			n.cfg.LogInitialized != nil && n.cfg.LogInitialized() {
			if keyless++; keyless >= 3 {
				n.logger.Warn("cluster: leading without the root key; handing leadership on", "id", n.cfg.ID)
				n.raft.LeadershipTransfer()
				keyless = 0
			}
		} else {
			keyless = 0
		}
		f := n.raft.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		in := false
		for _, s := range f.Configuration().Servers {
			in = in || s.ID == raft.ServerID(n.cfg.ID)
		}
		switch removed := member && !in; {
		case removed && !n.removed.Load():
			n.setLeading(false)
			n.logger.Warn("cluster: this replica was removed from the group and stops serving", "id", n.cfg.ID)
		case !removed && n.removed.Load():
			n.logger.Info("cluster: this replica is a member again", "id", n.cfg.ID)
		}
		n.removed.Store(member && !in)
		member = member || in
	}
}

// Close leaves the group's work to the others (it stays a member) and
// releases the Raft log, snapshots and connections.
func (n *Node) Close() error {
	var err error
	n.closed.Do(func() {
		close(n.stop)
		if n.raft != nil {
			err = n.raft.Shutdown().Error()
		}
		n.wg.Wait()
		n.closeStores()
	})
	return err
}

func (n *Node) closeStores() {
	if n.trans != nil {
		n.trans.Close()
	}
	if n.store != nil {
		n.store.Close()
	}
}

// Stats is what a replica reports of its part in the group, for
// metrics.
type Stats struct {
	Leading bool
	Members int
	// AppliedIndex is the last Raft entry applied to this replica's log.
	AppliedIndex uint64
	// LastContact is how long since a follower last heard from the
	// leader (zero on the leader, and before any contact).
	LastContact time.Duration
}

// Stats returns the replica's current figures.
func (n *Node) Stats() Stats {
	if n.raft == nil {
		return Stats{}
	}
	s := Stats{Leading: n.leading.Load(), AppliedIndex: n.raft.AppliedIndex()}
	if !s.Leading {
		if t := n.raft.LastContact(); !t.IsZero() {
			s.LastContact = time.Since(t)
		}
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		s.Members = len(f.Configuration().Servers)
	}
	return s
}
