package transport

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

var (
	td      = spiffeid.RequireTrustDomainFromString("spike.test")
	nexusID = spiffeid.RequireFromPath(td, "/spike/nexus")
	pilotID = spiffeid.RequireFromPath(td, "/spike/pilot/role/superuser")
	appID   = spiffeid.RequireFromPath(td, "/workload/app")
)

// pki is a development CA and sources issued from it.
type pki struct {
	t  *testing.T
	ca *identity.DevCA
}

func newPKI(t *testing.T, trust spiffeid.TrustDomain) *pki {
	t.Helper()
	ca, err := identity.NewDevCA(trust, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{t: t, ca: ca}
}

func (p *pki) source(id spiffeid.ID) *identity.StaticSource {
	p.t.Helper()
	svid, err := p.ca.Issue(id, time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	return identity.NewStaticSource(svid, p.ca.Bundle())
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

type testServer struct {
	url   string
	calls atomic.Int64
	log   *logBuffer
	src   *identity.StaticSource
	reg   *prometheus.Registry
}

// startServer serves routes as nexusID, admitting callers authz allows.
func startServer(t *testing.T, p *pki, authz tlsconfig.Authorizer, extra ...Route) *testServer {
	t.Helper()
	ts := &testServer{log: &logBuffer{}, src: p.source(nexusID), reg: prometheus.NewRegistry()}
	routes := []Route{
		{Name: "echo", Path: "/v1/echo", Handler: func(ctx context.Context, r *Request) Response {
			ts.calls.Add(1)
			return Response{Body: map[string]string{"peer": r.Peer.String(), "body": string(r.Body)}}
		}},
		{Path: "/v1/echo", Action: "pilot", Allow: func(id spiffeid.ID) bool { return id == pilotID }, Handler: func(ctx context.Context, r *Request) Response {
			ts.calls.Add(1)
			return Response{Body: ErrorBody{}}
		}},
		{Path: "/v1/small", MaxBody: 10, Handler: func(ctx context.Context, r *Request) Response { ts.calls.Add(1); return Response{Body: ErrorBody{}} }},
		{Path: "/v1/panic", Handler: func(ctx context.Context, r *Request) Response { ts.calls.Add(1); panic("boom") }},
	}
	routes = append(routes, extra...)
	srv, err := NewServer(ServerOptions{SVID: ts.src, Bundle: ts.src, Authorizer: authz, MaxBody: 64,
		Logger: slog.New(slog.NewJSONHandler(ts.log, nil)), Metrics: NewMetrics(ts.reg)}, routes)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveLoopback(t, srv)
	ts.url = "https://" + addr
	return ts
}

func client(t *testing.T, src *identity.StaticSource, pin tlsconfig.Authorizer) *Client {
	t.Helper()
	c, err := NewClient(ClientOptions{SVID: src, Bundle: src, Server: pin, Timeout: 10 * time.Second, Backoff: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestServerAdmitsAndRoutes(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	ts := startServer(t, p, tlsconfig.AuthorizeMemberOf(td))
	ctx := context.Background()
	pilot := client(t, p.source(pilotID), tlsconfig.AuthorizeID(nexusID))
	app := client(t, p.source(appID), tlsconfig.AuthorizeID(nexusID))

	var got map[string]string
	if err := pilot.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/echo", Request: map[string]string{"x": "y"}, Response: &got}); err != nil {
		t.Fatal(err)
	}
	if got["peer"] != pilotID.String() || got["body"] != `{"x":"y"}` {
		t.Fatalf("echo = %v", got)
	}
	if err := pilot.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/echo", Action: "pilot", Request: struct{}{}}); err != nil {
		t.Fatalf("allowed caller: %v", err)
	}
	before := ts.calls.Load()
	for _, tc := range []struct {
		name   string
		c      *Client
		call   Call
		status int
		code   api.ErrorCode
	}{
		{"route refuses the caller", app, Call{Path: "/v1/echo", Action: "pilot", Request: struct{}{}}, 401, api.CodeUnauthorized},
		{"unknown path", pilot, Call{Path: "/v1/nope", Request: struct{}{}}, 400, api.CodeBadRequest},
		{"unknown action", pilot, Call{Path: "/v1/echo", Action: "get", Request: struct{}{}}, 400, api.CodeBadRequest},
		{"trailing slash", pilot, Call{Path: "/v1/echo/", Request: struct{}{}}, 400, api.CodeBadRequest},
		{"body over the limit", pilot, Call{Path: "/v1/echo", Request: strings.Repeat("x", 100)}, 400, api.CodeBadRequest},
		{"body over the route's own limit", pilot, Call{Path: "/v1/small", Request: strings.Repeat("x", 20)}, 400, api.CodeBadRequest},
	} {
		tc.call.BaseURL = ts.url
		var se *StatusError
		if err := tc.c.Do(ctx, tc.call); !errors.As(err, &se) || se.Status != tc.status || se.Code != tc.code {
			t.Errorf("%s: err = %v, want %d %s", tc.name, err, tc.status, tc.code)
		}
	}
	if n := ts.calls.Load() - before; n != 0 {
		t.Fatalf("refused requests reached a handler %d times", n)
	}
	var se *StatusError
	if err := pilot.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/panic", Request: struct{}{}}); !errors.As(err, &se) || se.Status != 500 || se.Code != api.CodeInternal {
		t.Fatalf("panicking handler: %v", err)
	}
}

func TestServerRefusesNonPostAndSetsHeaders(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	ts := startServer(t, p, tlsconfig.AuthorizeAny())
	src := p.source(pilotID)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(nexusID))}}
	defer hc.CloseIdleConnections()
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(m, ts.url+"/v1/echo", strings.NewReader("{}"))
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", m, resp.StatusCode)
		}
	}
	resp, err := hc.Post(ts.url+"/v1/echo", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for k, want := range map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache", "Expires": "0"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Error("no request id")
	}
	if resp.TLS == nil || resp.TLS.Version != 0x0304 {
		t.Errorf("TLS version %x, want 1.3", resp.TLS.Version)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	// The listener admits only pilot roles at the handshake.
	ts := startServer(t, p, tlsconfig.AdaptMatcher(func(id spiffeid.ID) error {
		if id != pilotID {
			return errors.New("not pilot")
		}
		return nil
	}))
	ctx := context.Background()
	elsewhere := spiffeid.RequireTrustDomainFromString("elsewhere.test")
	other := newPKI(t, elsewhere)
	otherSVID, err := other.ca.Issue(spiffeid.RequireFromPath(elsewhere, "/spike/pilot/role/superuser"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		c    *Client
	}{
		{"identity refused by the listener", client(t, p.source(appID), tlsconfig.AuthorizeID(nexusID))},
		// It trusts the server's CA, so only the server can refuse it.
		{"client from another trust domain", client(t, identity.NewStaticSource(otherSVID, other.ca.Bundle(), p.ca.Bundle()), tlsconfig.AuthorizeID(nexusID))},
		{"client pins a different server identity", client(t, p.source(pilotID), tlsconfig.AuthorizeID(spiffeid.RequireFromPath(td, "/spike/keeper")))},
	} {
		err := tc.c.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/echo", Request: struct{}{}, Safe: true})
		var se *StatusError
		if err == nil || errors.As(err, &se) {
			t.Errorf("%s: err = %v, want a handshake failure", tc.name, err)
		}
	}
	// No client certificate at all.
	srcBundle := p.source(pilotID)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsconfig.TLSClientConfig(srcBundle, tlsconfig.AuthorizeID(nexusID))}}
	if resp, err := hc.Post(ts.url+"/v1/echo", "application/json", strings.NewReader("{}")); err == nil {
		resp.Body.Close()
		t.Error("a client without a certificate got an answer")
	}
	if n := ts.calls.Load(); n != 0 {
		t.Fatalf("refused clients reached a handler %d times", n)
	}
	// Every refusal above is a failed handshake; the listener's own
	// refusals are counted by reason.
	for _, tc := range []struct {
		name   string
		labels map[string]string
		min    float64
	}{
		{"spike_tls_handshake_failures_total", nil, 3},
		{"spike_peer_refusals_total", map[string]string{"reason": "unauthorized"}, 1},
		{"spike_peer_refusals_total", map[string]string{"reason": "untrusted"}, 1},
	} {
		waitMetric(t, ts.reg, tc.name, tc.labels, tc.min)
	}
}

func TestRetriesOnlySafeCalls(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	var hits atomic.Int64
	ts := startServer(t, p, tlsconfig.AuthorizeAny(), Route{Path: "/v1/flaky", Handler: func(ctx context.Context, r *Request) Response {
		if hits.Add(1)%3 != 0 {
			return Response{Status: http.StatusServiceUnavailable, Body: ErrorBody{Err: api.CodeNotReady}}
		}
		return Response{Body: ErrorBody{}}
	}})
	c := client(t, p.source(pilotID), tlsconfig.AuthorizeID(nexusID))
	ctx := context.Background()
	if err := c.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/flaky", Request: struct{}{}, Safe: true}); err != nil {
		t.Fatalf("safe call with retries: %v", err)
	}
	if hits.Load() != 3 {
		t.Fatalf("hits = %d, want 3", hits.Load())
	}
	var se *StatusError
	if err := c.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/flaky", Request: struct{}{}}); !errors.As(err, &se) || se.Code != api.CodeNotReady {
		t.Fatalf("unsafe call: %v, want a single 503", err)
	}
	if hits.Load() != 4 {
		t.Fatalf("unsafe call was retried: hits = %d", hits.Load())
	}
}

func TestAccessLogNeverHoldsBodies(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	ts := startServer(t, p, tlsconfig.AuthorizeAny())
	c := client(t, p.source(pilotID), tlsconfig.AuthorizeID(nexusID))
	const secret = "hunter2-s3cr3t"
	if err := c.Do(context.Background(), Call{BaseURL: ts.url, Path: "/v1/echo", Request: map[string]string{"pw": secret}}); err != nil {
		t.Fatal(err)
	}
	logs := ts.log.String()
	if !strings.Contains(logs, `"path":"/v1/echo"`) || !strings.Contains(logs, pilotID.String()) {
		t.Fatalf("access log lacks the request: %s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Fatal("access log contains the request body")
	}
}

func TestServerSVIDRotation(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	ts := startServer(t, p, tlsconfig.AuthorizeAny())
	c := client(t, p.source(pilotID), tlsconfig.AuthorizeID(nexusID))
	ctx := context.Background()
	for i := range 3 {
		svid, err := p.ca.Issue(nexusID, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		ts.src.SetSVID(svid)
		c.Close() // new connections see the new certificate
		if err := c.Do(ctx, Call{BaseURL: ts.url, Path: "/v1/echo", Request: struct{}{}}); err != nil {
			t.Fatalf("after rotation %d: %v", i, err)
		}
	}
}

func TestCallURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base, path, action, want string
		bad                      bool
	}{
		{base: "https://n:8553", path: "/v1/store/secrets", action: "get", want: "https://n:8553/v1/store/secrets?action=get"},
		{base: "https://n:8553/", path: "/v1/store/secrets", want: "https://n:8553/v1/store/secrets"},
		{base: "http://n:8553", path: "/x", bad: true},
		{base: "n:8553", path: "/x", bad: true},
	} {
		got, err := callURL(Call{BaseURL: tc.base, Path: tc.path, Action: tc.action})
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("callURL(%q, %q, %q) = %q, %v", tc.base, tc.path, tc.action, got, err)
		}
	}
}
