package transport

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/api"
)

// ErrorBody is SPIKE's error envelope.
type ErrorBody = api.ErrorResponse

// Request is what a handler sees of a request.
type Request struct {
	// ID identifies the request in logs and events.
	ID string
	// Peer is the caller's SPIFFE ID, proven by its client certificate,
	// or, for a request forwarded by a peer the server trusts to forward
	// (ServerOptions.TrustForwarded), the ID that peer vouches for.
	Peer spiffeid.ID
	// Via is the forwarding peer's own SPIFFE ID when Peer came from a
	// forwarded-peer header, and zero otherwise.
	Via    spiffeid.ID
	Path   string
	Action string
	// ContentType is the request's Content-Type header (stream routes
	// choose their mode by it).
	ContentType string
	// Body is the request body, at most the server's limit.
	Body []byte
	// Subject is what the request is about (a secret path, a policy
	// name) once a handler has authorised it, for the access log.
	Subject string
	// route is the route matched, for metrics and the access log.
	route *Route
	// forwarded: ServerOptions.Forward answered the request; aborted:
	// the answer was cut off (http.ErrAbortHandler).
	forwarded, aborted bool
}

// Response is what a handler returns: a status and a body encoded as
// JSON (a []byte body is written as is, for stream routes).
type Response struct {
	Status int
	Body   any
	// ContentType overrides application/json, for stream routes.
	ContentType string
	// Stream, if set, writes the body as it goes (Body is ignored): a
	// long-lived answer such as an audit tail. See StreamFunc.
	Stream StreamFunc
}

// Handler serves one route.
type Handler func(ctx context.Context, req *Request) Response

// Route binds a handler to an exact path and action.
type Route struct {
	// Name labels the route's metrics and access-log lines (an operation
	// name such as "secret.get"); "" counts it as "unknown".
	Name string
	// Event, if set, is the access-log message of a successful request
	// ("secret read"), so the important events read as such in the log.
	Event  string
	Path   string
	Action string
	// Allow, if set, is checked before the handler: a caller it refuses
	// gets 401 access_unauthorized and the handler never runs.
	Allow func(peer spiffeid.ID) bool
	// MaxBody bounds this route's body; 0 means the server's limit.
	MaxBody int64
	Handler Handler
}

// ServerOptions configure a Server.
type ServerOptions struct {
	// SVID and Bundle provide the server's certificate and the trust
	// bundles callers are verified against (an identity source usually
	// implements both).
	SVID   x509svid.Source
	Bundle x509bundle.Source
	// Authorizer decides at the TLS handshake which callers may connect
	// at all. Required: use tlsconfig.AuthorizeAny() explicitly to admit
	// every caller the bundle verifies.
	Authorizer tlsconfig.Authorizer
	// MaxBody bounds a request body unless a route sets its own; larger
	// requests get 400 api_bad_request (what SPIKE v0.8 clients understand)
	// and reach no handler. Default 1 MiB.
	MaxBody int64
	// Timeouts. Defaults: header 10s, read 30s, write 60s, idle 120s.
	// ReadHeaderTimeout also bounds the TLS handshake (net/http takes the
	// shortest of the first three), so a connection that never says a
	// word is closed after it.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxConnections caps the client connections open at once, TLS
	// handshakes in progress included; at the cap new connections wait
	// (in the kernel's backlog) until one closes. Default
	// DefaultMaxConnections; negative is an error.
	MaxConnections int
	// Logger receives the access log. Default slog.Default().
	Logger *slog.Logger
	// Metrics, if set, counts requests, connections and refused
	// handshakes.
	Metrics *Metrics
	// TrustForwarded, if set, names the peers (Nexus replicas) whose
	// HeaderForwardedPeer is believed: for their requests Peer becomes
	// the ID the header names and Via the peer itself. The named caller
	// must belong to a trust domain of Bundle and satisfy Authorizer, as
	// if it had connected; a malformed header gets 400 and nothing runs.
	// From every other peer the header is ignored.
	TrustForwarded func(peer spiffeid.ID) bool
	// Forward, if set, is offered each request that would reach a
	// handler (a known route that admits the caller) before its body is
	// read. It returns false, having written nothing, to let the route
	// serve the request here; or it answers the request (a follower
	// hands it to its leader) and returns true. r.Body is bounded by the
	// route's limit and r's context ends when the server shuts down. A
	// request that was itself forwarded (Via set) is never offered: one
	// hop at most, so two replicas that each take the other for the
	// leader cannot pass a request back and forth.
	Forward func(w http.ResponseWriter, r *http.Request, req *Request) bool
}

// Server is an mTLS API server.
type Server struct {
	opts   ServerOptions
	routes map[routeKey]Route
	http   *http.Server
	// streams ends when the server shuts down, and with it every stream:
	// http.Server.Shutdown waits for handlers but does not cancel them.
	streams     context.Context
	stopStreams context.CancelFunc
}

type routeKey struct{ path, action string }

// DefaultMaxBody is the default request body limit.
const DefaultMaxBody = 1 << 20

// NewServer checks the options and routes and returns a server.
func NewServer(opts ServerOptions, routes []Route) (*Server, error) {
	if opts.SVID == nil || opts.Bundle == nil {
		return nil, errors.New("transport: server needs an SVID source and a bundle source")
	}
	if opts.Authorizer == nil {
		return nil, errors.New("transport: server needs a TLS authorizer")
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = DefaultMaxBody
	}
	switch {
	case opts.MaxConnections < 0:
		return nil, fmt.Errorf("transport: max connections %d: want 0 (the default, %d) or more", opts.MaxConnections, DefaultMaxConnections)
	case opts.MaxConnections == 0:
		opts.MaxConnections = DefaultMaxConnections
	}
	opts.ReadHeaderTimeout = orDefault(opts.ReadHeaderTimeout, 10*time.Second)
	opts.ReadTimeout = orDefault(opts.ReadTimeout, 30*time.Second)
	opts.WriteTimeout = orDefault(opts.WriteTimeout, 60*time.Second)
	opts.IdleTimeout = orDefault(opts.IdleTimeout, 120*time.Second)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Server{opts: opts, routes: make(map[routeKey]Route, len(routes))}
	s.streams, s.stopStreams = context.WithCancel(context.Background())
	for _, r := range routes {
		k := routeKey{r.Path, r.Action}
		if _, dup := s.routes[k]; dup {
			return nil, fmt.Errorf("transport: route %s?action=%s registered twice", r.Path, r.Action)
		}
		if r.Handler == nil {
			return nil, fmt.Errorf("transport: route %s?action=%s has no handler", r.Path, r.Action)
		}
		s.routes[k] = r
	}
	tlsConf := tlsconfig.MTLSServerConfig(opts.SVID, opts.Bundle, opts.Authorizer)
	verifier := newPeerVerifier(opts.Bundle, opts.Authorizer)
	verifier.refused = opts.Metrics.peerRefusal
	tlsConf.VerifyPeerCertificate = verifier.verify
	tlsConf.MinVersion = tls.VersionTLS13
	s.http = &http.Server{
		Handler:           s,
		TLSConfig:         tlsConf,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(errorLog{opts.Metrics, opts.Logger}, "", 0),
		ConnState:         opts.Metrics.connState,
	}
	s.http.RegisterOnShutdown(s.stopStreams)
	return s, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Serve accepts connections on ln, at most MaxConnections at a time,
// until ctx ends, then shuts down gracefully (in-flight requests get up
// to 10 s).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ln = newLimitListener(ln, s.opts.MaxConnections, s.opts.Logger, s.opts.Metrics)
	errc := make(chan error, 1)
	go func() { errc <- s.http.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("transport: serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.http.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("transport: shutdown: %w", err)
	}
	return nil
}

// ListenAndServe listens on addr (host:port) and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("transport: listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// ServeHTTP routes one request. It is exported for http.Server only.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	answered := time.Time{} // when a stream's answer started
	req := &Request{ID: ulid.Make().String(), Path: r.URL.Path, Action: r.URL.Query().Get("action"), ContentType: r.Header.Get("Content-Type")}
	w.Header().Set("X-Request-Id", req.ID)
	rec := &recorder{ResponseWriter: w}
	defer func() {
		p := recover()
		// http.ErrAbortHandler is how a handler (a forwarding proxy
		// whose upstream broke mid-answer) cuts the connection on
		// purpose: no panic to report, and net/http must see it again.
		aborted := p == http.ErrAbortHandler
		if p != nil && !aborted {
			s.opts.Logger.Error("handler panicked", "request_id", req.ID, "path", req.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rec.status == 0 {
				writeJSON(rec, http.StatusInternalServerError, api.NewErrorResponse(api.CodeInternal))
			}
		}
		if aborted {
			req.aborted = true
			defer panic(p)
		}
		took := time.Since(start)
		name := ""
		if req.route != nil {
			name = req.route.Name
		}
		// A stream's latency is the time to its first byte: its length
		// is the caller's choice.
		latency := took
		if !answered.IsZero() {
			latency = answered.Sub(start)
		}
		s.opts.Metrics.observe(name, rec.status, latency)
		s.accessLog(r, req, rec, took)
	}()
	resp, forwarded := s.route(rec, r, req)
	if forwarded {
		return
	}
	if resp.Stream != nil {
		if resp.Status == 0 {
			resp.Status = http.StatusOK
		}
		answered = s.stream(rec, r, req, resp)
		return
	}
	s.write(rec, resp)
}

// route authenticates, authorises, reads the body and runs the handler;
// forwarded is true when ServerOptions.Forward answered instead.
func (s *Server) route(w http.ResponseWriter, r *http.Request, req *Request) (resp Response, forwarded bool) {
	peer, err := peerID(r)
	if err != nil {
		// The TLS layer should have refused the connection already.
		return Response{Status: http.StatusUnauthorized, Body: api.NewErrorResponse(api.CodeUnauthorized)}, false
	}
	req.Peer = peer
	if refused := s.forwardedPeer(r, req); refused != nil {
		return *refused, false
	}
	rt, ok := s.routes[routeKey{req.Path, req.Action}]
	if ok {
		req.route = &rt
	}
	if r.Method != http.MethodPost || !ok {
		return Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}, false
	}
	if rt.Allow != nil && !rt.Allow(req.Peer) {
		return Response{Status: http.StatusUnauthorized, Body: api.NewErrorResponse(api.CodeUnauthorized)}, false
	}
	limit := s.opts.MaxBody
	if rt.MaxBody > 0 {
		limit = rt.MaxBody
	}
	body := http.MaxBytesReader(nil, r.Body, limit)
	if s.forward(w, r, req, body) {
		return Response{}, true
	}
	data, err := io.ReadAll(body)
	if err != nil {
		// Too large, or the body broke off: either way nothing runs.
		return Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}, false
	}
	req.Body = data
	return rt.Handler(r.Context(), req), false
}

// forward offers the request to ServerOptions.Forward, with its body
// bounded and a context that ends when the server shuts down (as a
// stream's does: http.Server.Shutdown does not cancel handlers).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, req *Request, body io.ReadCloser) bool {
	if s.opts.Forward == nil || !req.Via.IsZero() {
		return false
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// At shutdown a forwarded request is given forwardGrace to finish,
	// as the leader answers a put in milliseconds: cutting it at once
	// would leave its caller not knowing whether it happened. Only what
	// is still running then, a forwarded audit tail, is cut, so that
	// shutdown does not wait on it for its whole timeout.
	grace := time.AfterFunc(time.Hour, cancel)
	grace.Stop()
	stop := context.AfterFunc(s.streams, func() { grace.Reset(forwardGrace) })
	defer func() {
		stop()
		grace.Stop() // a Reset after this cancels a finished request: no matter
	}()
	fr := r.WithContext(ctx)
	fr.Body = body
	req.forwarded = s.opts.Forward(w, fr, req)
	return req.forwarded
}

// forwardGrace is how long a forwarded request may run on once the
// server shuts down.
const forwardGrace = 3 * time.Second

func peerID(r *http.Request) (spiffeid.ID, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return spiffeid.ID{}, errors.New("no client certificate")
	}
	return x509svid.IDFromCert(r.TLS.PeerCertificates[0])
}

// noStore are the cache headers SPIKE sends on every JSON response.
var noStore = [][2]string{
	{"Cache-Control", "no-store, no-cache, must-revalidate, private"},
	{"Pragma", "no-cache"},
	{"Expires", "0"},
}

func (s *Server) write(w http.ResponseWriter, resp Response) {
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	if b, ok := resp.Body.([]byte); ok {
		ct := resp.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		setNoStore(w.Header())
		w.WriteHeader(resp.Status)
		w.Write(b)
		return
	}
	writeJSON(w, resp.Status, resp.Body)
}

func setNoStore(h http.Header) {
	for _, kv := range noStore {
		h.Set(kv[0], kv[1])
	}
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"err":"`+string(api.CodeInternal)+`"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	setNoStore(w.Header())
	w.WriteHeader(status)
	w.Write(b)
}

// recorder remembers the status and size written, for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

// Unwrap lets http.ResponseController reach the connection (streams
// flush and set deadlines through it).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += n
	return n, err
}

// accessLog writes one line per request: who, what, outcome, how long.
// Bodies are never logged: they may hold secrets. A refusal is a warning
// ("access denied"); a success on a route with an Event is logged under
// that name, so the log reads "secret read", "policy changed".
func (s *Server) accessLog(r *http.Request, req *Request, rec *recorder, took time.Duration) {
	msg, level, route := "request", slog.LevelInfo, unknownRoute
	if req.route != nil {
		route = req.route.Name
		if req.route.Event != "" && rec.status < 400 {
			msg = req.route.Event
		}
	}
	if req.forwarded {
		// The server that answered logs the event itself.
		msg = "request forwarded"
	}
	if rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden {
		msg, level = "access denied", slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("request_id", req.ID),
		slog.String("peer", req.Peer.String()),
		slog.String("route", route),
		slog.String("subject", clip(req.Subject)),
		slog.String("method", r.Method),
		slog.String("path", req.Path),
		slog.String("action", req.Action),
		slog.Int("status", rec.status),
		slog.Int("bytes_in", len(req.Body)),
		slog.Int("bytes_out", rec.bytes),
		slog.Float64("duration_ms", float64(took.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	}
	if !req.Via.IsZero() {
		attrs = append(attrs, slog.String("via", req.Via.String()))
	}
	if req.aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	s.opts.Logger.LogAttrs(r.Context(), level, msg, attrs...)
}

// maxSubject bounds the subject in a log line: it is the caller's input
// (authorisation runs before validation), so it may be anything.
const maxSubject = 512

func clip(s string) string {
	if len(s) <= maxSubject {
		return s
	}
	return strings.ToValidUTF8(s[:maxSubject], "") + "…"
}
