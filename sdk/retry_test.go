package sdk

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// sealedFor answers 503 state_not_ready to the first n requests, then
// gives ok.
func sealedFor(n int64, ok transport.Response) transport.Handler {
	var seen atomic.Int64
	return func(context.Context, *transport.Request) transport.Response {
		if seen.Add(1) <= n {
			return transport.Response{Status: http.StatusServiceUnavailable, Body: api.NewErrorResponse(api.CodeNotReady)}
		}
		return ok
	}
}

func TestRetryWhileNotReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		sealed    int64
		retry     time.Duration
		call      func(context.Context, *Client) error
		wantErr   error
		wantCalls int64 // 0: do not check
	}{
		{name: "read retried", sealed: 3, retry: time.Minute, wantCalls: 4, call: func(ctx context.Context, c *Client) error {
			_, err := c.GetSecret(ctx, "a/b", 0)
			return err
		}},
		{name: "write retried", sealed: 2, retry: time.Minute, wantCalls: 3, call: func(ctx context.Context, c *Client) error {
			_, err := c.PutSecret(ctx, "a/b", map[string]string{"k": "v"})
			return err
		}},
		{name: "stream retried", sealed: 2, retry: time.Minute, wantCalls: 3, call: func(ctx context.Context, c *Client) error {
			_, err := c.EncryptStream(ctx, bytes.NewReader([]byte("x")))
			return err
		}},
		{name: "retries off", sealed: 1, retry: 0, wantCalls: 1, wantErr: ErrNotReady, call: func(ctx context.Context, c *Client) error {
			return c.DeleteSecret(ctx, "a/b")
		}},
		{name: "gives up after the wait", sealed: 1 << 40, retry: 300 * time.Millisecond, wantErr: ErrNotReady, call: func(ctx context.Context, c *Client) error {
			_, err := c.GetSecret(ctx, "a/b", 0)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, identity.PathNexus, sealedFor(tt.sealed, transport.Response{Body: map[string]any{"data": map[string]string{}}}))
			err := tt.call(t.Context(), f.client(t, tt.retry))
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %v, want %v", err, tt.wantErr)
			}
			if got := f.calls.Load(); tt.wantCalls != 0 && got != tt.wantCalls {
				t.Errorf("%d requests, want %d", got, tt.wantCalls)
			}
		})
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	f := startFake(t, identity.PathNexus, sealedFor(1<<40, transport.Response{}))
	ctx, cancel := context.WithCancel(t.Context())
	c := f.client(t, time.Hour)
	// Cancel when the client announces its second wait: the answer is in
	// and the next attempt not yet sent.
	c.logger = slog.New(onRecord{n: 2, f: cancel, seen: new(atomic.Int64)})
	_, err := c.GetSecret(ctx, "a/b", 0)
	if !errors.Is(err, ErrNotReady) || !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want ErrNotReady and context.Canceled", err)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// onRecord is a slog handler that calls f on its n-th record.
type onRecord struct {
	n    int64
	f    func()
	seen *atomic.Int64
}

func (h onRecord) Enabled(context.Context, slog.Level) bool { return true }
func (h onRecord) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h onRecord) WithGroup(string) slog.Handler            { return h }
func (h onRecord) Handle(_ context.Context, _ slog.Record) error {
	if h.seen.Add(1) == h.n {
		h.f()
	}
	return nil
}

// Other refusals are final: no second attempt.
func TestNoRetryOnFinalAnswers(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			t.Parallel()
			f := startFake(t, identity.PathNexus, answer(status, api.NewErrorResponse(api.CodeOf(nil))))
			_, err := f.client(t, time.Minute).PutSecret(t.Context(), "a/b", nil)
			var e *Error
			if !errors.As(err, &e) || e.Status != status || e.Op != api.OpSecretPut || e.Path != "a/b" {
				t.Fatalf("got %#v", err)
			}
			if n := f.calls.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
}

// A refused connection is retried (nothing was sent) until the wait
// ends, and reported as a connection failure, not as an answer.
func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	ca, err := identity.NewDevCA(testTD, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = clientOf(t, ca, "https://"+addr, 300*time.Millisecond).PutSecret(t.Context(), "a/b", nil)
	var e *Error
	if !errors.As(err, &e) || e.Status != 0 || e.Code != "" || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("got %#v, want a refused connection", err)
	}
	for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrNotReady, ErrBadRequest, ErrConflict, ErrBadAnswer} {
		if errors.Is(err, s) {
			t.Errorf("%v matches %v", err, s)
		}
	}
}

// The client talks only to Nexus: a server with another SPIFFE ID of the
// same trust domain is refused at the handshake, and not retried.
func TestServerPinnedToNexus(t *testing.T) {
	t.Parallel()
	for _, path := range []string{identity.PathKeeper + "/1", identity.PathPilotSuperuser, "/workload/nexus", identity.PathNexus + "-evil"} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, path, answer(200, api.SecretGetResponse{Data: map[string]string{"k": "v"}}))
			_, err := f.client(t, time.Minute).GetSecret(t.Context(), "a/b", 0)
			var e *Error
			if !errors.As(err, &e) || e.Status != 0 {
				t.Fatalf("got %v, want a refused handshake", err)
			}
			if n := f.calls.Load(); n != 0 {
				t.Errorf("%d requests reached an impostor", n)
			}
		})
	}
}

// notSent is err as the transport reports a call that failed before its
// request was written.
func notSent(err error) error { return fmt.Errorf("transport: %w: %w", transport.ErrNotSent, err) }

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		op   api.Op
		err  error
		want bool
	}{
		{api.OpSecretPut, &transport.StatusError{Status: 503}, true},
		{api.OpSecretPut, &transport.StatusError{Status: 500}, false},
		{api.OpSecretPut, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{api.OpSecretPut, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, false},
		{api.OpSecretGet, &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{api.OpSecretGet, context.DeadlineExceeded, false},
		{api.OpSecretGet, errors.New("tls: bad certificate"), false},
		// Failed before the request was written: nothing can have run.
		{api.OpSecretPut, notSent(&net.OpError{Op: "dial", Err: syscall.ECONNRESET}), true},
		{api.OpSecretPut, notSent(io.EOF), true},
		{api.OpSecretPut, notSent(tls.AlertError(42)), false},
		{api.OpSecretPut, notSent(&tls.CertificateVerificationError{Err: errors.New("unknown authority")}), false},
		{api.OpSecretPut, notSent(errors.New("some other failure")), false},
	}
	for _, tt := range tests {
		if got := retryable(tt.op, tt.err); got != tt.want {
			t.Errorf("retryable(%v, %v) = %v, want %v", tt.op, tt.err, got, tt.want)
		}
	}
}

// A refused connection is retried only for the refused wait, however long
// the retry wait: nothing listening is said at once, not after the whole
// wait. 503s are retried for the whole wait, and the notice hears of the
// first wait of each call only.
func TestRefusedWait(t *testing.T) {
	t.Parallel()
	refusedErr := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	sealedErr := &transport.StatusError{Status: http.StatusServiceUnavailable, Code: api.CodeNotReady, Message: "sealed: not bootstrapped"}
	for _, tc := range []struct {
		name        string
		refusedWait time.Duration
		answers     []error // the attempts' errors in order; the last repeats
		wantCalls   int     // 0: more than one, not checked further
		wantErr     error
		wantNotice  string // "", "refused" or "sealed"
	}{
		{name: "refused, no grace", answers: []error{refusedErr}, wantCalls: 1, wantErr: syscall.ECONNREFUSED},
		{name: "refused, a short grace", refusedWait: 50 * time.Millisecond, answers: []error{refusedErr}, wantErr: syscall.ECONNREFUSED, wantNotice: "refused"},
		{name: "restarted within the grace", refusedWait: time.Hour, answers: []error{refusedErr, refusedErr, nil}, wantCalls: 3, wantNotice: "refused"},
		{name: "sealed then ready", answers: []error{sealedErr, sealedErr, nil}, wantCalls: 3, wantNotice: "sealed"},
		{name: "sealed, then stopped", answers: []error{sealedErr, refusedErr}, wantCalls: 2, wantErr: syscall.ECONNREFUSED, wantNotice: "sealed"},
		{name: "final answer", answers: []error{&transport.StatusError{Status: 404}}, wantCalls: 1, wantErr: &transport.StatusError{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var notices []Wait
			c := &Client{retryWait: 10 * time.Minute, refusedWait: tc.refusedWait, logger: slog.New(slog.DiscardHandler),
				notice: func(w Wait) { notices = append(notices, w) }}
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
			defer cancel()
			calls := 0
			err := c.retry(ctx, api.OpSecretGet, func(context.Context) error {
				calls++
				return tc.answers[min(calls, len(tc.answers))-1]
			})
			switch want := tc.wantErr.(type) {
			case nil:
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
			case *transport.StatusError:
				if !errors.As(err, &want) {
					t.Fatalf("got %v, want a status error", err)
				}
			default:
				if !errors.Is(err, want) {
					t.Fatalf("got %v, want %v", err, want)
				}
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("needed the context's deadline: %v", err)
			}
			if tc.wantCalls != 0 && calls != tc.wantCalls {
				t.Errorf("%d attempts, want %d", calls, tc.wantCalls)
			}
			switch {
			case tc.wantNotice == "" && len(notices) != 0:
				t.Errorf("notices %+v, want none", notices)
			case tc.wantNotice != "" && len(notices) != 1:
				t.Fatalf("%d notices, want one", len(notices))
			case tc.wantNotice == "refused" && (!notices[0].Refused() || notices[0].For > tc.refusedWait):
				t.Errorf("notice %+v, want a refused connection, for at most %s", notices[0], tc.refusedWait)
			case tc.wantNotice == "sealed" && (notices[0].Refused() || !errors.Is(notices[0].Err, ErrNotReady) ||
				notices[0].Err.Message != "sealed: not bootstrapped" || notices[0].For > c.retryWait):
				t.Errorf("notice %+v, want a sealed Nexus with its message", notices[0])
			}
		})
	}
}

// Against a closed port, a client with a ten-minute retry wait and no
// refused wait gives up after one attempt.
func TestConnectionRefusedFailsFast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ca, err := identity.NewDevCA(testTD, 0)
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.Issue(spiffeid.RequireFromPath(testTD, "/workload/test"), 0)
	if err != nil {
		t.Fatal(err)
	}
	src := identity.NewStaticSource(svid, ca.Bundle())
	c, err := New(t.Context(), WithSource(src, src), WithNexusURL("https://"+addr), WithRetry(10*time.Minute), WithRefusedWait(0),
		WithLogger(slog.New(slog.DiscardHandler)), withEnv(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	_, err = c.GetSecret(ctx, "a/b", 0)
	if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a refused connection without waiting for the deadline", err)
	}
}
