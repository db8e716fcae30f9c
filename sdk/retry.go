package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"syscall"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// Backoff between attempts: the first delay, doubling up to the cap, each
// with up to a fifth of random jitter so that clients waiting for the same
// Nexus to unseal do not come back in step.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = 2 * time.Second
)

// Wait is what a call is about to wait for, as [WithWaitNotice] reports
// it: Nexus answered 503 (sealed or starting; Err's Reason and Message
// say more when Nexus gave them), or refused the connection (Err has
// Status 0 and wraps syscall.ECONNREFUSED: nothing listens at the URL).
type Wait struct {
	// Op is the operation being retried.
	Op api.Op
	// Err is the failed attempt.
	Err *Error
	// For is the most the call will go on retrying from now.
	For time.Duration
}

// Refused reports whether the call waits because nothing accepted the
// connection, rather than because Nexus answered that it is not ready.
func (w Wait) Refused() bool { return refused(w.Err) }

// retry runs attempt until it succeeds, fails in a way a retry cannot
// mend, ctx ends, or the client's retry wait has passed; it returns the
// last attempt's error. A refused connection is retried only for the
// refused wait, counted from the first refusal in a row: a Nexus that
// is restarting listens again within it, one that is stopped never does.
func (c *Client) retry(ctx context.Context, op api.Op, attempt func(context.Context) error) error {
	deadline := time.Now().Add(c.retryWait)
	var refusedSince time.Time
	delay := firstBackoff
	noticed := false
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil || !retryable(op, err) {
			return err
		}
		end := deadline
		if refused(err) {
			if refusedSince.IsZero() {
				refusedSince = time.Now()
			}
			if e := refusedSince.Add(c.refusedWait); e.Before(end) {
				end = e
			}
		} else {
			refusedSince = time.Time{}
		}
		wait := min(jitter(delay), time.Until(end))
		if wait <= 0 {
			return err
		}
		if !noticed && c.notice != nil {
			noticed = true
			c.notice(Wait{Op: op, Err: callError(op, "", err), For: time.Until(end)})
		}
		c.logger.DebugContext(ctx, "sdk: nexus not ready; retrying", "op", op.String(), "attempt", n, "in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, maxBackoff)
	}
}

func jitter(d time.Duration) time.Duration {
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// retryable reports whether another attempt may succeed where err failed
// and cannot do harm: Nexus answered 503 (sealed or starting: it did
// nothing), or the call failed before its request was written (a refused
// or reset connection, a server closing it as it shuts down). A connection
// that broke after the request left is retried only for operations that
// change nothing.
func retryable(op api.Op, err error) bool {
	var se *transport.StatusError
	if errors.As(err, &se) {
		return se.Status == http.StatusServiceUnavailable
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if refused(err) || brokeBeforeSent(err) {
		return true
	}
	return readOnly(op) && broken(err)
}

// broken reports whether err says the connection broke: reset or
// closed under the call.
func broken(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// brokeBeforeSent reports whether the connection broke (reset, closed)
// before the request was written, as when a Nexus shuts down while a
// connection to it is being made. A refused identity also fails before
// anything is written, but is not retried: it will not change.
func brokeBeforeSent(err error) bool {
	if !errors.Is(err, transport.ErrNotSent) {
		return false
	}
	var cert *tls.CertificateVerificationError
	var alert tls.AlertError
	if errors.As(err, &cert) || errors.As(err, &alert) {
		return false
	}
	return broken(err) || errors.Is(err, syscall.EPIPE)
}

// refused reports whether err is a refused connection: nothing listens
// at the address.
func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// readOnly reports whether op changes nothing a caller can see (reads are
// recorded in the access history, so a repeat shows there twice).
func readOnly(op api.Op) bool {
	switch op {
	case api.OpSecretGet, api.OpSecretList, api.OpSecretMetadataGet, api.OpSecretSettingsGet, api.OpSecretHistory,
		api.OpPolicyGet, api.OpPolicyList, api.OpCipherEncrypt, api.OpCipherDecrypt,
		api.OpAuditList, api.OpAuditCheckpoint, api.OpAuditProof, api.OpAuditConsistency,
		api.OpRestorePointList, api.OpRestorePlan, api.OpBootstrapStatus, api.OpAuditTail:
		return true
	}
	return false
}
