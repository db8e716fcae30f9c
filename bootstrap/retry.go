package bootstrap

import (
	"context"
	"errors"
	"time"
)

// backoff is a retry schedule: the first delay, doubled after each
// attempt up to max, for at most attempts attempts (0: until the context
// ends).
type backoff struct {
	initial, max time.Duration
	attempts     int
}

// permanentError marks a failure that another attempt will not cure.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// permanent marks err as not worth retrying.
func permanent(err error) error { return permanentError{err} }

// retry calls try until it succeeds, fails permanently, runs out of
// attempts or ctx ends, calling wait (if not nil) before each new
// attempt. It returns the number of attempts made and the last error,
// unmarked.
func retry(ctx context.Context, b backoff, wait func(attempt int, err error, delay time.Duration), try func(context.Context) error) (int, error) {
	delay := b.initial
	for attempt := 1; ; attempt++ {
		err := try(ctx)
		var pe permanentError
		switch {
		case err == nil:
			return attempt, nil
		case errors.As(err, &pe):
			return attempt, pe.err
		case b.attempts > 0 && attempt >= b.attempts, ctx.Err() != nil:
			return attempt, err
		}
		if wait != nil {
			wait(attempt, err, delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		case <-t.C:
		}
		delay = min(2*delay, b.max)
	}
}
