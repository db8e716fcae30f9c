package nexus

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/testport"
)

// replicaSet is three Nexus replicas of one cluster over one set of
// in-process keepers.
type replicaSet struct {
	c *keeperSet
	// recovery is the replicas' RecoveryMaxInterval (default 200 ms).
	recovery time.Duration
	peers    []cluster.Peer
	// configured is what the replicas are given as peers (default
	// peers).
	configured []cluster.Peer
	dirs       []string
	procs      []*nexusProc
}

// freePort is an address for a replica to listen on later.
func freePort(t testing.TB) string { return testport.Addr(t) }

func newReplicaSet(t *testing.T, c *keeperSet, n int) *replicaSet {
	return startReplicaSet(t, c, n, false)
}

// startReplicaSet starts n replicas; with noAPI their peers are given
// without API addresses.
func startReplicaSet(t *testing.T, c *keeperSet, n int, noAPI bool, recovery ...time.Duration) *replicaSet {
	rs := &replicaSet{c: c}
	if len(recovery) > 0 {
		rs.recovery = recovery[0]
	}
	for i := range n {
		rs.peers = append(rs.peers, cluster.Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: freePort(t), APIAddr: freePort(t)})
		rs.dirs = append(rs.dirs, t.TempDir())
		if noAPI {
			rs.configured = append(rs.configured, cluster.Peer{ID: rs.peers[i].ID, RaftAddr: rs.peers[i].RaftAddr})
		}
	}
	rs.procs = make([]*nexusProc, n)
	for i := range n {
		rs.start(i)
	}
	return rs
}

// start starts replica i on its directory and addresses.
func (rs *replicaSet) start(i int) {
	c := rs.c
	c.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	n := &nexusProc{cancel: cancel, done: make(chan error, 1)}
	peers := rs.peers
	if rs.configured != nil {
		peers = rs.configured
	}
	cfg := Config{DataDir: rs.dirs[i], TLSAddr: rs.peers[i].APIAddr, OpsAddr: "127.0.0.1:0", RetentionInterval: 50 * time.Millisecond,
		Custody: CustodyConfig{Keepers: c.Keepers, Shares: len(c.Keepers), Threshold: 2, KeeperUpdateInterval: time.Hour, RecoveryMaxInterval: cmp.Or(rs.recovery, 200*time.Millisecond)},
		Cluster: &ClusterConfig{ID: rs.peers[i].ID, Peers: peers, Addr: rs.peers[i].RaftAddr,
			Timing: cluster.Timing{HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond, LeaderLeaseTimeout: 250 * time.Millisecond}},
		Ready: func(a, o string) { ready <- [2]string{a, o} }}
	go func() { n.done <- Run(ctx, cfg, c.Source("/spike/nexus"), c.Roles, c.Logger()) }()
	select {
	case addrs := <-ready:
		n.api, n.ops = "https://"+addrs[0], "http://"+addrs[1]
	case err := <-n.done:
		c.T.Fatalf("replica %d did not start: %v", i+1, err)
	}
	c.T.Cleanup(n.stop)
	rs.procs[i] = n
}

// retry calls f until it succeeds or fails with other than a 503, as a
// client retries while leadership moves, for at most 20 s.
func retry(t *testing.T, f func() error) error {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := f()
		if err == nil || status4xx(err) != http.StatusServiceUnavailable || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readyz(n *nexusProc) (int, string) {
	resp, err := http.Get(n.ops + "/readyz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// leader waits until some replica's /readyz names it the leader (ready
// or, before the bootstrap, sealed) and returns its index.
func (rs *replicaSet) leader(t *testing.T, ready bool) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for i, n := range rs.procs {
			if n == nil || n.cancel == nil {
				continue
			}
			code, body := readyz(n)
			if strings.Contains(body, "leader "+rs.peers[i].ID) && !strings.Contains(body, " of leader") && (code == 200) == ready {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	var states []string
	for _, n := range rs.procs {
		if n != nil && n.cancel != nil {
			_, b := readyz(n)
			states = append(states, b)
		}
	}
	t.Fatalf("no leader (ready %v) within 30s: %q", ready, states)
	return -1
}

// TestClusterServesAndFailsOver: three replicas form a cluster; one
// bootstrap through a follower unseals all three; writes and reads
// through any replica are forwarded to the leader and answered as the
// caller's; when the leader stops another leads, continues
// the log and serves what was written; the old leader returns as a
// follower and catches up; every replica's log verifies offline and
// holds the same events.
func TestClusterServesAndFailsOver(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(c.Logs.String())
		}
	})
	rs := newReplicaSet(t, c, 3)
	l := rs.leader(t, false)
	c.bootstrap(rs.procs[(l+1)%3], 2) // through a follower, which forwards
	for i, n := range rs.procs {
		if body := waitReady(t, n, true); !strings.Contains(body, rs.peers[i].ID) {
			t.Fatalf("replica %d ready as %q", i+1, body)
		}
	}
	l = rs.leader(t, true)
	put := func(n *nexusProc, path, v string) error {
		return retry(t, func() error {
			return c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"v": v}}, nil)
		})
	}
	for i := range 21 { // through every replica in turn
		if err := put(rs.procs[i%3], fmt.Sprintf("app/%d", i), "one"); err != nil {
			t.Fatalf("put through replica %d: %v", i%3+1, err)
		}
		var got api.SecretGetResponse
		err := retry(t, func() error {
			return c.call(t, rs.procs[(i+1)%3], superuser, api.OpSecretGet, api.SecretGetRequest{Path: fmt.Sprintf("app/%d", i)}, &got)
		})
		if err != nil || got.Data["v"] != "one" {
			t.Fatalf("get through replica %d: %v %v", (i+1)%3+1, got.Data, err)
		}
	}
	rs.procs[l].stop()
	rs.procs[l] = nil
	var l2 int
	deadline := time.Now().Add(20 * time.Second)
	for {
		l2 = rs.leader(t, true)
		err := put(rs.procs[l2], "app/after", "two")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no write after the leader stopped: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var got api.SecretGetResponse
	err := retry(t, func() error {
		return c.call(t, rs.procs[l2], superuser, api.OpSecretGet, api.SecretGetRequest{Path: "app/7"}, &got)
	})
	if err != nil || got.Data["v"] != "one" {
		t.Fatalf("new leader reads app/7 as %v: %v", got.Data, err)
	}
	rs.start(l)
	if body := waitReady(t, rs.procs[l], true); !strings.Contains(body, "follower") {
		t.Fatalf("old leader back as %q", body)
	}
	if err := put(rs.procs[l2], "app/last", "three"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // followers apply asynchronously
	for _, n := range rs.procs {
		n.stop()
	}
	ctx := context.Background()
	var sizes []uint64
	var vkey string
	for i, dir := range rs.dirs {
		path := filepath.Join(dir, "events.db")
		if vkey == "" {
			ro, err := eventlog.OpenReadOnly(ctx, path, eventlog.Options{})
			if err != nil {
				t.Fatal(err)
			}
			vkey, _ = ro.VerifierKey(ctx)
			ro.Close()
		}
		rep, err := eventlog.VerifyFile(ctx, path, vkey, eventlog.VerifyOptions{})
		if err != nil {
			t.Fatalf("replica %d's log does not verify: %v", i+1, err)
		}
		sizes = append(sizes, rep.Size)
	}
	if sizes[0] != sizes[1] || sizes[1] != sizes[2] {
		t.Fatalf("replica logs hold %v events", sizes)
	}
}

// TestClusterMembership: the superuser lists the members through any
// replica; a removed follower stops serving while the others go on; adding it back makes it a follower again.
func TestClusterMembership(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	rs := newReplicaSet(t, c, 3)
	l := rs.leader(t, false)
	c.bootstrap(rs.procs[l], 2)
	for _, n := range rs.procs {
		waitReady(t, n, true)
	}
	l = rs.leader(t, true)
	f := (l + 1) % 3
	list := func(via int) api.ClusterListResponse {
		t.Helper()
		var resp api.ClusterListResponse
		deadline := time.Now().Add(20 * time.Second)
		for {
			err := retry(t, func() error {
				return c.call(t, rs.procs[via], superuser, api.OpClusterList, api.ClusterListRequest{}, &resp)
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Leader != "" || time.Now().After(deadline) {
				return resp
			}
			time.Sleep(50 * time.Millisecond) // an election under way
		}
	}
	if got := list(f); len(got.Members) != 3 || got.Leader == "" {
		t.Fatalf("members through a follower: %+v", got)
	}
	l = rs.leader(t, true)
	f = (l + 1) % 3
	if err := retry(t, func() error {
		return c.call(t, rs.procs[l], superuser, api.OpClusterRemove, api.ClusterRemoveRequest{ID: rs.peers[f].ID}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	// A removed replica learns of it if the entry reaches it, else it
	// stops hearing from the leader: either way it stops serving.
	if body := waitReady(t, rs.procs[f], false); !strings.Contains(body, "removed") && !strings.Contains(body, "no leader") {
		t.Fatalf("removed replica says %q", body)
	}
	l = rs.leader(t, true)
	if got := list(l); len(got.Members) != 2 {
		t.Fatalf("members after removal: %+v", got)
	}
	if err := retry(t, func() error {
		return c.call(t, rs.procs[l], superuser, api.OpSecretPut, api.SecretPutRequest{Path: "after/remove", Values: map[string]string{"k": "v"}}, nil)
	}); err != nil {
		t.Fatalf("a write with two of three replicas: %v", err)
	}
	p := rs.peers[f]
	if err := retry(t, func() error {
		return c.call(t, rs.procs[l], superuser, api.OpClusterAdd, api.ClusterAddRequest{ID: p.ID, RaftAddress: p.RaftAddr, APIAddress: p.APIAddr}, nil)
	}); err != nil {
		t.Fatal(err)
	}
	if body := waitReady(t, rs.procs[f], true); !strings.Contains(body, "follower") {
		t.Fatalf("re-added replica says %q", body)
	}
	if got := list(f); len(got.Members) != 3 {
		t.Fatalf("members after adding back: %+v", got)
	}
}

// TestClusterRecordedAPIAddresses: replicas configured without their
// peers' API addresses forward to the address a cluster add recorded in
// the log, which every replica reads.
func TestClusterRecordedAPIAddresses(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	rs := startReplicaSet(t, c, 3, true)
	l := rs.leader(t, false)
	c.bootstrap(rs.procs[l], 2)
	for _, n := range rs.procs {
		waitReady(t, n, true)
	}
	l = rs.leader(t, true)
	for _, p := range rs.peers {
		if err := retry(t, func() error {
			return c.call(t, rs.procs[l], superuser, api.OpClusterAdd, api.ClusterAddRequest{ID: p.ID, RaftAddress: p.RaftAddr, APIAddress: p.APIAddr}, nil)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := retry(t, func() error {
			return c.call(t, rs.procs[i], superuser, api.OpSecretPut, api.SecretPutRequest{Path: fmt.Sprintf("via/%d", i), Values: map[string]string{"k": "v"}}, nil)
		}); err != nil {
			t.Fatalf("put through replica %d: %v", i+1, err)
		}
	}
}

// TestClusterFollowersUnsealOnBootstrap: followers waiting for a
// bootstrap, their recovery backed off to long waits, recover as soon as
// replication brings them the leader's bootstrap, not at their next
// attempt (here 16 s or more away).
func TestClusterFollowersUnsealOnBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 16 s for the replicas' recovery to back off")
	}
	t.Parallel()
	c := newCluster(t, 3)
	rs := startReplicaSet(t, c, 3, false, time.Minute)
	l := rs.leader(t, false)
	time.Sleep(16 * time.Second) // attempts at 0, 0.5, 1.5, 3.5, 7.5, 15.5 s; the next at 31.5 s
	c.bootstrap(rs.procs[l], 2)
	deadline := time.Now().Add(8 * time.Second)
	for i, n := range rs.procs {
		for {
			code, body := readyz(n)
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d not ready within 8 s of the bootstrap: %q", i+1, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
