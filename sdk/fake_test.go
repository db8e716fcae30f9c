package sdk

import (
	"context"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// fakeNexus is a server on the real transport, with a dev CA's identity,
// whose every route answers with the handler the test gives. It counts
// the requests that reach a handler.
type fakeNexus struct {
	ca    *identity.DevCA
	url   string
	calls atomic.Int64
}

var testTD = spiffeid.RequireTrustDomainFromString(identity.DefaultTrustRoot)

// startFake serves h on every Nexus route under the SPIFFE ID path
// serverPath (identity.PathNexus for a real Nexus).
func startFake(t *testing.T, serverPath string, h transport.Handler) *fakeNexus {
	t.Helper()
	ca, err := identity.NewDevCA(testTD, 0)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.Issue(spiffeid.RequireFromPath(testTD, serverPath), 0)
	if err != nil {
		t.Fatal(err)
	}
	src := identity.NewStaticSource(svid, ca.Bundle())
	f := &fakeNexus{ca: ca}
	counted := func(ctx context.Context, r *transport.Request) transport.Response {
		f.calls.Add(1)
		return h(ctx, r)
	}
	var routes []transport.Route
	for _, op := range api.Ops() {
		if op.Service() == api.ServiceNexus {
			routes = append(routes, transport.Route{Path: op.Path(), Action: string(op.Action()), Handler: counted})
		}
	}
	srv, err := transport.NewServer(transport.ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(),
		Logger: slog.New(slog.DiscardHandler)}, routes)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	f.url = "https://" + ln.Addr().String()
	return f
}

// client returns a client of f as spiffe://spike.ist/workload/test, with
// an empty environment and the given retry wait.
func (f *fakeNexus) client(t *testing.T, retry time.Duration) *Client {
	t.Helper()
	return clientOf(t, f.ca, f.url, retry)
}

func clientOf(t *testing.T, ca *identity.DevCA, url string, retry time.Duration) *Client {
	t.Helper()
	svid, err := ca.Issue(spiffeid.RequireFromPath(testTD, "/workload/test"), 0)
	if err != nil {
		t.Fatal(err)
	}
	src := identity.NewStaticSource(svid, ca.Bundle())
	c, err := New(t.Context(), WithSource(src, src), WithNexusURL(url), WithRetry(retry),
		WithLogger(slog.New(slog.DiscardHandler)), withEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// withEnv replaces the process environment with m.
func withEnv(m map[string]string) Option {
	return func(s *settings) {
		s.lookupEnv = func(k string) (string, bool) {
			v, ok := m[k]
			return v, ok
		}
	}
}

// answer is a handler that always gives status and body.
func answer(status int, body any) transport.Handler {
	return func(context.Context, *transport.Request) transport.Response {
		return transport.Response{Status: status, Body: body}
	}
}
func mustID(t *testing.T, s string) spiffeid.ID {
	t.Helper()
	id, err := spiffeid.FromString(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
