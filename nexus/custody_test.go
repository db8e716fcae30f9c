package nexus

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/custody"
	"github.com/spikeledger/spike/nexus/internal/testcluster"
)

// keeperSet is testcluster's keepers and a way to run Nexus.
type keeperSet struct{ *testcluster.Cluster }

func newCluster(t testing.TB, keepers int) *keeperSet { return &keeperSet{testcluster.New(t, keepers)} }

// bootstrap is testcluster's Bootstrap, against n.
func (c *keeperSet) bootstrap(n *nexusProc, threshold int) [32]byte {
	c.T.Helper()
	return c.Bootstrap(n.api, threshold)
}

const td = testcluster.TrustDomain

type nexusProc struct {
	api, ops string
	cancel   context.CancelFunc
	done     chan error
}

func (c *keeperSet) startNexus(threshold int) *nexusProc {
	c.T.Helper()
	return c.startNexusWith(CustodyConfig{Threshold: threshold})
}

func (c *keeperSet) startNexusWith(cc CustodyConfig) *nexusProc {
	c.T.Helper()
	threshold := cc.Threshold
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	n := &nexusProc{cancel: cancel, done: make(chan error, 1)}
	cfg := Config{DataDir: c.Dir, TLSAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", RetentionInterval: 50 * time.Millisecond,
		Custody: CustodyConfig{Keepers: c.Keepers, Shares: len(c.Keepers), Threshold: threshold, KeeperUpdateInterval: time.Hour, RecoveryMaxInterval: 200 * time.Millisecond,
			Rotation: cc.Rotation, RotationInterval: cc.RotationInterval, HealthInterval: cc.HealthInterval},
		Ready: func(a, o string) { ready <- [2]string{a, o} }}
	go func() { n.done <- Run(ctx, cfg, c.Source("/spike/nexus"), c.Roles, c.Logger()) }()
	select {
	case addrs := <-ready:
		n.api, n.ops = "https://"+addrs[0], "http://"+addrs[1]
	case err := <-n.done:
		c.T.Fatalf("nexus did not start: %v", err)
	}
	c.T.Cleanup(func() { n.stop() })
	return n
}

func (n *nexusProc) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

// waitReady polls /readyz until it answers 200, and returns the last
// answer otherwise.
func waitReady(t testing.TB, n *nexusProc, want bool) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(n.ops + "/readyz")
		body := ""
		ready := false
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body, ready = string(b), resp.StatusCode == 200
		}
		if ready == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never became %v; last: %q %v", want, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func status(t testing.TB, c *keeperSet, n *nexusProc) api.BootstrapStatusResponse {
	t.Helper()
	var s api.BootstrapStatusResponse
	if err := c.Client("/spike/bootstrap", c.Roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathBootstrapStatus, Request: struct{}{}, Response: &s}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestBootstrapRestartAndCorruptShard(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 5)
	n := c.startNexus(3)
	if s := status(t, c, n); s.Bootstrapped || !s.Sealed {
		t.Fatalf("fresh status %+v", s)
	}
	// Every other route answers 503 while sealed.
	var se *transport.StatusError
	err := c.Client("/spike/pilot/role/superuser", c.Roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathSecrets, Action: "get", Request: map[string]string{"path": "x"}})
	if !errors.As(err, &se) || se.Status != 503 || se.Code != api.CodeNotReady {
		t.Fatalf("secret get while sealed: %v", err)
	}
	key := c.bootstrap(n, 3)
	waitReady(t, n, true)
	if s := status(t, c, n); !s.Bootstrapped || s.Sealed || s.Shares != 5 || s.Threshold != 3 {
		t.Fatalf("status after bootstrap %+v", s)
	}
	n.stop()

	// Restart: recovery from the keepers, no operator.
	n = c.startNexus(3)
	waitReady(t, n, true)
	n.stop()

	// Keeper 2 now holds a wrong shard: it is left out, recovery works.
	c.Contribute(c.Client("/spike/bootstrap", c.Roles.IsKeeper), c.Keepers[1], [32]byte{1, 2, 3})
	n = c.startNexus(3)
	waitReady(t, n, true)
	n.stop()
	if !strings.Contains(c.Logs.String(), c.Keepers[1]) {
		t.Error("the keeper with a wrong shard was not named in the logs")
	}
	// Three of five down: sealed, and readiness says why.
	c.StopKeeper(1)
	c.StopKeeper(3)
	c.StopKeeper(4)
	n = c.startNexus(3)
	deadline := time.Now().Add(20 * time.Second)
	for why := waitReady(t, n, false); !strings.Contains(why, " of 3 verified shards needed"); why = waitReady(t, n, false) {
		if time.Now().After(deadline) {
			t.Fatalf("readyz while sealed does not say why: %q", why)
		}
	}
	// Shards never appear in logs.
	logs := c.Logs.String()
	if strings.Contains(logs, hex.EncodeToString(key[:])) {
		t.Fatal("root key in logs")
	}
	shares, _, _ := shamir.Split(&key, shamir.Params{Shares: 5, Threshold: 3})
	for _, s := range shares {
		if strings.Contains(logs, hex.EncodeToString(s.Value[:])) || strings.Contains(logs, fmt.Sprint(s.Value[:])) {
			t.Fatalf("shard %d in logs", s.ID)
		}
	}
}

func TestBreakGlassRecoverRestore(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	// The recover role takes every shard.
	var rec api.RecoverResponse
	if err := c.Client("/spike/pilot/role/recover", c.Roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRecover, Request: struct{}{}, Response: &rec}); err != nil {
		t.Fatal(err)
	}
	if len(rec.Shards) != 3 {
		t.Fatalf("recovered %d shards", len(rec.Shards))
	}
	// Restore refuses while unsealed.
	restore := c.Client("/spike/pilot/role/restore", c.Roles.IsNexus)
	var se *transport.StatusError
	s1 := rec.Shards[1]
	if err := restore.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRestore, Request: api.RestoreRequest{ID: 1, Shard: s1}}); !errors.As(err, &se) || se.Status != 409 || se.Code != api.CodeConflict {
		t.Fatalf("restore while unsealed: %v", err)
	}
	n.stop()
	// Every keeper restarts empty.
	c.ReplaceKeepers()
	n = c.startNexus(2)
	waitReady(t, n, false)
	var rr api.RestoreResponse
	for i, id := range []int{3, 1} {
		if err := restore.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRestore, Request: api.RestoreRequest{ID: id, Shard: rec.Shards[id]}, Response: &rr}); err != nil {
			t.Fatal(err)
		}
		if i == 0 && (rr.Restored || rr.Remaining != 1) {
			t.Fatalf("after one shard: %+v", rr)
		}
	}
	if !rr.Restored {
		t.Fatalf("after two shards: %+v", rr)
	}
	waitReady(t, n, true)
	// Nexus re-sent the keepers their shards: a restart recovers alone.
	n.stop()
	n = c.startNexus(2)
	waitReady(t, n, true)
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexusWith(CustodyConfig{Threshold: 2, Rotation: custody.RotationRefresh, RotationInterval: 100 * time.Millisecond})
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	var rec api.RecoverResponse // epoch-0 recovery files, taken early
	if err := c.Client("/spike/pilot/role/recover", c.Roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRecover, Request: struct{}{}, Response: &rec}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.KeeperEpoch(c.Keepers[0]) < 2 || c.KeeperEpoch(c.Keepers[2]) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the keepers never reached epoch 2")
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.stop()
	// Recovery uses whatever epoch the keepers hold.
	n = c.startNexus(2)
	waitReady(t, n, true)
	n.stop()
	// Break glass with files from before the rotations: still valid.
	c.ReplaceKeepers()
	n = c.startNexus(2)
	restore := c.Client("/spike/pilot/role/restore", c.Roles.IsNexus)
	var rr api.RestoreResponse
	for _, id := range []int{1, 2} {
		if err := restore.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRestore, Request: api.RestoreRequest{ID: id, Shard: rec.Shards[id]}, Response: &rr}); err != nil {
			t.Fatal(err)
		}
	}
	if !rr.Restored {
		t.Fatalf("restore with epoch-0 files: %+v", rr)
	}
	waitReady(t, n, true)
}

func TestHealthJobRecordsAnOutageOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexusWith(CustodyConfig{Threshold: 2, HealthInterval: 50 * time.Millisecond})
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	c.StopKeeper(3)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.Logs.String(), "keeper unreachable") {
		if time.Now().After(deadline) {
			t.Fatal("the outage was not noticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // several more probes of the same outage
	n.stop()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	count := 0
	log.ScanBack(ctx, func(r eventlog.Record) bool { count++; return true }, "keeper.unreachable")
	if count != 1 {
		t.Fatalf("%d keeper.unreachable events for one outage, want 1; logs:\n%s", count, c.Logs.String())
	}
}

// TestKeeperIdentityPinnedByPosition: a keeper identity answering at
// another keeper's address is refused, so it cannot collect that shard.
func TestKeeperIdentityPinnedByPosition(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	n.stop()
	impostor := c.StartKeeper(1) // keeper/1's identity at position 3's address
	c.Keepers[2] = impostor
	n = c.startNexus(2)
	waitReady(t, n, true)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.Logs.String(), "shard not delivered") {
		if time.Now().After(deadline) {
			t.Fatal("no refusal of the impostor logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var resp api.ShardGetResponse
	err := c.Client("/spike/nexus", c.Roles.IsKeeper).Do(context.Background(), transport.Call{BaseURL: impostor, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp})
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("the impostor holds a shard (err %v)", err)
	}
}
