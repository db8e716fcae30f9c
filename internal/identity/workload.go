package identity

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// DefaultWorkloadSocket is the Workload API address used when neither an
// explicit socket nor SPIFFE_ENDPOINT_SOCKET is given, as in SPIKE.
const DefaultWorkloadSocket = "unix:///tmp/spire-agent/public/api.sock"

// WorkloadSource is a Source backed by the SPIFFE Workload API of a SPIRE
// agent. It follows the agent's rotations of the SVID and the bundles.
type WorkloadSource struct {
	src    *workloadapi.X509Source
	addr   string
	closed atomic.Bool
}

// NewWorkloadSource connects to the Workload API at socket and waits, at
// most timeout (DefaultTimeout if zero or negative), for the first SVID.
// An empty socket means SPIFFE_ENDPOINT_SOCKET, then DefaultWorkloadSocket;
// a bare absolute path is taken as a unix socket. If no SVID arrives in
// time the error is one line naming the address and the last failure, and
// matches ErrNoSVID. The context bounds only the wait: the source keeps
// watching for rotations until Close.
func NewWorkloadSource(ctx context.Context, socket string, timeout time.Duration) (*WorkloadSource, error) {
	addr, err := workloadAddr(socket, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := waitForSocket(ctx, addr, min(timeout, socketWait)); err != nil {
		return nil, err
	}
	waitCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	watchErrs := &lastWatchError{}
	src, err := workloadapi.NewX509Source(waitCtx, workloadapi.WithClientOptions(
		workloadapi.WithAddr(addr),
		workloadapi.WithLogger(watchErrs),
	))
	if err != nil {
		return nil, workloadError(ctx, addr, timeout, watchErrs.get(), err)
	}
	return &WorkloadSource{src: src, addr: addr}, nil
}

// socketWait bounds the wait for a unix socket to appear. An agent that is
// starting creates its socket within seconds; the rest of the timeout is
// for what needs the socket (attestation, the first SVID). Without it, a
// mistyped or unset address cost a user the whole timeout.
const socketWait = 5 * time.Second

// waitForSocket waits at most d for a unix Workload API socket to exist;
// other addresses (tcp) are not checked.
func waitForSocket(ctx context.Context, addr string, d time.Duration) error {
	path, ok := strings.CutPrefix(addr, "unix://")
	if !ok {
		return nil
	}
	deadline := time.Now().Add(d)
	for {
		if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return nil // there, or not ours to judge: let the dial say
		}
		if time.Now().After(deadline) {
			return &waitError{
				msg: fmt.Sprintf("identity: no SVID from the SPIRE agent at %s within %s (no socket there: %v): "+
					"is the agent running, and is SPIFFE_ENDPOINT_SOCKET right?", addr, d, fs.ErrNotExist),
				cause: context.DeadlineExceeded,
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("identity: waiting for the SPIRE agent socket %s: %w", path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// workloadAddr resolves and validates the Workload API address, reading
// SPIFFE_ENDPOINT_SOCKET through env when socket is empty.
func workloadAddr(socket string, env func(string) (string, bool)) (string, error) {
	addr := strings.TrimSpace(socket)
	if addr == "" {
		v, _ := env(workloadapi.SocketEnv)
		addr = strings.TrimSpace(v)
	}
	if addr == "" {
		addr = DefaultWorkloadSocket
	}
	if strings.HasPrefix(addr, "/") {
		addr = "unix://" + addr
	}
	if err := workloadapi.ValidateAddress(addr); err != nil {
		return "", fmt.Errorf("identity: Workload API address %q: %w", addr, err)
	}
	return addr, nil
}

// workloadError turns a failed wait for the first SVID into one line.
func workloadError(ctx context.Context, addr string, timeout time.Duration, last string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("identity: waiting for an SVID from %s: %w", addr, ctx.Err())
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("identity: Workload API at %s: %w", addr, err)
	}
	detail := ""
	if last != "" {
		detail = " (last error: " + last + ")"
	}
	return &waitError{
		msg: fmt.Sprintf("identity: no SVID from the SPIRE agent at %s within %s%s: "+
			"is the agent running and is this workload registered?", addr, timeout, detail),
		cause: err,
	}
}

// Addr returns the Workload API address the source is connected to.
func (s *WorkloadSource) Addr() string { return s.addr }

// GetX509SVID returns the current X.509-SVID.
func (s *WorkloadSource) GetX509SVID() (*x509svid.SVID, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	svid, err := s.src.GetX509SVID()
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return svid, nil
}

// GetX509BundleForTrustDomain returns the current bundle of td.
func (s *WorkloadSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	b, err := s.src.GetX509BundleForTrustDomain(td)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return b, nil
}

// Updated is signalled after each update received from the agent.
func (s *WorkloadSource) Updated() <-chan struct{} { return s.src.Updated() }

// Close stops watching the Workload API.
func (s *WorkloadSource) Close() error {
	s.closed.Store(true)
	if err := s.src.Close(); err != nil {
		return fmt.Errorf("identity: closing Workload API source: %w", err)
	}
	return nil
}

// lastWatchError is a go-spiffe logger that remembers the most recent
// error the Workload API client reported, so a timeout can say why.
type lastWatchError struct {
	mu   sync.Mutex
	last string
}

func (l *lastWatchError) Debugf(string, ...any) {}

func (l *lastWatchError) Infof(string, ...any) {}

func (l *lastWatchError) Warnf(_ string, args ...any) { l.record(args) }

func (l *lastWatchError) Errorf(_ string, args ...any) { l.record(args) }

func (l *lastWatchError) record(args []any) {
	for _, a := range args {
		if err, ok := a.(error); ok {
			msg := strings.Join(strings.Fields(err.Error()), " ")
			l.mu.Lock()
			l.last = msg
			l.mu.Unlock()
		}
	}
}

func (l *lastWatchError) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}
