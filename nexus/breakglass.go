package nexus

import (
	"context"
	"errors"
	"fmt"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/shamir"
)

// errNoKey is a verification that no combination of shards satisfies.
var errNoKey = errors.New("no threshold of the keepers' shards opens Bootstrap's verification text")

// VerifyBootstrap answers SPIKE's bootstrap verification. On a system not
// yet bootstrapped it is also how the root key first arrives: Nexus
// gathers the shards Bootstrap just gave the Keepers, finds the threshold
// of them whose key opens Bootstrap's text (the text's authentication tag
// proves the key), unlocks the new log with it and records the bootstrap
// with the sharing's commitment in clear.
func (c *Custody) VerifyBootstrap(ctx context.Context, actor string, req api.BootstrapVerifyRequest) (string, error) {
	var hash string
	err := c.withKey(func(key []byte) error {
		var err error
		hash, err = verifyText(key, req)
		return err
	})
	if !errors.Is(err, errSealed) {
		return hash, err
	}
	if ok, err := c.Bootstrapped(ctx); err != nil || ok {
		if ok {
			return "", errors.New("already bootstrapped but sealed: recovery from the keepers or an operator restore brings the key back")
		}
		return "", err
	}
	fs := c.fetchShards(ctx)
	defer zeroFetched(fs)
	var have []shamir.Share
	for _, f := range fs {
		if f.err == nil {
			have = append(have, f.share)
		}
	}
	key, err := firstOpening(have, c.cfg.Threshold, func(k []byte) bool {
		h, err := verifyText(k, req)
		hash = h
		return err == nil
	})
	if err != nil {
		return "", err
	}
	defer clear(key[:])
	shares, com, err := shamir.Split(&key, shamir.Params{Shares: c.cfg.Shares, Threshold: c.cfg.Threshold})
	if err != nil {
		return "", err
	}
	for i := range shares {
		shares[i].Zero()
	}
	pub, err := sharing{Shares: c.cfg.Shares, Threshold: c.cfg.Threshold, Commitment: com}.encode()
	if err != nil {
		return "", err
	}
	if err := c.unseal(ctx, key[:], nil); err != nil {
		if errors.Is(err, eventlog.ErrWrongRootKey) {
			return "", errors.New("this data directory's log is sealed by another root key: a forced bootstrap needs a new data directory")
		}
		return "", err
	}
	rec := &events.Bootstrapped{Meta: events.Meta{Actor: actor}, Shares: c.cfg.Shares, Threshold: c.cfg.Threshold,
		Keepers: c.cfg.Keepers, Commitments: com}
	if err := c.append(ctx, rec, pub); err != nil {
		return "", fmt.Errorf("record bootstrap: %w", err)
	}
	return hash, nil
}

// firstOpening tries every threshold-sized subset of shares, in order,
// until one rebuilds a key that ok accepts.
func firstOpening(shares []shamir.Share, threshold int, ok func([]byte) bool) ([shamir.KeySize]byte, error) {
	var found [shamir.KeySize]byte
	var try func(start int, picked []shamir.Share) bool
	try = func(start int, picked []shamir.Share) bool {
		if len(picked) == threshold {
			key, err := shamir.Combine(threshold, picked)
			if err == nil && ok(key[:]) {
				found = key
				return true
			}
			clear(key[:])
			return false
		}
		for i := start; i < len(shares); i++ {
			if try(i+1, append(picked, shares[i])) {
				return true
			}
		}
		return false
	}
	if len(shares) < threshold || !try(0, nil) {
		return found, errNoKey
	}
	return found, nil
}

// RecoveryShards returns every shard of the root key, for an operator's
// recovery files. Only an unsealed Nexus has them.
func (c *Custody) RecoveryShards(ctx context.Context, actor string) ([]shamir.Share, error) {
	shares, _, err := c.split(c.currentEpoch())
	if err != nil {
		return nil, err
	}
	if err := c.append(ctx, &events.RecoveryShardsExported{Meta: events.Meta{Actor: actor}, Shards: len(shares)}); err != nil {
		// Fail closed: shards leave Nexus only with a record of it.
		for i := range shares {
			shares[i].Zero()
		}
		return nil, fmt.Errorf("record the export: %w", err)
	}
	return shares, nil
}

// RestoreResult is where an operator restore stands.
type RestoreResult struct {
	Collected, Remaining int
	Restored             bool
}

// Restore takes one recovery shard from an operator. Recovery files
// carry no epoch, so the shard is checked against every recorded
// sharing's commitment; when one epoch has its threshold of shards, the
// key is rebuilt, and Nexus unseals if that key opens the log (otherwise
// the collected shards are forgotten, and it says so). Before any
// bootstrap there is no commitment to check against, and any threshold of
// shards is tried. It refuses while unsealed.
func (c *Custody) Restore(ctx context.Context, actor string, s shamir.Share) (RestoreResult, error) {
	if sealed, _ := c.Sealed(); !sealed {
		return RestoreResult{}, errors.New("nexus is not sealed: nothing to restore")
	}
	recs, err := c.sharings(ctx, nil)
	if err != nil {
		return RestoreResult{}, err
	}
	if len(recs) > 0 && !matchesAny(s, recs) {
		return RestoreResult{}, fmt.Errorf("shard %d matches no commitment recorded in the log", s.ID)
	}
	c.mu.Lock()
	c.restore[s.ID] = s
	have := make([]shamir.Share, 0, len(c.restore))
	for _, v := range c.restore {
		have = append(have, v)
	}
	c.mu.Unlock()
	epoch, group, threshold, remaining := restoreGroup(have, recs, c.cfg.Threshold)
	if remaining > 0 {
		return RestoreResult{Collected: len(have), Remaining: remaining}, nil
	}
	key, err := shamir.Combine(threshold, group)
	defer clear(key[:])
	if err == nil {
		err = c.unseal(ctx, key[:], &events.RootKeyRestored{Meta: events.Meta{Actor: actor}, Shards: len(group)})
	}
	if err != nil {
		c.mu.Lock()
		for id, v := range c.restore {
			v.Zero()
			delete(c.restore, id)
		}
		c.mu.Unlock()
		if errors.Is(err, eventlog.ErrWrongRootKey) {
			return RestoreResult{}, errors.New("the shards rebuild a key that does not open the log; collected shards discarded")
		}
		return RestoreResult{}, err
	}
	c.setEpoch(epoch)
	go c.Distribute(context.WithoutCancel(ctx))
	return RestoreResult{Collected: len(have), Restored: true}, nil
}

func matchesAny(s shamir.Share, recs map[uint64]sharing) bool {
	for _, r := range recs {
		if shamir.Verify(s, r.Commitment) {
			return true
		}
	}
	return false
}

// restoreGroup finds the epoch whose verified shards among have come
// closest to its threshold, returning them and how many are still
// missing (0: enough). With no recorded sharing it uses threshold.
func restoreGroup(have []shamir.Share, recs map[uint64]sharing, threshold int) (epoch uint64, group []shamir.Share, need, remaining int) {
	if len(recs) == 0 {
		return 0, have, threshold, max(0, threshold-len(have))
	}
	remaining = -1
	for e, r := range recs {
		var g []shamir.Share
		for _, s := range have {
			if shamir.Verify(s, r.Commitment) {
				g = append(g, s)
			}
		}
		left := max(0, r.Threshold-len(g))
		if remaining < 0 || left < remaining || (left == remaining && e > epoch) {
			epoch, group, need, remaining = e, g, r.Threshold, left
		}
	}
	return epoch, group, need, remaining
}
