package devcluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// A restart on a kept data directory starts Keepers that hold nothing:
// in one process they die with it. A production Nexus restarts beside
// Keepers that kept their shards, and unseals from them by itself. So
// that `spike dev` restarts the same way, instead of Nexus finding every
// Keeper empty (each answers 400, which Nexus logs as a warning while it
// stays sealed) and waiting for the break-glass restore, each Keeper is
// given back its shard from the recovery files before Nexus starts.

// seedKeepers gives Keeper N the shard of spike.recovery.N.txt, as
// Bootstrap gives it (with its identity), and reports whether it did. A
// directory whose files do not fit these Keepers (none, or another
// number: another --keepers) seeds nothing: unseal then says what is
// wrong, or restores from what there is.
func (c *Cluster) seedKeepers(ctx context.Context) (bool, error) {
	files, err := shamir.RecoveryFiles(c.RecoveryDir())
	if err != nil {
		return false, fmt.Errorf("devcluster: %w", err)
	}
	if len(files) == 0 || len(files) != len(c.keepers) {
		return false, nil
	}
	shares := make([]shamir.Share, 0, len(files))
	defer func() {
		for i := range shares {
			shares[i].Zero()
		}
	}()
	for _, f := range files {
		s, err := shamir.ReadRecoveryFile(f)
		if err != nil {
			s.Zero()
			return false, fmt.Errorf("devcluster: %s: %w", filepath.Base(f), err)
		}
		shares = append(shares, s)
		if s.ID < 1 || s.ID > len(c.keepers) {
			return false, nil
		}
	}
	src, err := c.iss.static(identity.PathBootstrap)
	if err != nil {
		return false, err
	}
	defer src.Close()
	for _, s := range shares {
		if err := c.seedKeeper(ctx, src, s); err != nil {
			return false, err
		}
	}
	return true, nil
}

// seedKeeper contributes s to the Keeper at its position, pinned to that
// Keeper's identity.
func (c *Cluster) seedKeeper(ctx context.Context, src identity.Source, s shamir.Share) error {
	id, err := spiffeid.FromPath(c.s.td, identity.PathKeeper+"/"+strconv.Itoa(s.ID))
	if err != nil {
		return fmt.Errorf("devcluster: keeper %d: %w", s.ID, err)
	}
	cl, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(id),
		Timeout: callTimeout, Logger: c.s.logger})
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	defer cl.Close()
	shard := api.Shard(s.Value)
	defer shard.Wipe()
	var resp api.ShardContributeResponse
	err = cl.Do(ctx, transport.Call{BaseURL: c.keepers[s.ID-1], Path: api.PathKeeperContribute,
		Request: api.ShardContributeRequest{Shard: &shard}, Response: &resp})
	if err == nil && resp.Err != "" {
		err = errors.New(string(resp.Err))
	}
	if err != nil {
		return fmt.Errorf("devcluster: give keeper %d its shard: %w", s.ID, err)
	}
	return nil
}
