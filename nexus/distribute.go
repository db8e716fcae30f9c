package nexus

import (
	"context"
	"sync"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// Distribute re-sends every Keeper its shard (recomputed from the root
// key: SPIKE's deterministic split gives the same shards every time) and
// records the run, with one event per unreachable Keeper as well.
func (c *Custody) Distribute(ctx context.Context) {
	var shares []shamir.Share
	err := c.withKey(func(key []byte) error {
		var k [shamir.KeySize]byte
		copy(k[:], key)
		defer clear(k[:])
		var err error
		shares, _, err = shamir.Split(&k, shamir.Params{Shares: c.cfg.Shares, Threshold: c.cfg.Threshold})
		return err
	})
	if err != nil {
		return
	}
	results := make([]events.KeeperOutcome, len(c.cfg.Keepers))
	var wg sync.WaitGroup
	for i, url := range c.cfg.Keepers {
		wg.Go(func() {
			shard := api.Shard(shares[i].Value)
			err := c.keepers.Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperContribute,
				Request: api.ShardContributeRequest{Shard: &shard}, Safe: true})
			shard.Wipe()
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
	for _, r := range results {
		if !r.OK {
			c.logger.Warn("keeper unreachable", "keeper", r.Keeper, "err", r.Error)
			c.append(ctx, &events.KeeperUnreachable{Keeper: r.Keeper, Error: r.Error})
		}
	}
}

// DistributeEvery runs Distribute at the configured interval while
// unsealed, until ctx ends.
func (c *Custody) DistributeEvery(ctx context.Context) {
	t := time.NewTicker(c.cfg.KeeperUpdateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if sealed, _ := c.Sealed(); !sealed {
				c.Distribute(ctx)
			}
		}
	}
}
