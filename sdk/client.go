package sdk

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// Client calls Nexus. It is safe for concurrent use; connections are
// reused across calls. Close it when done.
type Client struct {
	nexus     string
	svid      x509svid.Source
	json      *transport.Client
	stream    *http.Client // stream-mode cipher calls, which send raw bytes
	retryWait time.Duration
	// refusedWait bounds the retries of a refused connection, within
	// retryWait; notice, if set, hears of each call's first wait.
	refusedWait time.Duration
	notice      func(Wait)
	logger      *slog.Logger
	closeSrc    func() error // nil for a caller's source
}

// New returns a client with its SVID source ready: it waits (at most the
// source timeout, and no longer than ctx) for the first SVID. ctx bounds
// only that wait. See the package documentation for the defaults.
func New(ctx context.Context, opts ...Option) (*Client, error) {
	s, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	roles, err := s.roles()
	if err != nil {
		return nil, err
	}
	c := &Client{nexus: s.nexusURL, retryWait: s.retryWait, refusedWait: s.refusedWait, notice: s.notice, logger: s.logger}
	bundle, err := c.openSource(ctx, s)
	if err != nil {
		return nil, err
	}
	nexusOnly := identity.AuthorizeRoles(roles.IsNexus)
	// The transport's own retries are off: the client retries every call
	// itself (see retry.go), so that writes are retried on 503 too and no
	// call is retried twice over.
	c.json, err = transport.NewClient(transport.ClientOptions{SVID: c.svid, Bundle: bundle, Server: nexusOnly, Retries: -1, Logger: s.logger})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sdk: %w", err)
	}
	c.stream = streamClient(c.svid, bundle, nexusOnly)
	return c, nil
}

// openSource sets c.svid from the caller's source or opens one, and
// returns the bundle source.
func (c *Client) openSource(ctx context.Context, s settings) (x509bundle.Source, error) {
	if s.svid != nil {
		c.svid = s.svid
		return s.bundle, nil
	}
	socket := s.socket
	if socket == "" && s.svidDir == "" {
		socket = s.env(EnvSocket)
	}
	src, err := identity.OpenSource(ctx, socket, s.svidDir, s.sourceTimeout, s.logger)
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	c.svid, c.closeSrc = src, src.Close
	return src, nil
}

// streamClient is an HTTP client with the same mTLS settings as the
// transport's, for the stream-mode cipher calls the transport (which
// speaks JSON only) cannot make.
func streamClient(svid x509svid.Source, bundle x509bundle.Source, server tlsconfig.Authorizer) *http.Client {
	conf := tlsconfig.MTLSClientConfig(svid, bundle, server)
	conf.MinVersion = tls.VersionTLS13
	return &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			TLSClientConfig:       conf,
			DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 10 * time.Second,
			IdleConnTimeout:       30 * time.Second,
			MaxIdleConnsPerHost:   2,
			ForceAttemptHTTP2:     false, // as the transport: HTTP/1.1 over TLS 1.3
		},
	}
}

// Close drops idle connections and closes the SVID source the client
// opened (not one given with WithSource). Do not use the client after
// Close.
func (c *Client) Close() error {
	if c.json != nil {
		c.json.Close()
	}
	if c.stream != nil {
		c.stream.CloseIdleConnections()
	}
	if c.closeSrc != nil {
		return c.closeSrc()
	}
	return nil
}

// NexusURL returns the base URL the client calls.
func (c *Client) NexusURL() string { return c.nexus }

// SPIFFEID returns the SPIFFE ID the client presents: its current SVID's.
func (c *Client) SPIFFEID() (spiffeid.ID, error) {
	svid, err := c.svid.GetX509SVID()
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("sdk: own SVID: %w", err)
	}
	return svid.ID, nil
}

// call checks req locally, sends it and decodes a 200 answer into resp
// (which may be nil), retrying while Nexus is not ready. target is the
// path or policy name the errors name.
func (c *Client) call(ctx context.Context, target string, req api.Request, resp any) error {
	op := req.Op()
	if err := req.Validate(); err != nil {
		return invalidError(op, target, err)
	}
	var into any // nil, not a nil *answerInto: the transport then decodes nothing
	ans := &answerInto{v: resp}
	if resp != nil {
		into = ans
	}
	err := c.retry(ctx, op, func(ctx context.Context) error {
		return c.json.Do(ctx, transport.Call{
			BaseURL: c.nexus, Path: op.Path(), Action: string(op.Action()),
			Request: req, Response: into,
		})
	})
	if err != nil {
		if ans.failed || isSyntaxError(err) {
			err = fmt.Errorf("%w: %w", ErrBadAnswer, err)
		}
		return callError(op, target, err)
	}
	return nil
}

// answerInto decodes a 200 answer into v and remembers whether that
// failed, so that an answer the client cannot read is told apart from a
// call that got none.
type answerInto struct {
	v      any
	failed bool
}

func (a *answerInto) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, a.v); err != nil {
		a.failed = true
		return err
	}
	return nil
}

// isSyntaxError: the answer was not JSON at all, which encoding/json
// finds before it hands the body to answerInto.
func isSyntaxError(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se)
}
