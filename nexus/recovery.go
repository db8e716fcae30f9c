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
	epoch  uint64
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
				out[i].epoch = resp.Epoch
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

// recoverOnce gathers shards, checks each against the commitment of the
// epoch its Keeper reports, leaves out those that fail, and unseals with
// the newest epoch that has enough verified shards.
func (c *Custody) recoverOnce(ctx context.Context) error {
	if _, ok, err := c.recorded(ctx); err != nil || !ok {
		if err != nil {
			return fmt.Errorf("cannot read the recorded sharing: %w", err)
		}
		return errors.New("not bootstrapped: waiting for spike-bootstrap")
	}
	fs := c.fetchShards(ctx)
	defer zeroFetched(fs)
	wanted := map[uint64]bool{}
	for _, f := range fs {
		if f.err == nil {
			wanted[f.epoch] = true
		}
	}
	recs, err := c.sharings(ctx, func(have map[uint64]sharing) bool {
		for e := range wanted {
			if _, ok := have[e]; !ok {
				return false
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("cannot read the recorded sharings: %w", err)
	}
	good := map[uint64][]shamir.Share{}
	used := map[uint64][]string{}
	var down, bad []string
	for _, f := range fs {
		s, known := recs[f.epoch]
		switch {
		case f.err != nil:
			down = append(down, fmt.Sprintf("%s (%v)", f.keeper, f.err))
		case !known || !shamir.Verify(f.share, s.Commitment):
			bad = append(bad, f.keeper)
		default:
			good[f.epoch] = append(good[f.epoch], f.share)
			used[f.epoch] = append(used[f.epoch], f.keeper)
		}
	}
	if len(bad) > 0 {
		c.logger.Error("keepers hold shards that do not match the recorded commitment; left out", "keepers", strings.Join(bad, ", "))
	}
	epoch, ok := bestEpoch(good, recs)
	if !ok {
		most, need := 0, 0
		for e, g := range good {
			if len(g) > most {
				most, need = len(g), recs[e].Threshold
			}
		}
		if need == 0 {
			s, _, _ := c.recorded(ctx)
			need = s.Threshold
		}
		return fmt.Errorf("%d of %d verified shards needed; unreachable or empty: %s; wrong shard: %s",
			most, need, listOrNone(down), listOrNone(bad))
	}
	key, err := shamir.Combine(recs[epoch].Threshold, good[epoch])
	if err != nil {
		return fmt.Errorf("combine shards: %w", err)
	}
	defer clear(key[:])
	err = c.unseal(ctx, key[:], &events.RootKeyRecovered{Keepers: used[epoch], Rejected: bad})
	if errors.Is(err, eventlog.ErrWrongRootKey) {
		return errors.New("verified shards rebuild a key that does not open the log: the log and the keepers belong to different bootstraps")
	}
	if err == nil {
		c.setEpoch(epoch)
	}
	return err
}

// bestEpoch picks the newest epoch with at least its threshold of
// verified shards.
func bestEpoch(good map[uint64][]shamir.Share, recs map[uint64]sharing) (uint64, bool) {
	var best uint64
	found := false
	for e, g := range good {
		if len(g) >= recs[e].Threshold && (!found || e > best) {
			best, found = e, true
		}
	}
	return best, found
}

func (c *Custody) setEpoch(e uint64) {
	c.mu.Lock()
	c.epoch = e
	c.mu.Unlock()
}

func (c *Custody) currentEpoch() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch
}

func listOrNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, "; ")
}
