package bootstrap

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// td is SPIKE's default trust root, so identity.DefaultRoles applies.
var td = spiffeid.RequireTrustDomainFromString(identity.DefaultTrustRoot)

func id(path string) spiffeid.ID { return spiffeid.RequireFromPath(td, path) }

// world is one test's CA, roles and captured logs.
type world struct {
	t     *testing.T
	ca    *identity.DevCA
	roles *identity.Roles
	logs  *logBuffer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ca: ca, roles: identity.DefaultRoles(), logs: &logBuffer{}}
}

func (w *world) source(path string) *identity.StaticSource {
	w.t.Helper()
	svid, err := w.ca.Issue(id(path), time.Hour)
	if err != nil {
		w.t.Fatal(err)
	}
	return identity.NewStaticSource(svid, w.ca.Bundle())
}

// logger captures everything Run logs, at every level.
func (w *world) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// serve runs routes as the SVID at path on ln, admitting callers that
// hold one of the roles.
func (w *world) serve(path string, ln net.Listener, admit []func(spiffeid.ID) bool, routes []transport.Route) string {
	w.t.Helper()
	src := w.source(path)
	srv, err := transport.NewServer(transport.ServerOptions{
		SVID: src, Bundle: src, Authorizer: identity.AuthorizeRoles(admit...),
		Logger: slog.New(slog.DiscardHandler),
	}, routes)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	w.t.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String()
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// fakeKeeper holds one shard in memory, as SPIKE's Keeper does.
type fakeKeeper struct {
	url   string
	calls atomic.Int64
	mu    sync.Mutex
	shard *api.Shard
}

func (w *world) keeper(n int) *fakeKeeper {
	return w.keeperAs(identity.PathKeeper + "/" + strconv.Itoa(n))
}

// keeperAs is a fake keeper serving as the SPIFFE ID at path.
func (w *world) keeperAs(path string) *fakeKeeper {
	k := &fakeKeeper{}
	contribute := func(_ context.Context, r *transport.Request) transport.Response {
		k.calls.Add(1)
		req, err := api.DecodeRequest[api.ShardContributeRequest](bytes.NewReader(r.Body), 0)
		if err != nil {
			return transport.Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}
		}
		k.mu.Lock()
		k.shard = req.Shard
		k.mu.Unlock()
		return transport.Response{Body: api.ShardContributeResponse{}}
	}
	admit := []func(spiffeid.ID) bool{w.roles.IsNexus, w.roles.IsBootstrap}
	k.url = w.serve(path, listen(w.t), admit, []transport.Route{
		{Path: api.PathKeeperContribute, Handler: contribute},
	})
	return k
}

func (k *fakeKeeper) get() *api.Shard {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.shard
}

// fakeNexus answers status and verify like spike's Nexus (spikeNexus in
// spike_test.go is SPIKE v0.8's): it rebuilds the
// key from the fake keepers' shards (shamir.Combine) and answers verify
// with the SHA-256 of the decrypted text, as SPIKE's Nexus does.
type fakeNexus struct {
	url                       string
	keepers                   []*fakeKeeper
	shares, threshold         int
	lie                       bool // answer verify with a wrong hash
	statusCalls, verifyCalls  atomic.Int64
	mu                        sync.Mutex
	bootstrapped              bool
	key                       *[shamir.KeySize]byte
	commitment                shamir.Commitment
	gotShares, gotThreshold   int
	open                      chan struct{} // closed: connections are served
	knocked                   chan struct{} // a connection came while not open
	closedOnce, knockedSignal sync.Once
}

type nexusOpts struct {
	bootstrapped bool
	lie          bool
	late         bool // refuse connections until open is closed
	path         string
}

func (w *world) nexus(keepers []*fakeKeeper, threshold int, o nexusOpts) *fakeNexus {
	n := &fakeNexus{keepers: keepers, shares: len(keepers), threshold: threshold, lie: o.lie, bootstrapped: o.bootstrapped,
		open: make(chan struct{}), knocked: make(chan struct{})}
	if !o.late {
		close(n.open)
	}
	allow := func(p spiffeid.ID) bool { return w.roles.IsBootstrap(p) || w.roles.IsPilotSuperuser(p) }
	routes := []transport.Route{
		{Path: api.PathBootstrapVerify, Allow: w.roles.IsBootstrap, Handler: n.verify},
		{Path: api.PathBootstrapStatus, Allow: allow, Handler: n.status},
	}
	if o.path == "" {
		o.path = identity.PathNexus
	}
	admit := []func(spiffeid.ID) bool{func(spiffeid.ID) bool { return true }}
	n.url = w.serve(o.path, &gate{Listener: listen(w.t), n: n}, admit, routes)
	return n
}

func (n *fakeNexus) status(context.Context, *transport.Request) transport.Response {
	n.statusCalls.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	return transport.Response{Body: api.BootstrapStatusResponse{
		Bootstrapped: n.bootstrapped, Sealed: n.key == nil, Shares: n.shares, Threshold: n.threshold,
	}}
}

func (n *fakeNexus) verify(_ context.Context, r *transport.Request) transport.Response {
	n.verifyCalls.Add(1)
	req, err := api.DecodeRequest[api.BootstrapVerifyRequest](bytes.NewReader(r.Body), 0)
	if err != nil {
		return transport.Response{Status: http.StatusBadRequest, Body: api.ErrorResponseFor(api.OpBootstrapVerify, api.CodeBadRequest)}
	}
	key, ok := n.recover()
	if !ok {
		return transport.Response{Status: http.StatusServiceUnavailable, Body: api.ErrorResponseFor(api.OpBootstrapVerify, api.CodeNotReady)}
	}
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	text, err := gcm.Open(nil, req.Nonce, req.Ciphertext, nil)
	if err != nil {
		return transport.Response{Status: http.StatusInternalServerError, Body: api.ErrorResponseFor(api.OpBootstrapVerify, api.CodeInternal)}
	}
	if n.lie {
		text = append(text, '!')
	}
	sum := sha256.Sum256(text)
	n.mu.Lock()
	n.bootstrapped, n.key, n.commitment = true, key, req.Commitment
	n.gotShares, n.gotThreshold = req.Shares, req.Threshold
	n.mu.Unlock()
	return transport.Response{Body: api.BootstrapVerifyResponse{Hash: hex.EncodeToString(sum[:])}}
}

// recover rebuilds the key from the keepers' shards, once it has the
// threshold.
func (n *fakeNexus) recover() (*[shamir.KeySize]byte, bool) {
	var shares []shamir.Share
	for i, k := range n.keepers {
		if s := k.get(); s != nil {
			shares = append(shares, shamir.Share{ID: i + 1, Value: *s})
		}
	}
	if len(shares) < n.threshold {
		return nil, false
	}
	key, err := shamir.Combine(n.threshold, shares)
	if err != nil {
		return nil, false
	}
	return &key, true
}

func (n *fakeNexus) heldKey() *[shamir.KeySize]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.key
}

// recorded returns the sharing the verify request carried.
func (n *fakeNexus) recorded() (shamir.Commitment, int, int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.commitment, n.gotShares, n.gotThreshold
}

// gate is a listener that, until n.open is closed, closes every
// connection it accepts (a server not up yet), signalling n.knocked.
type gate struct {
	net.Listener
	n *fakeNexus
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case <-g.n.open:
			return c, nil
		default:
			c.Close()
			g.n.knockedSignal.Do(func() { close(g.n.knocked) })
		}
	}
}

// deadKeeper is a keeper that is down: it accepts connections and drops
// them at once, counting them.
func deadKeeper(t *testing.T) (string, *atomic.Int64) {
	ln := listen(t)
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return "https://" + ln.Addr().String(), &n
}

// testConfig is a configuration with small, fast retry settings; with a
// nil nexus, NexusURL is left for the caller.
func testConfig(keepers []*fakeKeeper, nexus *fakeNexus) Config {
	c := Config{
		NexusWait:        20 * time.Second,
		KeeperMaxRetries: 3, KeeperTimeout: 10 * time.Second,
		KeeperRetryInitial: time.Millisecond, KeeperRetryMax: 5 * time.Millisecond,
		VerifyTimeout: 20 * time.Second, PollInitial: 5 * time.Millisecond, PollMax: 50 * time.Millisecond,
	}
	if nexus != nil {
		c.NexusURL = nexus.url
	}
	for _, k := range keepers {
		c.Keepers = append(c.Keepers, k.url)
	}
	return c
}

func (w *world) run(cfg Config) (Result, error) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Run(ctx, cfg, w.source(identity.PathBootstrap), w.roles, w.logger())
}

func (w *world) keepers(n int) []*fakeKeeper {
	ks := make([]*fakeKeeper, n)
	for i := range ks {
		ks[i] = w.keeper(i + 1)
	}
	return ks
}

func TestBootstrapHappyPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ shares, threshold int }{{3, 2}, {5, 3}, {1, 1}} {
		t.Run(fmt.Sprintf("%d of %d", tc.threshold, tc.shares), func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			keepers := w.keepers(tc.shares)
			nexus := w.nexus(keepers, tc.threshold, nexusOpts{})
			res, err := w.run(testConfig(keepers, nexus))
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Outcome: OutcomeBootstrapped, Keepers: tc.shares, Shares: tc.shares, Threshold: tc.threshold}
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			if got := res.String(); got != fmt.Sprintf("bootstrap complete: %d keepers, threshold %d, Nexus verified", tc.shares, tc.threshold) {
				t.Errorf("line %q", got)
			}
			checkShards(t, keepers, nexus, tc.threshold)
			checkLogsClean(t, w.logs.String(), nexus.heldKey(), keepers)
		})
	}
}

// checkShards: keeper i holds SPIKE's shard i of the key Nexus rebuilt,
// every threshold subset rebuilds that key, and the commitment Nexus
// recorded vouches for every shard.
func checkShards(t *testing.T, keepers []*fakeKeeper, nexus *fakeNexus, threshold int) {
	t.Helper()
	key := nexus.heldKey()
	if key == nil {
		t.Fatal("Nexus holds no key")
	}
	com, gotShares, gotThreshold := nexus.recorded()
	want, _, err := shamir.Split(key, shamir.Params{Shares: len(keepers), Threshold: threshold})
	if err != nil {
		t.Fatal(err)
	}
	shares := make([]shamir.Share, len(keepers))
	for i, k := range keepers {
		s := k.get()
		if s == nil || k.calls.Load() != 1 {
			t.Fatalf("keeper %d: shard %v after %d calls", i+1, s != nil, k.calls.Load())
		}
		shares[i] = shamir.Share{ID: i + 1, Value: *s}
		if shares[i] != want[i] {
			t.Errorf("keeper %d holds another shard than SPIKE's shard %d", i+1, i+1)
		}
		if !shamir.Verify(shares[i], com) {
			t.Errorf("commitment does not vouch for keeper %d's shard", i+1)
		}
	}
	for _, subset := range subsets(len(keepers), threshold) {
		picked := make([]shamir.Share, 0, threshold)
		for _, i := range subset {
			picked = append(picked, shares[i])
		}
		got, err := shamir.Combine(threshold, picked)
		if err != nil || got != *key {
			t.Errorf("shards %v do not rebuild Nexus's key: %v", subset, err)
		}
	}
	if gotShares != len(keepers) || gotThreshold != threshold || len(com) != threshold {
		t.Errorf("Nexus recorded %d shares, threshold %d, %d commitment points", gotShares, gotThreshold, len(com))
	}
}

// subsets returns every k-subset of 0..n-1.
func subsets(n, k int) [][]int {
	if k == 0 {
		return [][]int{{}}
	}
	var out [][]int
	for first := 0; first <= n-k; first++ {
		for _, rest := range subsets(n-first-1, k-1) {
			s := []int{first}
			for _, r := range rest {
				s = append(s, first+1+r)
			}
			out = append(out, s)
		}
	}
	return out
}

// checkLogsClean: neither the key nor any shard appears in the logs, in
// any common encoding.
func checkLogsClean(t *testing.T, logs string, key *[shamir.KeySize]byte, keepers []*fakeKeeper) {
	t.Helper()
	if logs == "" {
		t.Fatal("nothing was logged")
	}
	secrets := map[string][]byte{"key": key[:]}
	for i, k := range keepers {
		secrets["shard "+strconv.Itoa(i+1)] = k.get()[:]
	}
	for name, b := range secrets {
		for form, s := range encodings(b) {
			if strings.Contains(logs, s) {
				t.Errorf("logs hold the %s in %s", name, form)
			}
		}
	}
}

func encodings(b []byte) map[string]string {
	dec := make([]string, len(b))
	for i, x := range b {
		dec[i] = strconv.Itoa(int(x))
	}
	return map[string]string{
		"hex":          hex.EncodeToString(b),
		"HEX":          strings.ToUpper(hex.EncodeToString(b)),
		"base64":       base64.StdEncoding.EncodeToString(b),
		"raw base64":   base64.RawStdEncoding.EncodeToString(b),
		"url base64":   base64.RawURLEncoding.EncodeToString(b),
		"JSON decimal": strings.Join(dec, ","),
		"Go decimal":   strings.Join(dec, " "),
		"raw":          string(b),
	}
}

// TestBootstrapKeeperIdentities: keepers registered the ways SPIKE
// registers them get their shards; a numbered keeper answering at
// another position is refused before it gets one.
func TestBootstrapKeeperIdentities(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		paths   []string // keeper i's SPIFFE ID path
		refused int      // the position refused, or 0
	}{
		{"numbered", []string{"/spike/keeper/1", "/spike/keeper/2", "/spike/keeper/3"}, 0},
		{"instance suffixes", []string{"/spike/keeper/1/instance-0", "/spike/keeper/2/instance-0", "/spike/keeper/3/a/b"}, 0},
		{"one bare identity", []string{"/spike/keeper", "/spike/keeper", "/spike/keeper"}, 0},
		{"pod names", []string{"/spike/keeper/spike-keeper-0", "/spike/keeper/spike-keeper-1", "/spike/keeper/spike-keeper-2"}, 0},
		{"numbers swapped", []string{"/spike/keeper/1", "/spike/keeper/3/instance-0", "/spike/keeper/2"}, 2},
		{"not a keeper", []string{"/spike/keeper/1", "/spike/keeper/2", "/spike/keeper-3"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			var keepers []*fakeKeeper
			for _, p := range tc.paths {
				keepers = append(keepers, w.keeperAs(p))
			}
			nexus := w.nexus(keepers, 2, nexusOpts{})
			cfg := testConfig(keepers, nexus)
			res, err := w.run(cfg)
			if tc.refused == 0 {
				if err != nil || res.Outcome != OutcomeBootstrapped {
					t.Fatalf("%+v, %v", res, err)
				}
				checkShards(t, keepers, nexus, 2)
				return
			}
			var ke *KeeperError
			if !errors.As(err, &ke) || ke.Shard != tc.refused || !errors.Is(err, identity.ErrUnauthorized) {
				t.Fatalf("err = %v, want keeper %d refused at the handshake", err, tc.refused)
			}
			if s := keepers[tc.refused-1].get(); s != nil {
				t.Errorf("the refused keeper got a shard")
			}
		})
	}
}

func TestBootstrapAlreadyBootstrapped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keepers := w.keepers(3)
	nexus := w.nexus(keepers, 2, nexusOpts{bootstrapped: true})
	res, err := w.run(testConfig(keepers, nexus))
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeAlreadyBootstrapped || res.String() != "already bootstrapped (3 shares, threshold 2): nothing to do" {
		t.Errorf("result %+v: %q", res, res)
	}
	for i, k := range keepers {
		if k.calls.Load() != 0 {
			t.Errorf("keeper %d contacted", i+1)
		}
	}
	if nexus.verifyCalls.Load() != 0 {
		t.Error("Nexus asked to verify")
	}
}

func TestBootstrapForce(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keepers := w.keepers(3)
	nexus := w.nexus(keepers, 2, nexusOpts{bootstrapped: true})
	cfg := testConfig(keepers, nexus)
	cfg.Force = true
	res, err := w.run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeBootstrapped || !res.Forced {
		t.Errorf("result %+v", res)
	}
	checkShards(t, keepers, nexus, 2)
	logs := w.logs.String()
	if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "NEW root key") || !strings.Contains(logs, "unreadable") {
		t.Errorf("--force did not say what it destroys:\n%s", logs)
	}
	checkLogsClean(t, logs, nexus.heldKey(), keepers)
}

func TestBootstrapKeeperDown(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keepers := w.keepers(3)
	nexus := w.nexus(keepers, 2, nexusOpts{})
	cfg := testConfig(keepers, nexus)
	down, attempts := deadKeeper(t)
	cfg.Keepers[1] = down
	_, err := w.run(cfg)
	var ke *KeeperError
	if !errors.As(err, &ke) {
		t.Fatalf("err = %v, want a KeeperError", err)
	}
	if ke.URL != down || ke.Shard != 2 || ke.Attempts != cfg.KeeperMaxRetries || attempts.Load() != int64(cfg.KeeperMaxRetries) {
		t.Errorf("KeeperError %+v after %d connections; want %s, shard 2, %d attempts", ke, attempts.Load(), down, cfg.KeeperMaxRetries)
	}
	if msg := err.Error(); !strings.Contains(msg, down) || strings.Contains(msg, "\n") {
		t.Errorf("error %q: want one line naming %s", msg, down)
	}
	if nexus.verifyCalls.Load() != 0 {
		t.Error("verification attempted although a keeper failed")
	}
}

func TestBootstrapWaitsForNexus(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keepers := w.keepers(3)
	nexus := w.nexus(keepers, 2, nexusOpts{late: true})
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := w.run(testConfig(keepers, nexus))
		done <- outcome{res, err}
	}()
	<-nexus.knocked // Bootstrap tried, and Nexus was not there
	for i, k := range keepers {
		if k.calls.Load() != 0 {
			t.Errorf("keeper %d contacted before Nexus answered", i+1)
		}
	}
	close(nexus.open)
	got := <-done
	if got.err != nil || got.res.Outcome != OutcomeBootstrapped {
		t.Fatalf("%+v, %v", got.res, got.err)
	}
	checkShards(t, keepers, nexus, 2)
}

func TestBootstrapNexusWaitBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keepers := w.keepers(3)
	nexus := w.nexus(keepers, 2, nexusOpts{late: true})
	cfg := testConfig(keepers, nexus)
	cfg.NexusWait = 100 * time.Millisecond
	_, err := w.run(cfg)
	if err == nil || !strings.Contains(err.Error(), "did not answer within") || !strings.Contains(err.Error(), nexus.url) {
		t.Fatalf("err = %v", err)
	}
	for i, k := range keepers {
		if k.calls.Load() != 0 {
			t.Errorf("keeper %d contacted", i+1)
		}
	}
}

func TestBootstrapVerifyMismatch(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	keepers := w.keepers(3)
	nexus := w.nexus(keepers, 2, nexusOpts{lie: true})
	_, err := w.run(testConfig(keepers, nexus))
	if !errors.Is(err, ErrVerifyMismatch) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v, want a one-line ErrVerifyMismatch", err)
	}
	if n := nexus.verifyCalls.Load(); n != 1 {
		t.Errorf("verify called %d times; a mismatch is final", n)
	}
}

// TestBootstrapRefusals: cases where Bootstrap stops before any keeper
// gets a shard.
func TestBootstrapRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		opts      nexusOpts
		threshold int // Nexus's
		self      string
		want      string
	}{
		{"sharing mismatch", nexusOpts{}, 3, identity.PathBootstrap, "expects 3 shares with threshold 3"},
		{"not Nexus", nexusOpts{path: identity.PathKeeper + "/9"}, 2, identity.PathBootstrap, "not SPIKE Nexus"},
		{"not Bootstrap", nexusOpts{}, 2, identity.PathPilotSuperuser, "is not SPIKE Bootstrap's"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			keepers := w.keepers(3)
			nexus := w.nexus(keepers, tc.threshold, tc.opts)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := Run(ctx, testConfig(keepers, nexus), w.source(tc.self), w.roles, w.logger())
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line mentioning %q", err, tc.want)
			}
			for i, k := range keepers {
				if k.calls.Load() != 0 {
					t.Errorf("keeper %d contacted", i+1)
				}
			}
		})
	}
}

func TestRunSkipsMemoryStore(t *testing.T) {
	t.Parallel()
	res, err := Run(context.Background(), Config{BackendStore: "memory"}, nil, nil, nil)
	if err != nil || res.Outcome != OutcomeSkipped || !strings.Contains(res.String(), "nothing to do") {
		t.Fatalf("%+v (%q), %v", res, res, err)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	_, err := Run(context.Background(), Config{Keepers: []string{"http://k:1"}}, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("err = %v", err)
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name     string
		attempts int
		failures int // try fails this many times, then succeeds
		perm     bool
		wantN    int
		wantErr  bool
	}{
		{"first time", 3, 0, false, 1, false},
		{"after two failures", 3, 2, false, 3, false},
		{"out of attempts", 3, 5, false, 3, true},
		{"permanent", 3, 5, true, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			n, err := retry(context.Background(), backoff{initial: time.Microsecond, max: time.Microsecond, attempts: tc.attempts}, nil,
				func(context.Context) error {
					calls++
					switch {
					case calls > tc.failures:
						return nil
					case tc.perm:
						return permanent(boom)
					}
					return boom
				})
			if n != tc.wantN || calls != n || (err != nil) != tc.wantErr {
				t.Errorf("n=%d calls=%d err=%v", n, calls, err)
			}
			var pe permanentError
			if errors.As(err, &pe) {
				t.Error("the permanent mark leaked out")
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := retry(ctx, backoff{initial: time.Hour, max: time.Hour}, nil, func(context.Context) error { return boom }); n != 1 || err != boom {
		t.Errorf("cancelled: n=%d err=%v", n, err)
	}
}

// logBuffer collects log output across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
