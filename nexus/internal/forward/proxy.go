package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// Config configures a Proxy. Zero durations and sizes take the defaults.
type Config struct {
	// Source provides the follower's own SVID, presented to the leader,
	// and the bundles the leader's certificate is verified against. It
	// is read at each handshake, so a rotated SVID is used as soon as a
	// new connection is made.
	Source identity.Source
	// LeaderID accepts the SPIFFE ID the leader presents; a leader it
	// refuses is never sent a request. Required: NexusOnly admits the
	// spike/nexus identities of a Roles.
	LeaderID func(spiffeid.ID) error
	// Leader returns the leader's API address (host:port), or false when
	// no leader is known.
	Leader func() (apiAddr string, ok bool)
	// MaxBody bounds a request body. Default api.SecretBodyLimit, the
	// largest any operation takes; a transport.Server hands Forward a
	// body already bounded by its route's limit.
	MaxBody int64
	// DialTimeout bounds connecting to the leader, TLS handshake
	// included (default 5 s: a leader that does not answer is likely
	// gone, and the client is better told to retry).
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the leader's answer to
	// begin (default 30 s).
	ResponseHeaderTimeout time.Duration
	// WriteTimeout bounds each write of the answer to the client
	// (default 60 s, the transport server's default write timeout): it
	// replaces the server's whole-request write deadline, which a
	// forwarded stream such as an audit tail must outlive.
	WriteTimeout time.Duration
	// IdleConnTimeout closes pooled connections to the leader left idle
	// this long (default 90 s).
	IdleConnTimeout time.Duration
	// MaxIdleConns is how many idle connections to the leader are kept
	// for reuse (default 64).
	MaxIdleConns int
	// Logger hears of requests that failed to reach the leader; never of
	// bodies. Default slog.Default().
	Logger *slog.Logger
}

// Proxy forwards requests to the leader. It is safe for concurrent use.
type Proxy struct {
	cfg Config
	tr  *http.Transport
	rp  *httputil.ReverseProxy
}

// NexusOnly returns a LeaderID check that admits only roles' Nexus IDs.
func NexusOnly(roles *identity.Roles) func(spiffeid.ID) error {
	return func(id spiffeid.ID) error {
		if !roles.IsNexus(id) {
			return fmt.Errorf("forward: %s is not a Nexus identity", id)
		}
		return nil
	}
}

// New returns a proxy. It panics if Source, LeaderID or Leader is
// missing: that is a wiring mistake, not a condition to handle.
func New(cfg Config) *Proxy {
	if cfg.Source == nil || cfg.LeaderID == nil || cfg.Leader == nil {
		panic("forward: Config needs Source, LeaderID and Leader")
	}
	cfg.MaxBody = positive(cfg.MaxBody, api.SecretBodyLimit)
	cfg.DialTimeout = positive(cfg.DialTimeout, 5*time.Second)
	cfg.ResponseHeaderTimeout = positive(cfg.ResponseHeaderTimeout, 30*time.Second)
	cfg.WriteTimeout = positive(cfg.WriteTimeout, 60*time.Second)
	cfg.IdleConnTimeout = positive(cfg.IdleConnTimeout, 90*time.Second)
	cfg.MaxIdleConns = positive(cfg.MaxIdleConns, 64)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tlsConf := tlsconfig.MTLSClientConfig(cfg.Source, cfg.Source, tlsconfig.AdaptMatcher(cfg.LeaderID))
	tlsConf.MinVersion = tls.VersionTLS13
	p := &Proxy{cfg: cfg}
	p.tr = &http.Transport{
		TLSClientConfig:       tlsConf,
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   cfg.DialTimeout,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		IdleConnTimeout:       cfg.IdleConnTimeout,
		MaxIdleConns:          cfg.MaxIdleConns,
		MaxIdleConnsPerHost:   cfg.MaxIdleConns,
		// HTTP/1.1, as every other spike client speaks (see
		// transport.NewClient); the pool keeps the handshakes rare.
		ForceAttemptHTTP2: false,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   rewrite,
		Transport: p.tr,
		// No periodic flushing: ReverseProxy flushes an answer of
		// unknown length (chunked, as an audit tail is) at once and
		// after every write anyway, and an answer of known length is
		// best sent in one write.
		FlushInterval:  0,
		ModifyResponse: modifyResponse,
		ErrorHandler:   p.failed,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	return p
}

func positive[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Close drops the idle connections to the leader.
func (p *Proxy) Close() { p.tr.CloseIdleConnections() }

// Forward sends r to the leader as if caller had sent it and streams the
// answer back to w. It reads r's body whole first (at most MaxBody; more
// is answered 400 and nothing is sent), so that a request the leader may
// have acted on can be told from one it never saw.
func (p *Proxy) Forward(w http.ResponseWriter, r *http.Request, caller spiffeid.ID) {
	addr, ok := p.cfg.Leader()
	if !ok {
		writeProblem(w, http.StatusServiceUnavailable, api.ReasonNoLeader, "no cluster leader is known; try again")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, p.cfg.MaxBody))
	if err != nil {
		writeProblem(w, http.StatusBadRequest, "", "")
		return
	}
	// (Once the body is read, net/http lifts the read deadline itself.)
	st := &state{leader: addr, caller: caller, body: body}
	ctx := context.WithValue(r.Context(), stateKey{}, st)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { st.sent.Store(true) },
	})
	dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: p.cfg.WriteTimeout}
	p.rp.ServeHTTP(dw, r.WithContext(ctx))
}

// state is one forwarded request's, carried in its context from Forward
// to the proxy's callbacks.
type state struct {
	leader string
	caller spiffeid.ID
	body   []byte
	// sent is set once the request was written to the leader, who may
	// then have acted on it.
	sent atomic.Bool
}

type stateKey struct{}

func stateOf(r *http.Request) *state { return r.Context().Value(stateKey{}).(*state) }

// rewrite addresses the request to the leader, same path and query, with
// the buffered body and the caller named in the forwarded-peer header.
// Hop-by-hop and X-Forwarded headers are gone already (ReverseProxy
// removes them); every Spike-Forwarded- header the client sent goes
// here, so that only this server vouches for a caller.
func rewrite(pr *httputil.ProxyRequest) {
	st := stateOf(pr.In)
	pr.SetURL(&url.URL{Scheme: "https", Host: st.leader})
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	for k := range pr.Out.Header {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "Spike-Forwarded-") {
			delete(pr.Out.Header, k)
		}
	}
	pr.Out.Header.Set(transport.HeaderForwardedPeer, st.caller.String())
	pr.Out.Body = io.NopCloser(bytes.NewReader(st.body))
	pr.Out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(st.body)), nil }
	pr.Out.ContentLength = int64(len(st.body))
	pr.Out.TransferEncoding = nil
}

// modifyResponse drops the leader's request id: the forwarding server
// has set its own, which its access log holds, and a second would be
// ambiguous.
func modifyResponse(resp *http.Response) error {
	resp.Header.Del("X-Request-Id")
	return nil
}

// failed answers a request that got no answer from the leader (nor any
// part of one: an answer that breaks off once begun makes ReverseProxy
// cut the connection itself).
func (p *Proxy) failed(w http.ResponseWriter, r *http.Request, err error) {
	st := stateOf(r)
	log := p.cfg.Logger.With("leader", st.leader, "caller", st.caller.String(), "err", err)
	if st.sent.Load() {
		// The leader may have acted: only a cut connection tells the
		// client as little as the leader dying would have, and never
		// a 503, which promises that nothing was done.
		if r.Context().Err() == nil {
			log.Warn("forward: the leader failed after the request was sent; cutting the connection")
		}
		panic(http.ErrAbortHandler)
	}
	if r.Context().Err() == nil {
		log.Warn("forward: the leader could not be reached")
	}
	writeProblem(w, http.StatusServiceUnavailable, api.ReasonNoLeader, "the cluster leader could not be reached; try again")
}

// writeProblem answers as transport's server does: SPIKE's JSON error
// envelope (an api.Problem when there is a reason), no-store headers.
func writeProblem(w http.ResponseWriter, status int, reason api.Reason, message string) {
	var body any = api.NewErrorResponse(api.CodeForStatus(status))
	if reason != "" {
		body = api.Problem{Err: api.CodeForStatus(status), Reason: reason, Message: message}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err) // two strings cannot fail to encode
	}
	api.SetJSONHeaders(w.Header())
	w.WriteHeader(status)
	w.Write(b)
}

// deadlineWriter gives each write of the answer a fresh write deadline,
// as transport's streams do: a long answer outlives the server's
// per-request deadline, a client that stops reading does not.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	if err := d.extend(); err != nil {
		return 0, err
	}
	return d.ResponseWriter.Write(b)
}

// FlushError flushes within a fresh deadline too: ReverseProxy flushes
// an answer's headers before any of its body, which may come much later.
func (d *deadlineWriter) FlushError() error {
	if err := d.extend(); err != nil {
		return err
	}
	return d.rc.Flush()
}

func (d *deadlineWriter) extend() error {
	if err := d.rc.SetWriteDeadline(time.Now().Add(d.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("forward: %w", err)
	}
	return nil
}

// Unwrap lets http.ResponseController (ReverseProxy flushes through one)
// reach the connection.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
