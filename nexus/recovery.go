package nexus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
			err := c.keeper(i).Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp, Safe: true})
			// The sealed reason says so too: "400 Bad Request" alone
			// reads like a fault when the keeper merely lost its shard.
			err = shardGetError(err)
			c.sawKeeper(ctx, i, err)
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

// shardGetError says what a keeper's refusal to give its shard means:
// SPIKE's keepers (and ours) answer 400 while they hold none.
func shardGetError(err error) error {
	var se *transport.StatusError
	if errors.As(err, &se) && se.Status == http.StatusBadRequest {
		return fmt.Errorf("holds no shard yet: %w", err)
	}
	return err
}

func zeroFetched(fs []fetched) {
	for i := range fs {
		fs[i].share.Zero()
	}
}

// errNotBootstrapped is why a Nexus that was never bootstrapped is
// sealed: expected on a first start, so logged at info.
var errNotBootstrapped = errors.New("not bootstrapped: waiting for spike-bootstrap")

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
			c.setReason(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, c.cfg.RecoveryMaxInterval)
	}
}

// recoverOnce gathers shards, checks each against the recorded
// commitments (the epoch its Keeper reports first, then every other one:
// a Keeper may not report epochs at all), leaves out those that match
// none, and unseals with the newest epoch that has enough verified shards.
func (c *Custody) recoverOnce(ctx context.Context) error {
	recs, err := c.sharings(ctx, nil)
	if err != nil {
		return fmt.Errorf("cannot read the recorded sharings: %w", err)
	}
	fs := c.fetchShards(ctx)
	defer zeroFetched(fs)
	if len(recs) == 0 {
		return c.repairBootstrap(ctx, fs)
	}
	good := map[uint64][]shamir.Share{}
	used := map[uint64][]string{}
	var down, bad []string
	for _, f := range fs {
		if f.err != nil {
			down = append(down, fmt.Sprintf("%s (%v)", f.keeper, f.err))
			continue
		}
		e, ok := epochOf(f.share, f.epoch, recs)
		if !ok {
			bad = append(bad, f.keeper)
			continue
		}
		good[e] = append(good[e], f.share)
		used[e] = append(used[e], f.keeper)
	}
	if len(bad) > 0 {
		c.logger.Error("keepers hold shards that match no recorded commitment; left out", "keepers", strings.Join(bad, ", "))
	}
	epoch, ok := bestEpoch(good, recs)
	if !ok {
		most, need := 0, 0
		for e, s := range recs {
			if n := len(good[e]); n > most || need == 0 {
				most, need = n, s.Threshold
			}
		}
		return fmt.Errorf("%d of %d verified shards needed; unreachable or empty: %s; wrong shard: %s",
			most, need, listOrNone(down), listOrNone(bad))
	}
	key, err := shamir.Combine(recs[epoch].Threshold, good[epoch])
	if err != nil {
		return fmt.Errorf("combine shards: %w", err)
	}
	defer clear(key[:])
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	err = c.unseal(ctx, key[:], &events.RootKeyRecovered{Keepers: used[epoch], Rejected: bad})
	switch {
	case errors.Is(err, errAlreadyUnsealed):
		return nil
	case errors.Is(err, eventlog.ErrWrongRootKey):
		return errors.New("verified shards rebuild a key that does not open the log: the log and the keepers belong to different bootstraps")
	case err != nil:
		return err
	}
	c.useSharing(recs[epoch])
	return nil
}

// epochOf returns the epoch whose commitment share matches, trying the
// reported epoch first.
func epochOf(share shamir.Share, reported uint64, recs map[uint64]sharing) (uint64, bool) {
	if s, ok := recs[reported]; ok && shamir.Verify(share, s.Commitment) {
		return reported, true
	}
	for e, s := range recs {
		if e != reported && shamir.Verify(share, s.Commitment) {
			return e, true
		}
	}
	return 0, false
}

// repairBootstrap handles a log with no recorded sharing. A log no key
// has sealed yet waits for spike-bootstrap. A log that a key already
// seals lost its bootstrap record to a crash between the two: the key is
// whatever threshold of the keepers' shards opens the log, and the
// missing record is written.
func (c *Custody) repairBootstrap(ctx context.Context, fs []fetched) error {
	if ok, err := c.log.Initialized(ctx); err != nil || !ok {
		if err != nil {
			return err
		}
		return errNotBootstrapped
	}
	var have []shamir.Share
	for _, f := range fs {
		if f.err == nil {
			have = append(have, f.share)
		}
	}
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	p := c.currentParams()
	var unsealErr error
	key, err := firstOpening(have, p.Threshold, func(k []byte) bool {
		unsealErr = c.unseal(ctx, k, &events.RootKeyRecovered{})
		return unsealErr == nil || errors.Is(unsealErr, errAlreadyUnsealed)
	})
	if err != nil {
		return errors.New("the log is sealed but its bootstrap record is missing, and no threshold of the keepers' shards opens it")
	}
	defer clear(key[:])
	return c.recordBootstrap(ctx, c.cfg.Self, key)
}

func (c *Custody) currentParams() shamir.Params {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.params
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
