package bootstrap

// Bootstrap against SPIKE v0.8's Nexus, which does not know the status
// query. The fake below answers as SPIKE's does (wire reference §3.1 and
// §5.4): its routing is SPIKE's SDK's own (net.RouteFactory, net.NotReady,
// net.Fallback), behind SPIKE's readiness gate, and it rebuilds the root
// key from the keepers' shards once they hold a threshold of them.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/spike-sdk-go/api/entity/v1/reqres"
	sdkurl "github.com/spiffe/spike-sdk-go/api/url"
	sdkerrors "github.com/spiffe/spike-sdk-go/errors"
	"github.com/spiffe/spike-sdk-go/journal"
	sdknet "github.com/spiffe/spike-sdk-go/net"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
)

// spikeNexus is SPIKE v0.8's Nexus with a sqlite backend, as seen on the
// wire by Bootstrap.
type spikeNexus struct {
	w                        *world
	url                      string
	keepers                  []*fakeKeeper
	threshold                int
	statusCalls, verifyCalls atomic.Int64
	mu                       sync.Mutex
	key                      *[shamir.KeySize]byte // nil: sealed
}

// spikeNexus starts the fake; a non-nil key means it holds one already
// (it was bootstrapped before). wrap, if not nil, stands in front of it.
func (w *world) spikeNexus(keepers []*fakeKeeper, threshold int, key *[shamir.KeySize]byte, wrap func(http.Handler) http.Handler) *spikeNexus {
	n := &spikeNexus{w: w, keepers: keepers, threshold: threshold, key: key}
	var h http.Handler = n
	if wrap != nil {
		h = wrap(n)
	}
	n.url = w.serveHTTP(identity.PathNexus, h)
	return n
}

// serveHTTP serves h over mutual TLS as the SVID at path, admitting any
// client, as SPIKE's Nexus does (it authorises per route).
func (w *world) serveHTTP(path string, h http.Handler) string {
	w.t.Helper()
	src := w.source(path)
	srv := &http.Server{Handler: h, TLSConfig: tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeAny()), ReadHeaderTimeout: 10 * time.Second}
	ln := listen(w.t)
	done := make(chan struct{})
	go func() { srv.ServeTLS(ln, "", ""); close(done) }()
	w.t.Cleanup(func() { srv.Close(); <-done })
	return "https://" + ln.Addr().String()
}

func (n *spikeNexus) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == api.PathBootstrapStatus {
		n.statusCalls.Add(1)
	}
	action := sdkurl.APIAction(r.URL.Query().Get(sdkurl.KeyAPIAction))
	h := sdknet.RouteFactory[sdkurl.APIAction](sdkurl.APIURL(r.URL.Path), action, r.Method, n.route)
	h(rw, r, &journal.AuditEntry{})
}

// route is SPIKE's switchyard for the routes Bootstrap may call: the
// readiness gate first (every route but operator recover and restore
// answers 503 state_not_ready while the root key is missing), then
// bootstrap verify, then the fallback (400 api_bad_request) for anything
// it does not know.
func (n *spikeNexus) route(a sdkurl.APIAction, p sdkurl.APIURL) sdknet.Handler {
	emergency := p == sdkurl.NexusOperatorRecover || p == sdkurl.NexusOperatorRestore
	if !emergency && n.rootKey() == nil {
		return sdknet.NotReady
	}
	if a == sdkurl.ActionDefault && p == sdkurl.NexusBootstrapVerify {
		return n.verify
	}
	return sdknet.Fallback
}

// rootKey returns the key, rebuilding it from the keepers' shards once
// they hold a threshold of them: SPIKE's recovery loop polls the keepers
// in the background; asking on each request shows the same to a client.
func (n *spikeNexus) rootKey() *[shamir.KeySize]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.key != nil {
		return n.key
	}
	var shares []shamir.Share
	for i, k := range n.keepers {
		if s := k.get(); s != nil {
			shares = append(shares, shamir.Share{ID: i + 1, Value: *s})
		}
	}
	if len(shares) < n.threshold {
		return nil
	}
	key, err := shamir.Combine(n.threshold, shares)
	if err != nil {
		return nil
	}
	n.key = &key
	return n.key
}

// verify is SPIKE's bootstrap verify route: Bootstrap only; decrypt with
// the root key, answer the SHA-256 of the text; 500 if it does not open.
func (n *spikeNexus) verify(rw http.ResponseWriter, r *http.Request, _ *journal.AuditEntry) *sdkerrors.SDKError {
	n.verifyCalls.Add(1)
	if !n.peerIsBootstrap(r) {
		return sdknet.Fail(reqres.BootstrapVerifyResponse{}.Unauthorized(), rw, http.StatusUnauthorized)
	}
	body, err := io.ReadAll(r.Body)
	var req reqres.BootstrapVerifyRequest
	if err != nil || json.Unmarshal(body, &req) != nil || len(req.Nonce) != api.NonceSize {
		return sdknet.Fail(reqres.BootstrapVerifyResponse{}.BadRequest(), rw, http.StatusBadRequest)
	}
	block, _ := aes.NewCipher(n.rootKey()[:])
	gcm, _ := cipher.NewGCM(block)
	text, err := gcm.Open(nil, req.Nonce, req.Ciphertext, nil)
	if err != nil {
		return sdknet.Fail(reqres.BootstrapVerifyResponse{}.Internal(), rw, http.StatusInternalServerError)
	}
	sum := sha256.Sum256(text)
	return sdknet.Success(reqres.BootstrapVerifyResponse{Hash: hex.EncodeToString(sum[:])}.Success(), rw)
}

func (n *spikeNexus) peerIsBootstrap(r *http.Request) bool {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return false
	}
	id, err := x509svid.IDFromCert(r.TLS.PeerCertificates[0])
	return err == nil && n.w.roles.IsBootstrap(id)
}

// checkSPIKEShards: keeper i holds SPIKE's shard i of the key the fake
// rebuilt.
func checkSPIKEShards(t *testing.T, keepers []*fakeKeeper, n *spikeNexus) {
	t.Helper()
	key := n.rootKey()
	if key == nil {
		t.Fatal("the SPIKE Nexus holds no key")
	}
	want, _, err := shamir.Split(key, shamir.Params{Shares: len(keepers), Threshold: n.threshold})
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keepers {
		if s := k.get(); s == nil || *s != want[i].Value {
			t.Errorf("keeper %d does not hold SPIKE's shard %d of the key Nexus rebuilt", i+1, i+1)
		}
	}
}

// TestBootstrapSPIKENexus: SPIKE v0.8's Nexus waiting for its first
// bootstrap answers the status query 503 state_not_ready; Bootstrap says
// so once, bootstraps it as SPIKE's Bootstrap does, and the Nexus rebuilds
// the key and verifies it.
func TestBootstrapSPIKENexus(t *testing.T) {
	t.Parallel()
	for _, force := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "force"}[force], func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			keepers := w.keepers(3)
			nexus := w.spikeNexus(keepers, 2, nil, nil)
			cfg := testConfig(keepers, nil)
			cfg.NexusURL, cfg.Force = nexus.url, force
			res, err := w.run(cfg)
			if err != nil {
				t.Fatal(err)
			}
			want := Result{Outcome: OutcomeBootstrapped, Keepers: 3, Shares: 3, Threshold: 2}
			if res != want {
				t.Fatalf("result %+v, want %+v", res, want)
			}
			checkSPIKEShards(t, keepers, nexus)
			if n := nexus.statusCalls.Load(); n != 1 {
				t.Errorf("status asked %d times; SPIKE's answer is final", n)
			}
			if nexus.verifyCalls.Load() == 0 {
				t.Error("Nexus was never asked to verify")
			}
			logs := w.logs.String()
			if !strings.Contains(logs, `"level":"WARN"`) || !strings.Contains(logs, "as SPIKE v0.8's Nexus does") ||
				!strings.Contains(logs, "spike operator restore") {
				t.Errorf("no warning saying Nexus is SPIKE v0.8 and what a second bootstrap destroys:\n%s", logs)
			}
			checkLogsClean(t, logs, nexus.rootKey(), keepers)
		})
	}
}

// TestBootstrapSPIKENexusHoldsKey: SPIKE v0.8's Nexus that holds a root
// key lets the status query through to its fallback (400
// api_bad_request): Bootstrap counts it as bootstrapped and changes
// nothing. With --force it shares out a new key, which that Nexus, still
// holding the old one, cannot verify (SPIKE's hazard; a restart would
// load the new one): the run fails once the verification time is up.
func TestBootstrapSPIKENexusHoldsKey(t *testing.T) {
	t.Parallel()
	old := new([shamir.KeySize]byte)
	if _, err := rand.Read(old[:]); err != nil {
		t.Fatal(err)
	}
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		keepers := w.keepers(3)
		nexus := w.spikeNexus(keepers, 2, old, nil)
		cfg := testConfig(keepers, nil)
		cfg.NexusURL = nexus.url
		res, err := w.run(cfg)
		if err != nil || res.Outcome != OutcomeAlreadyBootstrapped || res.String() != "already bootstrapped (Nexus holds a root key): nothing to do" {
			t.Fatalf("%+v (%q), %v", res, res, err)
		}
		for i, k := range keepers {
			if k.calls.Load() != 0 {
				t.Errorf("keeper %d contacted", i+1)
			}
		}
		if nexus.verifyCalls.Load() != 0 || nexus.statusCalls.Load() != 1 {
			t.Errorf("status asked %d times, verify %d", nexus.statusCalls.Load(), nexus.verifyCalls.Load())
		}
		if logs := w.logs.String(); !strings.Contains(logs, "holds a root key already") {
			t.Errorf("no line saying why nothing changed:\n%s", logs)
		}
	})
	t.Run("force", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t)
		keepers := w.keepers(3)
		nexus := w.spikeNexus(keepers, 2, old, nil)
		cfg := testConfig(keepers, nil)
		cfg.NexusURL, cfg.Force, cfg.VerifyTimeout = nexus.url, true, 300*time.Millisecond
		_, err := w.run(cfg)
		if err == nil || !strings.Contains(err.Error(), "did not verify") {
			t.Fatalf("err = %v, want the verification to time out", err)
		}
		for i, k := range keepers {
			if k.get() == nil {
				t.Errorf("keeper %d got no shard", i+1)
			}
		}
		if logs := w.logs.String(); !strings.Contains(logs, "NEW root key") {
			t.Errorf("--force did not say what it destroys:\n%s", logs)
		}
	})
}

// TestBootstrapNotSPIKENexus: answers that are neither spike's Nexus nor
// SPIKE's keep their meaning: a 404 cannot say (only --force goes on),
// and a 503 without SPIKE's exact body (a proxy, an extension Problem) is
// a Nexus not up yet, waited for.
func TestBootstrapNotSPIKENexus(t *testing.T) {
	t.Parallel()
	answer := func(status int, body string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
				if r.URL.Path != api.PathBootstrapStatus {
					next.ServeHTTP(rw, r)
					return
				}
				next.(*spikeNexus).statusCalls.Add(1)
				rw.WriteHeader(status)
				io.WriteString(rw, body)
			})
		}
	}
	for _, tc := range []struct {
		name  string
		wrap  func(http.Handler) http.Handler
		force bool
		want  string // in the error; "" for a bootstrap
	}{
		{"404", answer(http.StatusNotFound, `{"err":"api_not_found"}`), false, "--force"},
		{"404 forced", answer(http.StatusNotFound, `{"err":"api_not_found"}`), true, ""},
		{"400 with a reason", answer(http.StatusBadRequest, `{"err":"api_bad_request","reason":"invalid"}`), false, "--force"},
		{"bare 503", answer(http.StatusServiceUnavailable, ""), false, "did not answer within"},
		{"503 with a reason", answer(http.StatusServiceUnavailable, `{"err":"state_not_ready","message":"starting"}`), false, "did not answer within"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			keepers := w.keepers(3)
			nexus := w.spikeNexus(keepers, 2, nil, tc.wrap)
			cfg := testConfig(keepers, nil)
			cfg.NexusURL, cfg.Force, cfg.NexusWait = nexus.url, tc.force, 200*time.Millisecond
			res, err := w.run(cfg)
			if tc.want == "" {
				if err != nil || res.Outcome != OutcomeBootstrapped || !res.Forced {
					t.Fatalf("%+v, %v", res, err)
				}
				checkSPIKEShards(t, keepers, nexus)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line mentioning %q", err, tc.want)
			}
			for i, k := range keepers {
				if k.calls.Load() != 0 {
					t.Errorf("keeper %d contacted", i+1)
				}
			}
			if strings.HasPrefix(tc.name, "404") || strings.HasPrefix(tc.name, "400") {
				return
			}
			if n := nexus.statusCalls.Load(); n < 2 {
				t.Errorf("status asked %d times; a 503 that is not SPIKE's is waited for", n)
			}
		})
	}
}
