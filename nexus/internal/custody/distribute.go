package custody

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// Distribute re-sends every Keeper its shard of the current epoch
// (recomputed from the root key: an epoch's shards are the same every
// time) and records the run, with one event per unreachable Keeper too.
func (c *Custody) Distribute(ctx context.Context) error {
	e := c.currentEpoch()
	if took, n := c.sendEpoch(ctx, e), len(c.cfg.Keepers); took < n {
		return fmt.Errorf("shards of epoch %d reached %d of %d keepers", e, took, n)
	}
	return nil
}

// split computes the shards of epoch e.
func (c *Custody) split(e uint64) ([]shamir.Share, shamir.Commitment, error) {
	var shares []shamir.Share
	var com shamir.Commitment
	err := c.WithKey(func(key []byte) error {
		var k [shamir.KeySize]byte
		copy(k[:], key)
		defer clear(k[:])
		var err error
		shares, com, err = shamir.SplitEpoch(&k, c.currentParams(), e)
		return err
	})
	return shares, com, err
}

// sendEpoch sends every Keeper its shard of epoch e, records the run, and
// returns how many Keepers took it.
func (c *Custody) sendEpoch(ctx context.Context, e uint64) int {
	shares, _, err := c.split(e)
	if err != nil {
		c.metrics.Distributed(false)
		c.logger.Error("shard distribution: cannot split the root key", "epoch", e, "err", err)
		return 0
	}
	results := make([]events.KeeperOutcome, len(c.cfg.Keepers))
	var wg sync.WaitGroup
	for i, url := range c.cfg.Keepers {
		wg.Go(func() {
			shard := api.Shard(shares[i].Value)
			err := c.keeper(i).Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperContribute,
				Request: api.ShardContributeRequest{Shard: &shard, Epoch: e}, Safe: true})
			shard.Wipe()
			c.sawKeeper(ctx, i, err)
			results[i] = events.KeeperOutcome{Keeper: url, OK: err == nil}
			if err != nil {
				results[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	for i := range shares {
		shares[i].Zero()
	}
	if err := c.append(ctx, &events.ShardsDistributed{Results: results}); err != nil {
		c.logger.Error("could not record shard distribution", "err", err)
	}
	// Outages are recorded by the health job, once each; the run's event
	// already holds every keeper's outcome.
	took := 0
	for _, r := range results {
		if r.OK {
			took++
		} else {
			c.logger.Warn("shard not delivered", "keeper", r.Keeper, "epoch", e, "err", r.Error)
		}
	}
	if ctx.Err() == nil {
		c.metrics.Distributed(took == len(results))
	}
	level := slog.LevelInfo
	if took < len(results) {
		level = slog.LevelWarn
	}
	c.logger.Log(ctx, level, "shards distributed", "epoch", e, "delivered", took, "keepers", len(results))
	return took
}

// Rotate re-splits the key into a new epoch: its commitment is recorded
// first, then every Keeper is sent its new shard. If fewer than the
// threshold take it, the rotation does not count: the previous epoch's
// shards are sent again and stay in force.
func (c *Custody) Rotate(ctx context.Context) error {
	prev := c.currentEpoch()
	next := prev + 1
	if s, ok, err := c.recorded(ctx); err == nil && ok && s.Epoch >= next {
		next = s.Epoch + 1 // never reuse an epoch number, even a failed one
	}
	_, com, err := c.split(next)
	if err != nil {
		return err
	}
	p := c.currentParams()
	pub, err := sharing{Epoch: next, Shares: p.Shares, Threshold: p.Threshold, Commitment: com}.encode()
	if err != nil {
		return err
	}
	if err := c.append(ctx, &events.ShardsRotated{Epoch: next, Shares: p.Shares, Threshold: p.Threshold, Commitments: com}, pub); err != nil {
		return fmt.Errorf("record rotation: %w", err)
	}
	if took := c.sendEpoch(ctx, next); took < p.Threshold {
		c.logger.Warn("shard rotation reached too few keepers; the previous epoch stays in force", "epoch", next, "reached", took, "threshold", p.Threshold)
		c.sendEpoch(ctx, prev)
		return fmt.Errorf("rotation to epoch %d reached %d keepers, fewer than the threshold %d", next, took, p.Threshold)
	}
	c.setEpoch(next)
	c.logger.Info("shards rotated", "epoch", next)
	return nil
}

// DistributeEvery runs Distribute at the configured interval, and in
// refresh mode Rotate at the rotation interval, while unsealed, until ctx
// ends.
func (c *Custody) DistributeEvery(ctx context.Context) {
	var rotation sync.WaitGroup
	defer rotation.Wait() // no rotation may outlive the call: the log closes after it
	if c.cfg.Rotation == RotationRefresh {
		rotation.Go(func() {
			c.metrics.Jobs.Run(ctx, "shard_rotation", c.cfg.RotationInterval, func(ctx context.Context) error {
				if sealed, _ := c.Sealed(); sealed || !c.leading() {
					return nil
				}
				err := c.Rotate(ctx)
				if err != nil {
					c.logger.Warn("shard rotation failed", "err", err)
				}
				return err
			})
		})
	}
	c.metrics.Jobs.Run(ctx, "shard_distribution", c.cfg.KeeperUpdateInterval, func(ctx context.Context) error {
		if sealed, _ := c.Sealed(); sealed || !c.leading() {
			return nil
		}
		return c.Distribute(ctx)
	})
}

// WatchKeepers probes every Keeper at the health interval until ctx ends,
// recording a keeper.unreachable event when one stops answering (once per
// outage, so a long outage does not flood the log) and logging when it is
// back. Each probe's result is kept for the status route.
func (c *Custody) WatchKeepers(ctx context.Context) {
	down := make([]bool, len(c.cfg.Keepers))
	c.metrics.Jobs.Run(ctx, "keeper_probe", c.cfg.HealthInterval, func(ctx context.Context) error {
		unreachable := 0
		for i, url := range c.cfg.Keepers {
			err := c.keeper(i).Probe(ctx, url)
			if ctx.Err() != nil {
				return ctx.Err() // shutting down: a cancelled probe is not an outage
			}
			if err != nil {
				unreachable++
			}
			c.sawKeeper(ctx, i, err)
			switch {
			case err != nil && !down[i]:
				down[i] = true
				c.logger.Warn("keeper unreachable", "keeper", url, "err", err)
				if sealed, _ := c.Sealed(); !sealed && c.leading() {
					c.append(ctx, &events.KeeperUnreachable{Keeper: url, Error: err.Error()})
				}
			case err == nil && down[i]:
				down[i] = false
				c.logger.Info("keeper reachable again", "keeper", url)
				if sealed, _ := c.Sealed(); !sealed && c.leading() {
					c.refill(ctx, i)
				}
			}
		}
		if unreachable > 0 {
			return fmt.Errorf("%d of %d keepers unreachable", unreachable, len(c.cfg.Keepers))
		}
		return nil
	})
}

// refill sends Keeper i its shard of the current epoch at once and
// records it as a distribution to that Keeper alone. A Keeper back from
// an outage has likely restarted, and a restarted Keeper holds no shard:
// without this it would stay empty until the next distribution, and a
// rolling restart of the Keepers inside that window would leave Nexus
// unable to recover from them.
func (c *Custody) refill(ctx context.Context, i int) {
	e := c.currentEpoch()
	shares, _, err := c.split(e)
	if err != nil {
		c.logger.Error("shard refill: cannot split the root key", "epoch", e, "err", err)
		return
	}
	defer func() {
		for j := range shares {
			shares[j].Zero()
		}
	}()
	url := c.cfg.Keepers[i]
	shard := api.Shard(shares[i].Value)
	err = c.keeper(i).Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperContribute,
		Request: api.ShardContributeRequest{Shard: &shard, Epoch: e}, Safe: true})
	shard.Wipe()
	c.sawKeeper(ctx, i, err)
	outcome := events.KeeperOutcome{Keeper: url, OK: err == nil}
	if err != nil {
		outcome.Error = err.Error()
		c.logger.Warn("shard refill failed", "keeper", url, "epoch", e, "err", err)
	} else {
		c.logger.Info("shard refilled", "keeper", url, "epoch", e)
	}
	if err := c.append(ctx, &events.ShardsDistributed{Results: []events.KeeperOutcome{outcome}}); err != nil {
		c.logger.Error("could not record shard refill", "err", err)
	}
}
