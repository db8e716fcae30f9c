package sdk

import (
	"context"
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

// retry runs attempt until it succeeds, fails in a way a retry cannot
// mend, ctx ends, or the client's retry wait has passed; it returns the
// last attempt's error.
func (c *Client) retry(ctx context.Context, op api.Op, attempt func(context.Context) error) error {
	deadline := time.Now().Add(c.retryWait)
	delay := firstBackoff
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil || !retryable(op, err) {
			return err
		}
		wait := min(jitter(delay), time.Until(deadline))
		if wait <= 0 {
			return err
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
// nothing), or refused the connection (nothing was sent). A connection
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
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	return readOnly(op) && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF))
}

// readOnly reports whether op changes nothing a caller can see (reads are
// recorded in the access history, so a repeat shows there twice).
func readOnly(op api.Op) bool {
	switch op {
	case api.OpSecretGet, api.OpSecretList, api.OpSecretMetadataGet, api.OpSecretSettingsGet, api.OpSecretHistory,
		api.OpPolicyGet, api.OpPolicyList, api.OpCipherEncrypt, api.OpCipherDecrypt,
		api.OpAuditList, api.OpAuditCheckpoint, api.OpAuditProof, api.OpAuditConsistency,
		api.OpRestorePointList, api.OpBootstrapStatus:
		return true
	}
	return false
}
