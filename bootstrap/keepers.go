package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// KeeperError reports a Keeper that did not take its shard.
type KeeperError struct {
	URL      string
	Shard    int // the shard's id: the Keeper's position in the list
	Attempts int
	Err      error
}

func (e *KeeperError) Error() string {
	return fmt.Sprintf("keeper %s (shard %d) did not take its shard after %d attempt(s): %v", e.URL, e.Shard, e.Attempts, e.Err)
}

func (e *KeeperError) Unwrap() error { return e.Err }

// KeeperErrors lists every Keeper that failed, on one line.
type KeeperErrors []*KeeperError

func (es KeeperErrors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

// Unwrap returns the Keepers' errors.
func (es KeeperErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// contribute sends every Keeper its shard at once, each with its own
// retries and time bound, and reports every Keeper that failed.
func (r *runner) contribute(ctx context.Context, shares []shamir.Share) error {
	errs := make([]*KeeperError, len(shares))
	var wg sync.WaitGroup
	for i := range shares {
		wg.Go(func() { errs[i] = r.contributeOne(ctx, r.cfg.Keepers[i], &shares[i]) })
	}
	wg.Wait()
	var failed KeeperErrors
	for _, e := range errs {
		if e != nil {
			failed = append(failed, e)
		}
	}
	if len(failed) > 0 {
		r.log.Error("shard distribution failed", "keepers", len(shares), "keepers_reached", len(shares)-len(failed),
			"keepers_failed", len(failed))
		return failed
	}
	return nil
}

// contributeOne sends one Keeper its shard, with bounded retries.
func (r *runner) contributeOne(ctx context.Context, keeper string, share *shamir.Share) *KeeperError {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.KeeperTimeout)
	defer cancel()
	shard := api.Shard(share.Value)
	defer shard.Wipe()
	b := backoff{initial: r.cfg.KeeperRetryInitial, max: r.cfg.KeeperRetryMax, attempts: r.cfg.KeeperMaxRetries}
	wait := func(attempt int, err error, delay time.Duration) {
		r.log.Warn("keeper did not take its shard; retrying", "keeper", keeper, "shard", share.ID,
			"attempt", attempt, "err", err, "retry_in", delay.String())
	}
	n, err := retry(ctx, b, wait, func(ctx context.Context) error {
		var resp api.ShardContributeResponse
		err := r.keepers[share.ID-1].Do(ctx, transport.Call{
			BaseURL: keeper, Path: api.PathKeeperContribute,
			Request: api.ShardContributeRequest{Shard: &shard}, Response: &resp,
		})
		if err == nil && resp.Err != "" {
			err = permanent(fmt.Errorf("keeper answered %s", resp.Err))
		}
		return classifyContribute(err)
	})
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out (SPIKE_BOOTSTRAP_KEEPER_TIMEOUT %s): %w", r.cfg.KeeperTimeout, err)
		}
		return &KeeperError{URL: keeper, Shard: share.ID, Attempts: n, Err: err}
	}
	r.cfg.Metrics.keeperReached()
	r.log.Info("keeper took its shard", "keeper", keeper, "shard", share.ID, "attempts", n)
	return nil
}

// classifyContribute decides whether a contribute call is worth another
// attempt: not when the Keeper refused the request or is not a Keeper.
func classifyContribute(err error) error {
	var se *transport.StatusError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, identity.ErrUnauthorized):
		return permanent(fmt.Errorf("the server is not a SPIKE Keeper: %w", err))
	case errors.As(err, &se) && se.Status >= 400 && se.Status < 500 && se.Status != http.StatusRequestTimeout && se.Status != http.StatusTooManyRequests:
		return permanent(err)
	}
	return err
}
