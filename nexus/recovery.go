package nexus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// fetched is what one Keeper answered.
type fetched struct {
	keeper string
	share  shamir.Share
	err    error
}

// fetchShards asks every Keeper for its shard, concurrently.
func (c *Custody) fetchShards(ctx context.Context) []fetched {
	out := make([]fetched, len(c.cfg.Keepers))
	var wg sync.WaitGroup
	for i, url := range c.cfg.Keepers {
		wg.Go(func() {
			out[i] = fetched{keeper: url, share: shamir.Share{ID: i + 1}}
			var resp api.ShardGetResponse
			err := c.keepers.Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp, Safe: true})
			switch {
			case err != nil:
				out[i].err = err
			case resp.Shard == nil || resp.Shard.IsZero():
				out[i].err = errors.New("holds no shard")
			default:
				out[i].share.Value = *resp.Shard
				resp.Shard.Wipe()
			}
		})
	}
	wg.Wait()
	return out
}

func zeroFetched(fs []fetched) {
	for i := range fs {
		fs[i].share.Zero()
	}
}

// Recover polls the Keepers until the root key is back (from them, or
// from an operator restore), with exponential backoff bounded by
// RecoveryMaxInterval. It returns when unsealed or when ctx ends.
func (c *Custody) Recover(ctx context.Context) {
	delay := 500 * time.Millisecond
	for {
		if sealed, _ := c.Sealed(); !sealed {
			return
		}
		if err := c.recoverOnce(ctx); err == nil {
			return
		} else {
			c.setReason("%v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, c.cfg.RecoveryMaxInterval)
	}
}

// recoverOnce gathers shards, leaves out those that do not match the
// recorded commitment, and unseals with the rest if there are enough.
func (c *Custody) recoverOnce(ctx context.Context) error {
	s, ok, err := c.recorded(ctx)
	if err != nil {
		return fmt.Errorf("cannot read the recorded sharing: %w", err)
	}
	if !ok {
		return errors.New("not bootstrapped: waiting for spike-bootstrap")
	}
	fs := c.fetchShards(ctx)
	defer zeroFetched(fs)
	var good []shamir.Share
	var down, bad, used []string
	for _, f := range fs {
		switch {
		case f.err != nil:
			down = append(down, fmt.Sprintf("%s (%v)", f.keeper, f.err))
		case !shamir.Verify(f.share, s.Commitment):
			bad = append(bad, f.keeper)
		default:
			good = append(good, f.share)
			used = append(used, f.keeper)
		}
	}
	if len(bad) > 0 {
		c.logger.Error("keepers hold shards that do not match the recorded commitment; left out", "keepers", strings.Join(bad, ", "))
	}
	if len(good) < s.Threshold {
		return fmt.Errorf("%d of %d verified shards needed; unreachable or empty: %s; wrong shard: %s",
			len(good), s.Threshold, listOrNone(down), listOrNone(bad))
	}
	key, err := shamir.Combine(s.Threshold, good)
	if err != nil {
		return fmt.Errorf("combine shards: %w", err)
	}
	defer clear(key[:])
	err = c.unseal(ctx, key[:], &events.RootKeyRecovered{Keepers: used, Rejected: bad})
	if errors.Is(err, eventlog.ErrWrongRootKey) {
		return errors.New("verified shards rebuild a key that does not open the log: the log and the keepers belong to different bootstraps")
	}
	return err
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, "; ")
}
