package custody

import (
	"context"
	"errors"
	"fmt"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/shamir"
)

// errNeverBootstrapped refuses a restore on a system with no bootstrap.
var errNeverBootstrapped = errors.New("never bootstrapped: there is no key to restore; run spike-bootstrap")

// errNoKey is a verification that no combination of shards satisfies.
var errNoKey = errors.New("no threshold of the keepers' shards opens Bootstrap's verification text")

// VerifyBootstrap answers SPIKE's bootstrap verification. On a system not
// yet bootstrapped it is also how the root key first arrives: Nexus
// gathers the shards Bootstrap just gave the Keepers, finds the threshold
// of them whose key opens Bootstrap's text (the text's authentication tag
// proves the key), unlocks the new log with it and records the bootstrap
// with the sharing's commitment in clear. A verification that finds Nexus
// unsealed answers with the key it holds (and writes the bootstrap record
// if a crash lost it).
func (c *Custody) VerifyBootstrap(ctx context.Context, actor string, req api.BootstrapVerifyRequest) (string, error) {
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	var hash string
	var key [shamir.KeySize]byte
	defer clear(key[:])
	err := c.WithKey(func(k []byte) error {
		var err error
		if hash, err = verifyText(k, req); err == nil {
			copy(key[:], k)
		}
		return err
	})
	if err == nil {
		if ok, _ := c.Bootstrapped(ctx); !ok {
			if err := c.recordBootstrap(ctx, actor, key); err != nil {
				return "", err
			}
		}
		return hash, nil
	}
	if !errors.Is(err, errSealed) {
		return "", err
	}
	if ok, err := c.Bootstrapped(ctx); err != nil || ok {
		if ok {
			return "", errors.New("already bootstrapped but sealed: recovery from the keepers or an operator restore brings the key back")
		}
		return "", err
	}
	fs := c.fetchShards(ctx, nil)
	defer zeroFetched(fs)
	var have []shamir.Share
	var down []string
	for _, f := range fs {
		if f.err == nil {
			have = append(have, f.share)
		} else {
			down = append(down, f.keeper)
		}
	}
	key, err = firstOpening(have, c.cfg.Threshold, func(k []byte) bool {
		h, err := verifyText(k, req)
		hash = h
		return err == nil
	})
	if err != nil {
		return "", fmt.Errorf("%w (unreachable or empty keepers: %s)", err, listOrNone(down))
	}
	if err := c.unseal(ctx, key[:], nil); err != nil {
		if errors.Is(err, eventlog.ErrWrongRootKey) {
			return "", errors.New("this data directory's log is sealed by another root key: a forced bootstrap needs a new data directory")
		}
		return "", err
	}
	if err := c.recordBootstrap(ctx, actor, key); err != nil {
		return "", err
	}
	return hash, nil
}

// recordBootstrap records the bootstrap of key with the configured
// sharing and its commitment (in the event's clear part), and puts that
// sharing in force.
func (c *Custody) recordBootstrap(ctx context.Context, actor string, key [shamir.KeySize]byte) error {
	p := shamir.Params{Shares: c.cfg.Shares, Threshold: c.cfg.Threshold}
	shares, com, err := shamir.Split(&key, p)
	if err != nil {
		return err
	}
	for i := range shares {
		shares[i].Zero()
	}
	s := sharing{Shares: p.Shares, Threshold: p.Threshold, Commitment: com}
	pub, err := s.encode()
	if err != nil {
		return err
	}
	rec := &events.Bootstrapped{Meta: events.Meta{Actor: actor}, Shares: p.Shares, Threshold: p.Threshold,
		Keepers: c.cfg.Keepers, Commitments: com}
	if err := c.append(ctx, rec, pub); err != nil {
		return fmt.Errorf("record bootstrap: %w", err)
	}
	c.useSharing(s)
	return nil
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
// the collected shards are forgotten, and it says so). It refuses while
// unsealed, and on a system never bootstrapped.
func (c *Custody) Restore(ctx context.Context, actor string, s shamir.Share) (RestoreResult, error) {
	c.unsealMu.Lock()
	defer c.unsealMu.Unlock()
	if sealed, _ := c.Sealed(); !sealed {
		return RestoreResult{}, errAlreadyUnsealed
	}
	recs, err := c.sharings(ctx, nil)
	if err != nil {
		return RestoreResult{}, err
	}
	if len(recs) == 0 {
		// Nothing says which key is right, and a fresh log would adopt any
		// key: a restore could choose the root key.
		return RestoreResult{}, errNeverBootstrapped
	}
	if !matchesAny(s, recs) {
		return RestoreResult{}, fmt.Errorf("shard %d matches no commitment recorded in the log", s.ID)
	}
	c.mu.Lock()
	c.restore[s.ID] = s
	have := make([]shamir.Share, 0, len(c.restore))
	for _, v := range c.restore {
		have = append(have, v)
	}
	c.mu.Unlock()
	epoch, group, threshold, remaining := restoreGroup(have, recs)
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
	c.useSharing(recs[epoch])
	// The keepers get their shards back before the operator hears
	// "restored": the next restart then needs no operator.
	c.Distribute(context.WithoutCancel(ctx))
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
// missing (0: enough).
func restoreGroup(have []shamir.Share, recs map[uint64]sharing) (epoch uint64, group []shamir.Share, need, remaining int) {
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

// Restoring reports whether an operator restore is under way: shards
// given, not yet enough. A cluster's leader keeps leading meanwhile,
// keyless as it is, so that the next shard finds the ones before it.
func (c *Custody) Restoring() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.restore) > 0
}
