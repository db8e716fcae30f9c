package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/testport"
)

var testLogID = bytes.Repeat([]byte{0x42}, 16)

func rootKey() []byte { return bytes.Repeat([]byte{9}, eventlog.RootKeySize) }

// replica is one Node with its log, restartable on the same directory
// and Raft address.
type replica struct {
	t     *testing.T
	ca    *identity.DevCA
	peer  Peer
	peers *[]Peer
	dir   string
	node  *Node
	log   *eventlog.Log
	// timing for the group's tests
	timing Timing
	join   bool
	// listen, if set, is where the replica listens instead of its Raft
	// address.
	listen string
	logger *slog.Logger
	// keyless makes the replica report that it cannot lead.
	keyless atomic.Bool
}

func fastTiming() Timing {
	return Timing{HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		LeaderLeaseTimeout: 150 * time.Millisecond, SnapshotInterval: time.Hour, SnapshotThreshold: 1 << 30}
}

func freeAddr(t *testing.T) string { return testport.Addr(t) }

func (r *replica) start() {
	t := r.t
	t.Helper()
	var ln net.Listener
	var err error
	addr := r.peer.RaftAddr
	if r.listen != "" {
		addr = r.listen
	}
	for range 50 { // the port of a stopped replica may linger briefly
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	logger := r.logger
	if logger == nil {
		logger = discard()
	}
	n, err := New(Config{ID: r.peer.ID, Listener: ln, Peers: *r.peers, Dir: filepath.Join(r.dir, "raft"),
		Source: source(t, r.ca, identity.PathNexus, time.Hour, r.ca.Bundle()), Roles: identity.DefaultRoles(),
		Logger: logger, Timing: r.timing, Join: r.join,
		CanLead: func() bool { return !r.keyless.Load() }, LogInitialized: func() bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	log, err := eventlog.Open(context.Background(), filepath.Join(r.dir, "events.db"),
		eventlog.Options{ID: testLogID, Replicator: n, Logger: discard()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(log); err != nil {
		t.Fatal(err)
	}
	r.node, r.log = n, log
	// A replica unlocks as soon as its log has a key ring.
	go func(log *eventlog.Log) {
		for range 600 {
			if ok, _ := log.Initialized(context.Background()); ok {
				if log.Unlock(context.Background(), rootKey()) == nil {
					return
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}(log)
}

func (r *replica) stop() {
	if r.node != nil {
		r.node.Close()
		r.log.Close()
		r.node, r.log = nil, nil
	}
}

func newGroup(t *testing.T, n int, timing Timing) []*replica {
	t.Helper()
	ca := newCA(t, mainTD)
	peers := new([]Peer)
	var rs []*replica
	for i := range n {
		p := Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: freeAddr(t), APIAddr: fmt.Sprintf("127.0.0.1:%d", 18550+i)}
		*peers = append(*peers, p)
		rs = append(rs, &replica{t: t, ca: ca, peer: p, peers: peers, dir: t.TempDir(), timing: timing})
	}
	for _, r := range rs {
		r.start()
		t.Cleanup(r.stop)
	}
	return rs
}

func leaderOf(t *testing.T, rs []*replica) *replica {
	t.Helper()
	var l *replica
	waitUntil(t, "a caught-up leader", func() bool {
		for _, r := range rs {
			if r.node != nil {
				if ok, _ := r.node.Leading(); ok {
					l = r
					return true
				}
			}
		}
		return false
	})
	return l
}

// appendMany appends n events through whichever replica leads, retrying
// across leader changes as a client would; it returns the payloads
// acknowledged.
func appendMany(t *testing.T, rs []*replica, prefix string, n int) []string {
	t.Helper()
	var acked []string
	for i := 0; i < n; i++ {
		l := leaderOf(t, rs)
		if l.log.Sealed() {
			waitUntil(t, "leader unsealed", func() bool { return !l.log.Sealed() })
		}
		p := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := l.log.Append(context.Background(), eventlog.Event{Type: "secret.written", Schema: 1, Payload: []byte(p)}); err != nil {
			i-- // not acknowledged: try again
			time.Sleep(20 * time.Millisecond)
			continue
		}
		acked = append(acked, p)
	}
	return acked
}

// sameLogs checks that every replica holds the same events, leaf for
// leaf, and signs the same checkpoints.
func sameLogs(t *testing.T, rs []*replica, size uint64) {
	t.Helper()
	ctx := context.Background()
	for _, r := range rs {
		waitUntil(t, r.peer.ID+" caught up", func() bool { return r.log.Size() >= size })
	}
	for seq := uint64(1); seq <= size; seq++ {
		want, err := rs[0].log.LeafHash(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs[1:] {
			if got, err := r.log.LeafHash(ctx, seq); err != nil || got != want {
				t.Fatalf("%s: event %d differs from %s's (%v)", r.peer.ID, seq, rs[0].peer.ID, err)
			}
		}
	}
	// Checkpoints are changes of their own, replicated like the rest:
	// every replica gets to the same list.
	checkpoints := func(r *replica) string {
		var b strings.Builder
		r.log.Checkpoints(ctx, func(size uint64, note []byte) error {
			b.Write(note)
			return nil
		})
		return b.String()
	}
	for _, r := range rs[1:] {
		waitUntil(t, r.peer.ID+" signs the checkpoints "+rs[0].peer.ID+" signs", func() bool {
			return checkpoints(r) == checkpoints(rs[0])
		})
	}
}

// TestGroupReplicatesTheLog: three replicas form a group, the leader
// creates the key ring, every replica unlocks with the same root key and
// holds the same events and checkpoints; a follower cannot append; after
// the leader is stopped another leads and continues the log with no
// sequence number skipped or repeated; the old leader comes back and
// catches up.
func TestGroupReplicatesTheLog(t *testing.T) {
	t.Parallel()
	rs := newGroup(t, 3, fastTiming())
	l := leaderOf(t, rs)
	if err := l.log.Unlock(context.Background(), rootKey()); err != nil {
		t.Fatal(err)
	}
	acked := appendMany(t, rs, "a", 50)
	for _, r := range rs {
		if r == l {
			continue
		}
		waitUntil(t, r.peer.ID+" unsealed", func() bool { return !r.log.Sealed() })
		if _, err := r.log.Append(context.Background(), eventlog.Event{Type: "x", Schema: 1}); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("a follower appended: %v", err)
		}
	}
	l.stop()
	acked = append(acked, appendMany(t, rs, "b", 50)...)
	l.start()
	acked = append(acked, appendMany(t, rs, "c", 20)...)
	leader := leaderOf(t, rs)
	leader.log.Append(context.Background()) // nothing: no change
	sameLogs(t, rs, uint64(len(acked)))
	ctx := context.Background()
	for _, r := range rs {
		if r.log.Size() != uint64(len(acked)) {
			t.Fatalf("%s holds %d events, %d acknowledged", r.peer.ID, r.log.Size(), len(acked))
		}
		waitUntil(t, r.peer.ID+" unsealed", func() bool { return !r.log.Sealed() })
		for i, want := range acked {
			rec, err := r.log.Get(ctx, uint64(i+1))
			if err != nil || string(rec.Payload) != want {
				t.Fatalf("%s: event %d is %q (%v), want %q", r.peer.ID, i+1, rec.Payload, err, want)
			}
		}
	}
}

// TestNewReplicaInstallsSnapshot: a replica added with an empty
// directory after the leader has truncated its Raft log receives a
// snapshot, installs it and follows; Members lists it.
func TestNewReplicaInstallsSnapshot(t *testing.T) {
	t.Parallel()
	timing := fastTiming()
	timing.SnapshotThreshold, timing.TrailingLogs, timing.SnapshotInterval = 20, 5, 100*time.Millisecond
	rs := newGroup(t, 3, timing)
	l := leaderOf(t, rs)
	if err := l.log.Unlock(context.Background(), rootKey()); err != nil {
		t.Fatal(err)
	}
	acked := appendMany(t, rs, "a", 100)
	// Wait for a snapshot to have truncated the log.
	waitUntil(t, "a snapshot", func() bool {
		n, _ := filepath.Glob(filepath.Join(l.dir, "raft", "snapshots", "*"))
		return len(n) > 0
	})
	p := Peer{ID: "n4", RaftAddr: freeAddr(t), APIAddr: "127.0.0.1:18560"}
	peers := append([]Peer{p}, *rs[0].peers...)
	nr := &replica{t: t, ca: rs[0].ca, peer: p, peers: &peers, dir: t.TempDir(), timing: timing, join: true}
	installs := newCaptureLog()
	nr.logger = installs.logger()
	// A joining replica does not form a group of its own: it waits to
	// be added by the leader.
	nr.start()
	t.Cleanup(nr.stop)
	if err := leaderOf(t, rs).node.Add(context.Background(), p.ID, p.RaftAddr, p.APIAddr); err != nil {
		t.Fatal(err)
	}
	acked = append(acked, appendMany(t, rs, "b", 10)...)
	sameLogs(t, append(rs, nr), uint64(len(acked)))
	installs.wait(t, "of a snapshot installed", func(r slog.Record) bool { return r.Message == "cluster: installed a snapshot of the log" })
	members, leader, err := leaderOf(t, rs).node.Members(context.Background())
	if err != nil || len(members) != 4 || leader == "" {
		t.Fatalf("members %v leader %q: %v", members, leader, err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestKeylessLeaderHandsOn: a leader that cannot serve (no root key, on
// a log that has one) hands leadership to a replica that can.
func TestKeylessLeaderHandsOn(t *testing.T) {
	t.Parallel()
	rs := newGroup(t, 3, fastTiming())
	l := leaderOf(t, rs)
	l.keyless.Store(true)
	waitUntil(t, "leadership handed on", func() bool {
		for _, r := range rs {
			if ok, _ := r.node.Leading(); ok && r != l {
				return true
			}
		}
		return false
	})
	waitUntil(t, "the keyless replica stops leading", func() bool {
		ok, _ := l.node.Leading()
		return !ok
	})
}

// TestLeaderOnWildcardListener: replicas that listen for Raft on every
// interface (Nexus's default, and the Kubernetes ha overlay's ":8555")
// still tell followers the leader's address from the peers, not the
// wildcard: otherwise a follower forwards to its own API.
func TestLeaderOnWildcardListener(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	peers := new([]Peer)
	var rs []*replica
	for i := range 3 {
		p := Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: freeAddr(t)}
		*peers = append(*peers, p)
		_, port, _ := net.SplitHostPort(p.RaftAddr)
		rs = append(rs, &replica{t: t, ca: ca, peer: p, peers: peers, dir: t.TempDir(), timing: fastTiming(), listen: ":" + port})
	}
	for _, r := range rs {
		r.start()
		t.Cleanup(r.stop)
	}
	l := leaderOf(t, rs)
	want := net.JoinHostPort("127.0.0.1", "")
	for _, r := range rs {
		if r == l {
			continue
		}
		waitUntil(t, r.peer.ID+" knows the leader", func() bool {
			id, _, ok := r.node.Leader()
			return ok && id == l.peer.ID
		})
		if _, api, _ := r.node.Leader(); api != want {
			t.Errorf("%s: leader %s's API host is %q, want %q (from the peers)", r.peer.ID, l.peer.ID, api, want)
		}
	}
}
