package keeper_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/keeper"
)

var (
	td          = spiffeid.RequireTrustDomainFromString("spike.test")
	keeperID    = spiffeid.RequireFromPath(td, "/spike/keeper/1")
	nexusID     = spiffeid.RequireFromPath(td, "/spike/nexus")
	bootstrapID = spiffeid.RequireFromPath(td, "/spike/bootstrap")
	pilotID     = spiffeid.RequireFromPath(td, "/spike/pilot/role/superuser")
	workloadID  = spiffeid.RequireFromPath(td, "/workload/app")
	otherKeeper = spiffeid.RequireFromPath(td, "/spike/keeper/2")
)

// roles places every role in the test trust domain.
func roles(t *testing.T) *identity.Roles {
	t.Helper()
	r, err := identity.NewRoles(func(k string) (string, bool) {
		if k == identity.EnvTrustRoot {
			return td.Name(), true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// logBuffer collects log output safely across goroutines.
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

// env is a running keeper and the CA its callers' SVIDs come from.
type env struct {
	t      *testing.T
	ca     *identity.DevCA
	url    string // https://host:port of the API
	ops    string // http://host:port of the operations listener
	k      *keeper.Keeper
	log    *logBuffer
	cancel context.CancelFunc
	done   chan error
}

func (e *env) source(id spiffeid.ID) *identity.StaticSource {
	e.t.Helper()
	svid, err := e.ca.Issue(id, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return identity.NewStaticSource(svid, e.ca.Bundle())
}

// start runs a keeper on loopback ports with debug logging into a buffer.
func start(t *testing.T) *env {
	t.Helper()
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ca: ca, log: &logBuffer{}, done: make(chan error, 1)}
	logger := slog.New(slog.NewJSONHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	k, err := keeper.New(e.source(keeperID), roles(t), logger)
	if err != nil {
		t.Fatal(err)
	}
	e.k = k
	tlsLn, opsLn := listen(t), listen(t)
	e.url, e.ops = "https://"+tlsLn.Addr().String(), "http://"+opsLn.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- k.Serve(ctx, tlsLn, opsLn) }()
	t.Cleanup(func() { e.stop() })
	return e
}

// stop stops the keeper and fails the test if Serve failed.
func (e *env) stop() {
	e.t.Helper()
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	if err := <-e.done; err != nil {
		e.t.Errorf("Serve: %v", err)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// client returns a spike client for id that insists on talking to the
// keeper.
func (e *env) client(id spiffeid.ID) *transport.Client {
	e.t.Helper()
	src := e.source(id)
	c, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(keeperID),
		Timeout: 10 * time.Second, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

// raw posts body as id and returns the status and the body of the answer.
func (e *env) raw(id spiffeid.ID, path, body string) (int, string) {
	e.t.Helper()
	src := e.source(id)
	tr := &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(keeperID))}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Post(e.url+path, api.ContentTypeJSON, strings.NewReader(body))
	if err != nil {
		e.t.Fatalf("POST %s as %s: %v", path, id, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func (e *env) contribute(c *transport.Client, sh api.Shard) error {
	return c.Do(context.Background(), transport.Call{BaseURL: e.url, Path: api.PathKeeperContribute,
		Request: api.ShardContributeRequest{Shard: &sh}, Response: &api.ShardContributeResponse{}})
}

func (e *env) shard(c *transport.Client) (api.Shard, error) {
	var resp api.ShardGetResponse
	err := c.Do(context.Background(), transport.Call{BaseURL: e.url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp})
	if err == nil && resp.Shard == nil {
		err = errors.New("200 without a shard")
	}
	if err != nil {
		return api.Shard{}, err
	}
	return *resp.Shard, nil
}

// get fetches an operations endpoint.
func (e *env) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.ops + path)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// randomShard returns a shard with no zero byte, so that its printed
// forms are distinctive.
func randomShard(t *testing.T) api.Shard {
	t.Helper()
	var s api.Shard
	rand.Read(s[:])
	for i := range s {
		s[i] |= 0x80
	}
	return s
}

func statusOf(err error) (int, api.ErrorCode) {
	var se *transport.StatusError
	if errors.As(err, &se) {
		return se.Status, se.Code
	}
	return 0, ""
}

func TestContributeThenShard(t *testing.T) {
	t.Parallel()
	e := start(t)
	nexus, bootstrap := e.client(nexusID), e.client(bootstrapID)
	for _, step := range []struct {
		name string
		from *transport.Client
	}{
		{"nexus contributes", nexus},
		{"nexus replaces it", nexus},
		{"bootstrap replaces it", bootstrap},
	} {
		want := randomShard(t)
		if err := e.contribute(step.from, want); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := e.shard(nexus)
		if err != nil || got != want {
			t.Fatalf("%s: nexus reads back %v, %v; want the shard contributed", step.name, got == want, err)
		}
	}
	// Bootstrap passes the handshake (it may contribute) but the shard
	// route answers it 401, as SPIKE's guard does.
	if _, err := e.shard(bootstrap); !matches(err, http.StatusUnauthorized, api.CodeUnauthorized) {
		t.Fatalf("bootstrap reads the shard: %v, want 401 access_unauthorized", err)
	}
}

func matches(err error, status int, code api.ErrorCode) bool {
	s, c := statusOf(err)
	return s == status && c == code
}

// TestWireBodies checks the exact bodies SPIKE clients see.
func TestWireBodies(t *testing.T) {
	t.Parallel()
	e := start(t)
	status, body := e.raw(nexusID, api.PathKeeperShard, "{}")
	if status != 400 || body != `{"shard":null,"err":"api_bad_request"}` {
		t.Fatalf("shard before any contribution: %d %s", status, body)
	}
	sh := randomShard(t)
	in, _ := json.Marshal(api.ShardContributeRequest{Shard: &sh})
	if status, body := e.raw(bootstrapID, api.PathKeeperContribute, string(in)); status != 200 || body != "{}" {
		t.Fatalf("contribute: %d %s", status, body)
	}
	want, _ := json.Marshal(api.ShardGetResponse{Shard: &sh})
	if status, body := e.raw(nexusID, api.PathKeeperShard, "{}"); status != 200 || body != string(want) {
		t.Fatalf("shard: %d %s, want 200 %s", status, body, want)
	}
	if status, body := e.raw(bootstrapID, api.PathKeeperShard, "{}"); status != 401 || body != `{"err":"access_unauthorized"}` {
		t.Fatalf("shard as bootstrap: %d %s", status, body)
	}
	// SPIKE's Nexus decodes both spellings of the error key; the shard
	// decodes into SPIKE's own response type too.
	var spike struct {
		Shard *[32]byte `json:"shard"`
		Err   string
	}
	if err := json.Unmarshal(want, &spike); err != nil || spike.Shard == nil || *spike.Shard != sh || spike.Err != "" {
		t.Fatalf("SPIKE's ShardGetResponse decodes %s as %+v, %v", want, spike, err)
	}
}

// TestBadContributionsKeepTheShard: every malformed, invalid or oversized
// contribution is 400 and the shard held before stays.
func TestBadContributionsKeepTheShard(t *testing.T) {
	t.Parallel()
	e := start(t)
	nexus := e.client(nexusID)
	held := randomShard(t)
	if err := e.contribute(nexus, held); err != nil {
		t.Fatal(err)
	}
	ints := func(n, v int) string {
		return `{"shard":[` + strings.TrimSuffix(strings.Repeat(strconv.Itoa(v)+",", n), ",") + `]}`
	}
	for _, tc := range []struct{ name, body string }{
		{"all zeros", ints(32, 0)},
		{"missing shard", `{}`},
		{"null shard", `{"shard":null}`},
		{"31 bytes", ints(31, 7)},
		{"33 bytes", ints(33, 7)},
		{"byte over 255", ints(31, 7)[:len(ints(31, 7))-2] + ",256]}"},
		{"negative byte", strings.Replace(ints(32, 7), "7", "-7", 1)},
		{"base64 string", `{"shard":"` + base64.StdEncoding.EncodeToString(held[:]) + `"}`},
		{"not JSON", `shard`},
		{"empty body", ``},
		{"trailing data", ints(32, 7) + ` {}`},
		{"over the body limit", `{"pad":"` + strings.Repeat("x", int(api.DefaultBodyLimit)) + `",` + ints(32, 7)[1:]},
	} {
		status, body := e.raw(nexusID, api.PathKeeperContribute, tc.body)
		if status != 400 || body != `{"err":"api_bad_request"}` {
			t.Errorf("%s: %d %s, want 400 api_bad_request", tc.name, status, body)
		}
		if got, err := e.shard(nexus); err != nil || got != held {
			t.Fatalf("%s: the held shard changed (%v)", tc.name, err)
		}
	}
	if status, body := e.raw(nexusID, api.PathKeeperShard, ``); status != 400 {
		t.Errorf("shard with an empty body: %d %s, want 400", status, body)
	}
}

// TestHandshakeRefusesOthers: only Nexus and Bootstrap get past the TLS
// handshake; nobody else reaches a handler.
func TestHandshakeRefusesOthers(t *testing.T) {
	t.Parallel()
	e := start(t)
	for _, id := range []spiffeid.ID{workloadID, pilotID, otherKeeper, spiffeid.RequireFromPath(td, "/spike/nexus-evil")} {
		c := e.client(id)
		err := e.contribute(c, randomShard(t))
		if status, _ := statusOf(err); err == nil || status != 0 {
			t.Errorf("%s contributes: %v, want a handshake failure", id, err)
		}
		if _, err := e.shard(c); err == nil {
			t.Errorf("%s reads the shard", id)
		}
	}
	if logs := e.log.String(); strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("a refused caller reached the router:\n%s", logs)
	}
	if status, _ := e.get("/readyz"); status != http.StatusServiceUnavailable {
		t.Fatal("a refused caller's shard was stored")
	}
}

func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	e := start(t)
	if status, body := e.get("/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", status, body)
	}
	status, body := e.get("/readyz")
	if status != 503 || strings.Count(body, "\n") != 1 || !strings.Contains(body, "no shard") {
		t.Errorf("readyz without a shard: %d %q, want 503 and one line saying why", status, body)
	}
	if err := e.contribute(e.client(nexusID), randomShard(t)); err != nil {
		t.Fatal(err)
	}
	if status, body := e.get("/readyz"); status != 200 || body != "ok\n" {
		t.Errorf("readyz with a shard: %d %q", status, body)
	}
	resp, err := http.Post(e.ops+"/readyz", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /readyz: %d", resp.StatusCode)
	}
	e.stop()
	if _, err := http.Get(e.ops + "/healthz"); err == nil {
		t.Error("the operations listener still answers after stop")
	}
	if !strings.Contains(e.log.String(), "shard zeroed") {
		t.Error("no log line says the shard was zeroed on stop")
	}
}

// TestLogsNeverHoldTheShard drives every path a shard takes, at debug
// level, and looks for the shard in every printed form.
func TestLogsNeverHoldTheShard(t *testing.T) {
	t.Parallel()
	e := start(t)
	nexus, bootstrap := e.client(nexusID), e.client(bootstrapID)
	var shards []api.Shard
	for range 3 {
		sh := randomShard(t)
		shards = append(shards, sh)
		if err := e.contribute(bootstrap, sh); err != nil {
			t.Fatal(err)
		}
		if _, err := e.shard(nexus); err != nil {
			t.Fatal(err)
		}
		// Refused and malformed requests that carry the shard.
		e.contribute(e.client(workloadID), sh)
		in, _ := json.Marshal(api.ShardContributeRequest{Shard: &sh})
		e.raw(nexusID, api.PathKeeperContribute, string(in)+"garbage")
		e.raw(bootstrapID, api.PathKeeperShard, string(in))
	}
	e.stop()
	logs := e.log.String()
	if !strings.Contains(logs, "shard stored") || !strings.Contains(logs, "keeper serving") {
		t.Fatalf("the logs lack the expected records:\n%s", logs)
	}
	for _, sh := range shards {
		for _, form := range printedForms(sh) {
			if strings.Contains(logs, form) {
				t.Fatalf("the logs hold the shard as %q", form)
			}
		}
	}
}

// printedForms returns the ways a shard, or any 8 bytes of it in a row,
// could be written out.
func printedForms(sh api.Shard) []string {
	forms := []string{
		fmt.Sprint(sh),
		fmt.Sprintf("%q", sh[:]),
		base64.StdEncoding.EncodeToString(sh[:]),
		base64.RawStdEncoding.EncodeToString(sh[:]),
		base64.URLEncoding.EncodeToString(sh[:]),
		base64.RawURLEncoding.EncodeToString(sh[:]),
	}
	const window = 8
	for i := 0; i+window <= len(sh); i++ {
		part := sh[i : i+window]
		var dec []string
		for _, b := range part {
			dec = append(dec, strconv.Itoa(int(b)))
		}
		forms = append(forms,
			hex.EncodeToString(part),                  // lowercase hex
			strings.ToUpper(hex.EncodeToString(part)), // uppercase hex
			strings.Join(dec, ","),                    // JSON array
			strings.Join(dec, ", "),                   // prose
			strings.Join(dec, " "),                    // fmt of a byte array
		)
	}
	return forms
}

func TestNewRefusesANonKeeperIdentity(t *testing.T) {
	t.Parallel()
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []spiffeid.ID{nexusID, workloadID, spiffeid.RequireFromPath(td, "/spike/keeper-1"),
		spiffeid.RequireFromPath(spiffeid.RequireTrustDomainFromString("elsewhere.test"), "/spike/keeper")} {
		svid, err := ca.Issue(id, time.Hour)
		if err != nil {
			if id.TrustDomain() != td {
				continue // the dev CA only issues in its own trust domain
			}
			t.Fatal(err)
		}
		_, err = keeper.New(identity.NewStaticSource(svid, ca.Bundle()), roles(t), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "not a keeper") {
			t.Errorf("New as %s: %v, want a refusal", id, err)
		}
	}
}

// TestNewAcceptsSPIKEKeeperIdentities: every form SPIKE v0.8 accepts for
// a keeper, instance suffix included.
func TestNewAcceptsSPIKEKeeperIdentities(t *testing.T) {
	t.Parallel()
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/spike/keeper", "/spike/keeper/1", "/spike/keeper/2/instance-0", "/spike/keeper/spike-keeper-0"} {
		id := spiffeid.RequireFromPath(td, path)
		svid, err := ca.Issue(id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		k, err := keeper.New(identity.NewStaticSource(svid, ca.Bundle()), roles(t), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Errorf("New as %s: %v", id, err)
			continue
		}
		if k.ID() != id {
			t.Errorf("ID = %s, want %s", k.ID(), id)
		}
		if err := k.Close(); err != nil {
			t.Error(err)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tls, ops         string
		wantTLS, wantOps string
		bad              bool
	}{
		{"", "", keeper.DefaultTLSAddr, keeper.DefaultOpsAddr, false},
		{":8554", " ", ":8554", "127.0.0.1:9554", false},
		{":8543", "", ":8543", "127.0.0.1:9543", false},
		{"127.0.0.1:8643", "", "127.0.0.1:8643", "127.0.0.1:9643", false},
		{"8443", "", ":8443", "127.0.0.1:9443", false},
		{"[::1]:0", "", "[::1]:0", "127.0.0.1:0", false},
		{"64535", "", ":64535", "127.0.0.1:65535", false},
		{"64536", "", "", "", true},
		{"64536", "9000", ":64536", ":9000", false},
		{"64536", "off", ":64536", keeper.OpsOff, false},
		{"8554", "9554", ":8554", ":9554", false},
		{":8554", "off", ":8554", keeper.OpsOff, false},
		{"127.0.0.1:8443", "[::1]:9554", "127.0.0.1:8443", "[::1]:9554", false},
		{" keeper-1.example:8554 ", "0", "keeper-1.example:8554", ":0", false},
		{"abc", "", "", "", true},
		{"99999", "", "", "", true},
		{"host:", "", "", "", true},
		{"", "127.0.0.1:http", "", "", true},
		{"", "OFF", "", "", true},
	} {
		got, err := keeper.Config{TLSAddr: tc.tls, OpsAddr: tc.ops}.Validate()
		switch {
		case tc.bad && err == nil:
			t.Errorf("Validate(%q, %q) = %+v, want an error", tc.tls, tc.ops, got)
		case !tc.bad && (err != nil || got.TLSAddr != tc.wantTLS || got.OpsAddr != tc.wantOps):
			t.Errorf("Validate(%q, %q) = %+v, %v; want %s and %s", tc.tls, tc.ops, got, err, tc.wantTLS, tc.wantOps)
		}
	}
}
