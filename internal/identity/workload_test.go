package identity

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestWorkloadAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, socket, env string
		want              string // "" means an error
	}{
		{"explicit", "unix:///run/agent.sock", "unix:///ignored.sock", "unix:///run/agent.sock"},
		{"bare path", "/run/agent.sock", "", "unix:///run/agent.sock"},
		{"from env", "", "unix:///env/agent.sock", "unix:///env/agent.sock"},
		{"bare path from env", "  ", "/env/agent.sock", "unix:///env/agent.sock"},
		{"default", "", "", DefaultWorkloadSocket},
		{"tcp", "tcp://127.0.0.1:8081", "", "tcp://127.0.0.1:8081"},
		{"tcp needs an IP", "tcp://localhost:8081", "", ""},
		{"unknown scheme", "http://x", "", ""},
		{"relative path", "agent.sock", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := func(name string) (string, bool) {
				if name != "SPIFFE_ENDPOINT_SOCKET" {
					t.Errorf("read %s", name)
				}
				return tc.env, tc.env != ""
			}
			got, err := workloadAddr(tc.socket, env)
			switch {
			case tc.want == "" && err == nil:
				t.Fatalf("accepted %q as %q", tc.socket, got)
			case tc.want == "" && !strings.HasPrefix(err.Error(), "identity: Workload API address"):
				t.Fatalf("error lacks context: %v", err)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Fatalf("workloadAddr = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestWorkloadSourceFailsWithinTimeout(t *testing.T) {
	t.Parallel()
	const registered = "is the agent running and is this workload registered?"
	deny := startFakeAgent(t, &fakeAgent{deny: true})
	for _, tc := range []struct {
		name, socket string
		want         []string
	}{
		{"no socket", "unix://" + filepath.Join(t.TempDir(), "missing.sock"),
			[]string{"missing.sock", "file does not exist", "is SPIFFE_ENDPOINT_SOCKET right?"}},
		{"no agent on tcp", "tcp://127.0.0.1:1", []string{"tcp://127.0.0.1:1", registered}},
		{"workload not registered", deny, []string{"no identity issued", registered}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const timeout = time.Second
			ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
			defer cancel()
			src, err := NewWorkloadSource(ctx, tc.socket, timeout)
			if err == nil {
				_ = src.Close()
				t.Fatal("got a source without an agent")
			}
			if ctx.Err() != nil {
				t.Fatalf("did not give up within its timeout: %v", err)
			}
			msg := err.Error()
			want := append([]string{"identity: no SVID from the SPIRE agent at " + tc.socket + " within 1s"}, tc.want...)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			if !errors.Is(err, ErrNoSVID) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error does not match ErrNoSVID and DeadlineExceeded: %v", err)
			}
		})
	}
}

func TestWorkloadSourceCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewWorkloadSource(ctx, "unix:///nonexistent/agent.sock", waitLimit)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNoSVID) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestWorkloadSourceFollowsRotation(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	agent := &fakeAgent{updates: make(chan *workload.X509SVIDResponse, 1)}
	addr := startFakeAgent(t, agent)
	first := issue(t, ca, "/spike/nexus")
	agent.updates <- response(t, first, ca)

	src, err := NewWorkloadSource(t.Context(), addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Addr() != addr || currentSerial(t, src) != serialOf(first) {
		t.Fatalf("source at %s serves %s, want %s", src.Addr(), currentSerial(t, src), serialOf(first))
	}
	if b, err := src.GetX509BundleForTrustDomain(ca.TrustDomain()); err != nil || !b.Equal(ca.Bundle()) {
		t.Fatalf("bundle = %v, %v", b, err)
	}

	next := issue(t, ca, "/spike/nexus")
	agent.updates <- response(t, next, ca)
	waitUpdated(t, src.Updated())
	if got := currentSerial(t, src); got != serialOf(next) {
		t.Fatalf("after rotation serial %s, want %s", got, serialOf(next))
	}

	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.GetX509SVID(); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetX509SVID after Close: %v", err)
	}
}

// fakeAgent serves the X.509 part of the Workload API: it streams the
// responses sent on updates, or denies every caller.
type fakeAgent struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	updates chan *workload.X509SVIDResponse
	deny    bool
}

func (a *fakeAgent) FetchX509SVID(_ *workload.X509SVIDRequest, stream workload.SpiffeWorkloadAPI_FetchX509SVIDServer) error {
	if a.deny {
		return status.Error(codes.PermissionDenied, "no identity issued")
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case r := <-a.updates:
			if err := stream.Send(r); err != nil {
				return err
			}
		}
	}
}

// startFakeAgent serves agent on a unix socket and returns its address.
func startFakeAgent(t *testing.T, agent *fakeAgent) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.sock")
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	workload.RegisterSpiffeWorkloadAPIServer(srv, agent)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return "unix://" + path
}

func response(t *testing.T, svid *x509svid.SVID, ca *DevCA) *workload.X509SVIDResponse {
	t.Helper()
	certs, key, err := svid.MarshalRaw()
	if err != nil {
		t.Fatal(err)
	}
	return &workload.X509SVIDResponse{Svids: []*workload.X509SVID{{
		SpiffeId:    svid.ID.String(),
		X509Svid:    certs,
		X509SvidKey: key,
		Bundle:      ca.Certificate().Raw,
	}}}
}
