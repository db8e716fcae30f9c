package custody

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
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

// gatherGrace is how long recovery keeps listening for the other
// Keepers once enough shards have verified: long enough to hear every
// Keeper that answers promptly (so that a wrong shard among them is
// still named and left out), short enough that a Keeper answering late
// does not hold the key back for the whole client timeout.
const gatherGrace = time.Second

// errNotAwaited marks a Keeper that had not answered when enough others
// had.
var errNotAwaited = errors.New("not awaited: enough shards verified without it")

// fetchShards asks every Keeper for its shard, concurrently. It returns
// once every Keeper has answered or, if enough is not nil, gatherGrace
// after enough first holds of the answers so far; the calls still
// running then are cancelled and their Keepers get errNotAwaited.
func (c *Custody) fetchShards(ctx context.Context, enough func([]fetched) bool) []fetched {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		i int
		f fetched
	}
	out := make([]fetched, len(c.cfg.Keepers))
	pending := make([]bool, len(out))
	answers := make(chan answer, len(out))
	for i, url := range c.cfg.Keepers {
		pending[i] = true
		go func() { answers <- answer{i, c.fetchShard(ctx, i, url)} }()
	}
	var grace <-chan time.Time
	for left := len(out); left > 0; left-- {
		select {
		case a := <-answers:
			out[a.i], pending[a.i] = a.f, false
			if grace == nil && enough != nil && enough(out) {
				grace = time.After(gatherGrace)
			}
		case <-grace:
			// Cancelled calls end at once; their answers are drained so
			// that no shard is left unzeroed in the channel.
			cancel()
			for ; left > 0; left-- {
				a := <-answers
				a.f.share.Zero()
			}
			for i, p := range pending {
				if p {
					out[i] = fetched{keeper: c.cfg.Keepers[i], share: shamir.Share{ID: i + 1}, err: errNotAwaited}
				}
			}
			return out
		}
	}
	return out
}

// fetchShard asks Keeper i for its shard.
func (c *Custody) fetchShard(ctx context.Context, i int, url string) fetched {
	f := fetched{keeper: url, share: shamir.Share{ID: i + 1}}
	var resp api.ShardGetResponse
	err := c.keeper(i).Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp, Safe: true})
	// The sealed reason says so too: "400 Bad Request" alone reads like
	// a fault when the keeper merely lost its shard.
	err = shardGetError(err)
	c.sawKeeper(ctx, i, err)
	switch {
	case err != nil:
		f.err = err
	case resp.Shard == nil || resp.Shard.IsZero():
		f.err = errors.New("holds no shard")
	default:
		f.share.Value = *resp.Shard
		f.epoch = resp.Epoch
		resp.Shard.Wipe()
	}
	return f
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
			delay = min(2*delay, c.cfg.RecoveryMaxInterval)
		case <-c.wake:
			delay = 500 * time.Millisecond
		}
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
	var enough func([]fetched) bool
	if len(recs) > 0 {
		enough = func(fs []fetched) bool { _, ok := bestEpoch(verified(fs, recs)); return ok }
	}
	fs := c.fetchShards(ctx, enough)
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
	if len(down) > 0 {
		// Ready, but an operator wants to know which keepers did not
		// take part: they are one fault closer to a sealed restart.
		c.logger.Warn("root key recovered without some keepers", "keepers", strings.Join(down, "; "))
	}
	return nil
}

// verified groups the shards that match a recorded commitment by epoch.
func verified(fs []fetched, recs map[uint64]sharing) (map[uint64][]shamir.Share, map[uint64]sharing) {
	good := map[uint64][]shamir.Share{}
	for _, f := range fs {
		// A zero value is a Keeper not heard from yet.
		if f.err != nil || f.share.Value == ([shamir.KeySize]byte{}) {
			continue
		}
		if e, ok := epochOf(f.share, f.epoch, recs); ok {
			good[e] = append(good[e], f.share)
		}
	}
	return good, recs
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

// Wake makes a recovery waiting between attempts try again now: a
// cluster replica's log has just gained what the leader committed,
// perhaps the bootstrap it waits for.
func (c *Custody) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
