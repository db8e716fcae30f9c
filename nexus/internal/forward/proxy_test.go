package forward

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

var (
	roles      = identity.DefaultRoles()
	td         = spiffeid.RequireTrustDomainFromString(identity.DefaultTrustRoot)
	leaderID   = spiffeid.RequireFromPath(td, identity.PathNexus+"/replica-1")
	followerID = spiffeid.RequireFromPath(td, identity.PathNexus+"/replica-2")
	appID      = spiffeid.RequireFromPath(td, identity.PathWorkloads+"/app")
	pilotID    = spiffeid.RequireFromPath(td, identity.PathPilotSuperuser)
	// nexusOnly pins clients and the proxy to Nexus replicas.
	nexusOnly = tlsconfig.AdaptMatcher(NexusOnly(roles))
)

// pki is a development CA that issues test identities.
type pki struct {
	t  testing.TB
	ca *identity.DevCA
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	ca, err := identity.NewDevCA(td, time.Hour)
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

// listen serves h over mTLS as id on a loopback port until the test
// ends.
func (p *pki) listen(id spiffeid.ID, h http.Handler) string {
	p.t.Helper()
	src := p.source(id)
	conf := tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeMemberOf(td))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		p.t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(ln)
	p.t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// serve runs a transport server as id until the test ends.
func (p *pki) serve(id spiffeid.ID, opts transport.ServerOptions, routes []transport.Route) string {
	p.t.Helper()
	src := p.source(id)
	opts.SVID, opts.Bundle, opts.Authorizer = src, src, tlsconfig.AuthorizeMemberOf(td)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	srv, err := transport.NewServer(opts, routes)
	if err != nil {
		p.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln); close(done) }()
	p.t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// seen is what the leader's handler saw of a request.
type seen struct {
	Peer, Via string
	Body      []byte
}

// leader is a transport server as the cluster's leader: it believes
// forwarded-peer headers from Nexus replicas, echoes what it saw on
// /v1/who (and on /v1/pilot, for the pilot superuser only), refuses
// /v1/conflict with a problem, and streams /v1/tail one line per value
// sent on tail.
type leader struct {
	addr  string
	calls atomic.Int64
	tail  chan string
	log   *bytes.Buffer
	logMu *sync.Mutex
}

func (p *pki) leader() *leader {
	p.t.Helper()
	l := &leader{tail: make(chan string), log: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	who := func(ctx context.Context, r *transport.Request) transport.Response {
		l.calls.Add(1)
		s := seen{Peer: r.Peer.String(), Body: r.Body}
		if !r.Via.IsZero() {
			s.Via = r.Via.String()
		}
		return transport.Response{Body: s}
	}
	routes := []transport.Route{
		{Name: "who", Path: "/v1/who", MaxBody: 4 << 20, Handler: who},
		{Name: "pilot", Path: "/v1/who", Action: "pilot", Allow: roles.IsPilotSuperuser, Handler: who},
		{Name: "conflict", Path: "/v1/conflict", Handler: func(ctx context.Context, r *transport.Request) transport.Response {
			l.calls.Add(1)
			v := 7
			return transport.Response{Status: http.StatusConflict, Body: api.Problem{Err: api.CodeConflict, Reason: api.ReasonCASMismatch, CurrentVersion: &v}}
		}},
		{Name: "tail", Path: "/v1/tail", Handler: func(ctx context.Context, r *transport.Request) transport.Response {
			l.calls.Add(1)
			return transport.Response{ContentType: api.ContentTypeNDJSON, Stream: func(ctx context.Context, w io.Writer) error {
				for {
					select {
					case line, ok := <-l.tail:
						if !ok {
							return nil
						}
						if _, err := io.WriteString(w, line+"\n"); err != nil {
							return err
						}
					case <-ctx.Done():
						return nil
					}
				}
			}}
		}},
	}
	logger := slog.New(slog.NewJSONHandler(lockedWriter{l.logMu, l.log}, nil))
	l.addr = p.serve(leaderID, transport.ServerOptions{TrustForwarded: roles.IsNexus, Logger: logger}, routes)
	return l
}

func (l *leader) logged() string {
	l.logMu.Lock()
	defer l.logMu.Unlock()
	return l.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (lw lockedWriter) Write(b []byte) (int, error) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	return lw.w.Write(b)
}

// follower is a transport server as a follower: every route the leader
// has, each forwarded through a Proxy to wherever leaderAddr points.
// Its own timeouts are short, which forwarded streams must outlive.
func (p *pki) follower(leaderAddr func() (string, bool)) (url string) {
	p.t.Helper()
	url, _, _ = p.followerWith(leaderAddr)
	return url
}

// followerWith is follower, also returning its proxy and the source of
// the proxy's SVID.
func (p *pki) followerWith(leaderAddr func() (string, bool)) (url string, proxy *Proxy, src *identity.StaticSource) {
	p.t.Helper()
	src = p.source(followerID)
	proxy = New(Config{Source: src, LeaderID: NexusOnly(roles), Leader: leaderAddr, Logger: slog.New(slog.DiscardHandler)})
	p.t.Cleanup(proxy.Close)
	notHere := func(ctx context.Context, r *transport.Request) transport.Response {
		p.t.Errorf("the follower served %s itself", r.Path)
		return transport.Response{Status: http.StatusInternalServerError}
	}
	var routes []transport.Route
	for _, r := range []struct{ path, action string }{{"/v1/who", ""}, {"/v1/who", "pilot"}, {"/v1/conflict", ""}, {"/v1/tail", ""}} {
		routes = append(routes, transport.Route{Path: r.path, Action: r.action, MaxBody: 2 << 20, Handler: notHere})
	}
	opts := transport.ServerOptions{
		ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond,
		Forward: func(w http.ResponseWriter, r *http.Request, req *transport.Request) bool {
			proxy.Forward(w, r, req.Peer)
			return true
		},
	}
	return "https://" + p.serve(followerID, opts, routes), proxy, src
}

func at(addr string) func() (string, bool) { return func() (string, bool) { return addr, true } }

// client calls as id, pinned to Nexus replicas, never retrying.
func (p *pki) client(id spiffeid.ID) *transport.Client {
	p.t.Helper()
	src := p.source(id)
	c, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: nexusOnly, Retries: -1, Timeout: 20 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(c.Close)
	return c
}

// rawClient posts with any headers, as id.
func (p *pki) rawClient(id spiffeid.ID) *http.Client {
	p.t.Helper()
	src := p.source(id)
	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, nexusOnly)}}
	p.t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func TestForwardAsTheCaller(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	l := p.leader()
	url := p.follower(at(l.addr))
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		caller spiffeid.ID
		action string
		status int
	}{
		{"workload", appID, "", 200},
		{"pilot on a pilot-only route", pilotID, "pilot", 200},
		{"workload on a pilot-only route", appID, "pilot", 401},
	} {
		var got seen
		err := p.client(tc.caller).Do(ctx, transport.Call{BaseURL: url, Path: "/v1/who", Action: tc.action, Request: map[string]string{"k": "v"}, Response: &got})
		if tc.status != 200 {
			var se *transport.StatusError
			if !errors.As(err, &se) || se.Status != tc.status {
				t.Errorf("%s: %v, want status %d", tc.name, err, tc.status)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		want := seen{Peer: tc.caller.String(), Via: followerID.String(), Body: []byte(`{"k":"v"}`)}
		if got.Peer != want.Peer || got.Via != want.Via || !bytes.Equal(got.Body, want.Body) {
			t.Errorf("%s: the leader saw %+v, want %+v", tc.name, got, want)
		}
	}
	// The leader's log names the caller and the replica it came through.
	logs := l.logged()
	if !strings.Contains(logs, `"peer":"`+appID.String()+`"`) || !strings.Contains(logs, `"via":"`+followerID.String()+`"`) {
		t.Errorf("the leader's access log lacks the caller or the follower: %s", logs)
	}
	// A refusal passes through as the leader gave it.
	var se *transport.StatusError
	err := p.client(appID).Do(ctx, transport.Call{BaseURL: url, Path: "/v1/conflict", Request: struct{}{}})
	if !errors.As(err, &se) || se.Status != http.StatusConflict || se.Reason != api.ReasonCASMismatch || se.CurrentVersion == nil || *se.CurrentVersion != 7 {
		t.Fatalf("conflict: %v", err)
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	got := make(chan *http.Request, 1)
	addr := p.listen(leaderID, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		w.Header().Set("X-Request-Id", "leader-id")
		w.Header().Set("Connection", "X-Leader-Hop")
		w.Header().Set("X-Leader-Hop", "1")
		w.Header().Set("X-Leader-Kept", "1")
		w.WriteHeader(http.StatusAccepted)
	}))
	url := p.follower(at(addr))
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/who?action=pilot", strings.NewReader("{}"))
	req.Header.Set("Content-Type", api.ContentTypeStream)
	req.Header.Add(transport.HeaderForwardedPeer, pilotID.String())
	req.Header.Add(transport.HeaderForwardedPeer, leaderID.String())
	req.Header.Set("Spike-Forwarded-Other", "x")
	req.Header.Set("X-Forwarded-For", "10.0.0.1")
	req.Header.Set("Connection", "X-Client-Hop")
	req.Header.Set("X-Client-Hop", "1")
	req.Header.Set("X-Client-Kept", "1")
	// The follower lets only the pilot superuser use this route; pilot's
	// own certificate gets it there, but the forged header must not
	// travel on.
	resp, err := p.rawClient(pilotID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-got
	if v := r.Header.Values(transport.HeaderForwardedPeer); len(v) != 1 || v[0] != pilotID.String() {
		t.Errorf("the leader got %s %q, want only the caller's certificate ID", transport.HeaderForwardedPeer, v)
	}
	for _, h := range []string{"Spike-Forwarded-Other", "X-Forwarded-For", "X-Client-Hop"} {
		if v := r.Header.Get(h); v != "" {
			t.Errorf("header %s = %q reached the leader", h, v)
		}
	}
	if r.Header.Get("X-Client-Kept") != "1" || r.Header.Get("Content-Type") != api.ContentTypeStream {
		t.Errorf("end-to-end headers lost: %v", r.Header)
	}
	if r.URL.RawQuery != "action=pilot" || r.URL.Path != "/v1/who" || r.Method != http.MethodPost {
		t.Errorf("the leader got %s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
	}
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("X-Leader-Kept") != "1" || resp.Header.Get("X-Leader-Hop") != "" {
		t.Errorf("answer %d with headers %v", resp.StatusCode, resp.Header)
	}
	if ids := resp.Header.Values("X-Request-Id"); len(ids) != 1 || ids[0] == "leader-id" {
		t.Errorf("X-Request-Id %q, want the follower's own only", ids)
	}
}

func TestForwardRefusals(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var impostorCalls atomic.Int64
	impostor := p.listen(spiffeid.RequireFromPath(td, identity.PathWorkloads+"/impostor"), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		impostorCalls.Add(1)
	}))
	// An address where nothing listens any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	for _, tc := range []struct {
		name   string
		leader func() (string, bool)
	}{
		{"no leader known", func() (string, bool) { return "", false }},
		{"leader down", at(down)},
		{"leader not a Nexus identity", at(impostor)},
	} {
		url := p.follower(tc.leader)
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/who", strings.NewReader(`{"secret":"s3cr3t"}`))
		resp, err := p.rawClient(appID).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var pr api.Problem
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != api.ContentTypeJSON ||
			json.Unmarshal(body, &pr) != nil || pr.Err != api.CodeNotReady || pr.Reason != api.ReasonNoLeader || pr.Message == "" {
			t.Errorf("%s: %d %s, want 503 state_not_ready no_leader", tc.name, resp.StatusCode, body)
		}
	}
	if n := impostorCalls.Load(); n != 0 {
		t.Fatalf("a leader with a non-Nexus identity was sent %d requests", n)
	}
}

func TestLeaderFailsAfterTheRequest(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var got atomic.Int64
	addr := p.listen(leaderID, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		got.Add(1)
		panic(http.ErrAbortHandler) // the leader dies before it answers
	}))
	url := p.follower(at(addr))
	err := p.client(appID).Do(context.Background(), transport.Call{BaseURL: url, Path: "/v1/who", Request: struct{}{}})
	var se *transport.StatusError
	if err == nil || errors.As(err, &se) {
		t.Fatalf("err = %v, want the connection cut: a status would claim to know the outcome", err)
	}
	if got.Load() != 1 {
		t.Fatalf("the leader got %d requests, want 1", got.Load())
	}
}

func TestForwardStreams(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	l := p.leader()
	url := p.follower(at(l.addr))
	body, err := p.client(appID).Open(context.Background(), transport.Call{BaseURL: url, Path: "/v1/tail", Request: struct{}{}})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	// Open returned: the answer's headers came through before any line
	// of it existed.
	lines := bufio.NewReader(body)
	// Each line is sent only after the one before it arrived, so the
	// stream can only pass if the follower passes lines on as they
	// come; the pause outlasts the follower's 300 ms write
	// timeout (and its read timeout), which must not cut a forwarded stream.
	for i, want := range []string{`{"n":1}`, `{"n":2}`, `{"n":3}`} {
		if i == 2 {
			time.Sleep(time.Second)
		}
		select {
		case l.tail <- want:
		case <-time.After(10 * time.Second):
			t.Fatalf("the leader's stream was not waiting for line %d", i+1)
		}
		got, err := lines.ReadString('\n')
		if err != nil || got != want+"\n" {
			t.Fatalf("line %d: %q, %v", i+1, got, err)
		}
	}
	close(l.tail)
	if rest, err := io.ReadAll(lines); err != nil || len(rest) != 0 {
		t.Fatalf("after the last line: %q, %v", rest, err)
	}
}

func TestForwardLargeBody(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	l := p.leader()
	url := p.follower(at(l.addr))
	c := p.client(appID)
	big := make([]byte, 1<<20)
	rand.Read(big)
	var got seen
	// A []byte is sent as base64: 1 MiB of data is a larger body.
	if err := c.Do(context.Background(), transport.Call{BaseURL: url, Path: "/v1/who", Request: big, Response: &got}); err != nil {
		t.Fatal(err)
	}
	var back []byte
	if err := json.Unmarshal(got.Body, &back); err != nil || !bytes.Equal(back, big) {
		t.Fatalf("the body did not round-trip (%d bytes back, %v)", len(back), err)
	}
	// Over the follower's route limit (2 MiB): refused there.
	before := l.calls.Load()
	var se *transport.StatusError
	if err := c.Do(context.Background(), transport.Call{BaseURL: url, Path: "/v1/who", Request: strings.Repeat("x", 3<<20)}); !errors.As(err, &se) || se.Status != http.StatusBadRequest {
		t.Fatalf("over the limit: %v, want 400", err)
	}
	if l.calls.Load() != before {
		t.Fatal("a body over the follower's limit reached the leader")
	}
}

func TestForwardPoolsAndRotates(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	var conns atomic.Int64
	vias := make(chan string, 100)
	src := p.source(leaderID)
	conf := tlsconfig.MTLSServerConfig(src, src, tlsconfig.AuthorizeMemberOf(td))
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := spiffeid.FromURI(r.TLS.PeerCertificates[0].URIs[0])
			if err != nil {
				t.Error(err)
			}
			vias <- id.String()
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	url, proxy, followerSrc := p.followerWith(at(ln.Addr().String()))
	c := p.client(appID)
	call := func() string {
		t.Helper()
		if err := c.Do(context.Background(), transport.Call{BaseURL: url, Path: "/v1/who", Request: struct{}{}}); err != nil {
			t.Fatal(err)
		}
		return <-vias
	}
	// Sequential requests share one connection to the leader.
	for range 20 {
		if via := call(); via != followerID.String() {
			t.Fatalf("the leader was called by %s", via)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 sequential requests opened %d connections to the leader, want 1", n)
	}
	// A rotated SVID is presented on the next new connection.
	rotated := spiffeid.RequireFromPath(td, identity.PathNexus+"/replica-2-rotated")
	svid, err := p.ca.Issue(rotated, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	followerSrc.SetSVID(svid)
	proxy.Close()
	if via := call(); via != rotated.String() {
		t.Fatalf("after rotation the leader was called by %s, want %s", via, rotated)
	}
}

func TestForwardConcurrentCallersKeepTheirIDs(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	l := p.leader()
	url := p.follower(at(l.addr))
	const callers, calls = 16, 10
	clients := make([]*transport.Client, callers)
	for i := range clients {
		clients[i] = p.client(spiffeid.RequireFromPath(td, identity.PathWorkloads+"/app-"+string(rune('a'+i))))
	}
	var wg sync.WaitGroup
	for i, c := range clients {
		want := spiffeid.RequireFromPath(td, identity.PathWorkloads+"/app-"+string(rune('a'+i))).String()
		wg.Go(func() {
			for range calls {
				var got seen
				if err := c.Do(context.Background(), transport.Call{BaseURL: url, Path: "/v1/who", Request: want, Response: &got}); err != nil {
					t.Error(err)
					return
				}
				if got.Peer != want || string(got.Body) != `"`+want+`"` {
					t.Errorf("caller %s: the leader saw %s with body %s", want, got.Peer, got.Body)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := l.calls.Load(); n != callers*calls {
		t.Fatalf("the leader served %d calls, want %d", n, callers*calls)
	}
}

func TestForwardSlowStreamStart(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	next := make(chan struct{})
	addr := p.listen(leaderID, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer begins after the follower's 300 ms write timeout
		// has passed, and its first line later still.
		time.Sleep(time.Second)
		w.Header().Set("Content-Type", api.ContentTypeNDJSON)
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		<-next
		io.WriteString(w, "{}\n")
	}))
	url := p.follower(at(addr))
	body, err := p.client(appID).Open(context.Background(), transport.Call{BaseURL: url, Path: "/v1/tail", Request: struct{}{}})
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	close(next)
	if got, err := io.ReadAll(body); err != nil || string(got) != "{}\n" {
		t.Fatalf("stream: %q, %v", got, err)
	}
}
