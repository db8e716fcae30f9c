package nexus

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/keeper"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

const td = "spike.test"

// cluster is a development CA, keepers and a way to run Nexus.
type cluster struct {
	t       testing.TB
	ca      *identity.DevCA
	roles   *identity.Roles
	dir     string
	keepers []string
	stopK   []context.CancelFunc
	logs    *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func newCluster(t testing.TB, keepers int) *cluster {
	t.Helper()
	ca, err := identity.NewDevCA(spiffeid.RequireTrustDomainFromString(td), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := identity.NewRoles(func(k string) (string, bool) {
		if k == "SPIKE_TRUST_ROOT" {
			return td, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, ca: ca, roles: roles, dir: t.TempDir(), logs: &syncBuffer{}}
	for i := range keepers {
		c.keepers = append(c.keepers, c.startKeeper(i+1))
	}
	return c
}

func (c *cluster) logger() *slog.Logger { return slog.New(slog.NewTextHandler(c.logs, nil)) }

func (c *cluster) source(path string) *identity.StaticSource {
	c.t.Helper()
	svid, err := c.ca.Issue(spiffeid.RequireFromPath(c.ca.TrustDomain(), path), time.Hour)
	if err != nil {
		c.t.Fatal(err)
	}
	return identity.NewStaticSource(svid, c.ca.Bundle())
}

func (c *cluster) startKeeper(id int) string {
	c.t.Helper()
	k, err := keeper.New(c.source(fmt.Sprintf("/spike/keeper/%d", id)), c.roles, c.logger())
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Serve(ctx, ln, nil); close(done) }()
	c.stopK = append(c.stopK, func() { cancel(); <-done })
	c.t.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String()
}

// stopKeeper stops keeper i (1-based); its shard is gone with it.
func (c *cluster) stopKeeper(i int) { c.stopK[i-1]() }

type nexusProc struct {
	api, ops string
	cancel   context.CancelFunc
	done     chan error
}

func (c *cluster) startNexus(threshold int) *nexusProc {
	c.t.Helper()
	return c.startNexusWith(CustodyConfig{Threshold: threshold})
}

func (c *cluster) startNexusWith(cc CustodyConfig) *nexusProc {
	c.t.Helper()
	threshold := cc.Threshold
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	n := &nexusProc{cancel: cancel, done: make(chan error, 1)}
	cfg := Config{DataDir: c.dir, TLSAddr: "127.0.0.1:0", OpsAddr: "127.0.0.1:0", RetentionInterval: 50 * time.Millisecond,
		Custody: CustodyConfig{Keepers: c.keepers, Shares: len(c.keepers), Threshold: threshold, KeeperUpdateInterval: time.Hour, RecoveryMaxInterval: 200 * time.Millisecond,
			Rotation: cc.Rotation, RotationInterval: cc.RotationInterval, HealthInterval: cc.HealthInterval},
		Ready: func(a, o string) { ready <- [2]string{a, o} }}
	go func() { n.done <- Run(ctx, cfg, c.source("/spike/nexus"), c.roles, c.logger()) }()
	select {
	case addrs := <-ready:
		n.api, n.ops = "https://"+addrs[0], "http://"+addrs[1]
	case err := <-n.done:
		c.t.Fatalf("nexus did not start: %v", err)
	}
	c.t.Cleanup(func() { n.stop() })
	return n
}

func (n *nexusProc) stop() {
	if n.cancel != nil {
		n.cancel()
		<-n.done
		n.cancel = nil
	}
}

func (c *cluster) client(path string, pin func(spiffeid.ID) bool) *transport.Client {
	src := c.source(path)
	cl, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(pin), Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// bootstrap does what spike-bootstrap does: a random root key, one shard
// per keeper, then the verification exchange with Nexus.
func (c *cluster) bootstrap(n *nexusProc, threshold int) [32]byte {
	c.t.Helper()
	var key [32]byte
	rand.Read(key[:])
	shares, _, err := shamir.Split(&key, shamir.Params{Shares: len(c.keepers), Threshold: threshold})
	if err != nil {
		c.t.Fatal(err)
	}
	kc := c.client("/spike/bootstrap", c.roles.IsKeeper)
	for i, url := range c.keepers {
		c.contribute(kc, url, shares[i].Value)
	}
	plain := []byte(hex.EncodeToString(key[:4]) + "-verify")
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	req := api.BootstrapVerifyRequest{Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, plain, nil)}
	var resp api.BootstrapVerifyResponse
	nc := c.client("/spike/bootstrap", c.roles.IsNexus)
	if err := nc.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathBootstrapVerify, Request: req, Response: &resp}); err != nil {
		c.t.Fatalf("verify: %v", err)
	}
	sum := sha256.Sum256(plain)
	if resp.Hash != hex.EncodeToString(sum[:]) {
		c.t.Fatalf("verify hash %s, want %x", resp.Hash, sum)
	}
	return key
}

func (c *cluster) contribute(kc *transport.Client, url string, v [32]byte) {
	c.t.Helper()
	s := api.Shard(v)
	if err := kc.Do(context.Background(), transport.Call{BaseURL: url, Path: api.PathKeeperContribute, Request: api.ShardContributeRequest{Shard: &s}}); err != nil {
		c.t.Fatalf("contribute to %s: %v", url, err)
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

func status(t testing.TB, c *cluster, n *nexusProc) api.BootstrapStatusResponse {
	t.Helper()
	var s api.BootstrapStatusResponse
	if err := c.client("/spike/bootstrap", c.roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathBootstrapStatus, Request: struct{}{}, Response: &s}); err != nil {
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
	err := c.client("/spike/pilot/role/superuser", c.roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathSecrets, Action: "get", Request: map[string]string{"path": "x"}})
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
	c.contribute(c.client("/spike/bootstrap", c.roles.IsKeeper), c.keepers[1], [32]byte{1, 2, 3})
	n = c.startNexus(3)
	waitReady(t, n, true)
	n.stop()
	if !strings.Contains(c.logs.String(), c.keepers[1]) {
		t.Error("the keeper with a wrong shard was not named in the logs")
	}
	// Three of five down: sealed, and readiness says why.
	c.stopKeeper(1)
	c.stopKeeper(3)
	c.stopKeeper(4)
	n = c.startNexus(3)
	deadline := time.Now().Add(20 * time.Second)
	for why := waitReady(t, n, false); !strings.Contains(why, " of 3 verified shards needed"); why = waitReady(t, n, false) {
		if time.Now().After(deadline) {
			t.Fatalf("readyz while sealed does not say why: %q", why)
		}
	}
	// Shards never appear in logs.
	logs := c.logs.String()
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
	if err := c.client("/spike/pilot/role/recover", c.roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRecover, Request: struct{}{}, Response: &rec}); err != nil {
		t.Fatal(err)
	}
	if len(rec.Shards) != 3 {
		t.Fatalf("recovered %d shards", len(rec.Shards))
	}
	// Restore refuses while unsealed.
	restore := c.client("/spike/pilot/role/restore", c.roles.IsNexus)
	var se *transport.StatusError
	s1 := rec.Shards[1]
	if err := restore.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRestore, Request: api.RestoreRequest{ID: 1, Shard: s1}}); !errors.As(err, &se) || se.Status != 409 || se.Code != api.CodeConflict {
		t.Fatalf("restore while unsealed: %v", err)
	}
	n.stop()
	// Every keeper restarts empty.
	for i := 1; i <= 3; i++ {
		c.stopKeeper(i)
	}
	c.keepers = nil
	c.stopK = nil
	for i := 1; i <= 3; i++ {
		c.keepers = append(c.keepers, c.startKeeper(i))
	}
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

// keeperEpoch asks keeper url (as Nexus) which epoch its shard is of.
func (c *cluster) keeperEpoch(url string) uint64 {
	c.t.Helper()
	var resp api.ShardGetResponse
	if err := c.client("/spike/nexus", c.roles.IsKeeper).Do(context.Background(), transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp}); err != nil {
		c.t.Fatal(err)
	}
	return resp.Epoch
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexusWith(CustodyConfig{Threshold: 2, Rotation: RotationRefresh, RotationInterval: 100 * time.Millisecond})
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	var rec api.RecoverResponse // epoch-0 recovery files, taken early
	if err := c.client("/spike/pilot/role/recover", c.roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathOperatorRecover, Request: struct{}{}, Response: &rec}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for c.keeperEpoch(c.keepers[0]) < 2 || c.keeperEpoch(c.keepers[2]) < 2 {
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
	for i := 1; i <= 3; i++ {
		c.stopKeeper(i)
	}
	c.keepers, c.stopK = nil, nil
	for i := 1; i <= 3; i++ {
		c.keepers = append(c.keepers, c.startKeeper(i))
	}
	n = c.startNexus(2)
	restore := c.client("/spike/pilot/role/restore", c.roles.IsNexus)
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

func TestFailedRotationKeepsThePreviousEpoch(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	n.stop()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.dir, "events.db"), eventlog.Options{Logger: c.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	src := c.source("/spike/nexus")
	kc, _ := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(c.roles.IsKeeper), Retries: -1, Timeout: 2 * time.Second})
	cu, err := NewCustody(CustodyConfig{Keepers: c.keepers, Shares: 3, Threshold: 2, Self: "spiffe://spike.test/spike/nexus"}, log, commit.NewLocal(log), kc, c.logger(), func(context.Context, []byte) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	defer cu.Close()
	if err := cu.recoverOnce(ctx); err != nil {
		t.Fatal(err)
	}
	c.stopKeeper(2)
	c.stopKeeper(3)
	if err := cu.Rotate(ctx); err == nil {
		t.Fatal("a rotation that reached one keeper of three counted")
	}
	if cu.currentEpoch() != 0 || c.keeperEpoch(c.keepers[0]) != 0 {
		t.Fatalf("epoch now %d, keeper 1 at %d; want the previous epoch 0 in force", cu.currentEpoch(), c.keeperEpoch(c.keepers[0]))
	}
}

func TestHealthJobRecordsAnOutageOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexusWith(CustodyConfig{Threshold: 2, HealthInterval: 50 * time.Millisecond})
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	c.stopKeeper(3)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.logs.String(), "keeper unreachable") {
		if time.Now().After(deadline) {
			t.Fatal("the outage was not noticed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // several more probes of the same outage
	n.stop()
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.dir, "events.db"), eventlog.Options{Logger: c.logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	count := 0
	log.ScanBack(ctx, func(r eventlog.Record) bool { count++; return true }, "keeper.unreachable")
	if count != 1 {
		t.Fatalf("%d keeper.unreachable events for one outage, want 1; logs:\n%s", count, c.logs.String())
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
	impostor := c.startKeeper(1) // keeper/1's identity at position 3's address
	c.keepers[2] = impostor
	n = c.startNexus(2)
	waitReady(t, n, true)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(c.logs.String(), "shard not delivered") {
		if time.Now().After(deadline) {
			t.Fatal("no refusal of the impostor logged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var resp api.ShardGetResponse
	err := c.client("/spike/nexus", c.roles.IsKeeper).Do(context.Background(), transport.Call{BaseURL: impostor, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp})
	var se *transport.StatusError
	if !errors.As(err, &se) || se.Status != 400 {
		t.Fatalf("the impostor holds a shard (err %v)", err)
	}
}
