package sdk

import (
	"context"

	"github.com/spikeledger/spike/api"
)

// BootstrapStatus says whether Nexus has a root key.
type BootstrapStatus struct {
	// Bootstrapped: the log records a completed bootstrap.
	Bootstrapped bool
	// Sealed: Nexus does not hold the root key now.
	Sealed bool
	// Shares and Threshold are the root key's Shamir sharing (0 when
	// there is none yet).
	Shares, Threshold int
}

// BootstrapStatus asks Nexus whether it is bootstrapped and sealed. Nexus
// answers even while sealed. Callers: spike-bootstrap and the superuser
// pilot.
func (c *Client) BootstrapStatus(ctx context.Context) (*BootstrapStatus, error) {
	var resp api.BootstrapStatusResponse
	if err := c.call(ctx, "", api.BootstrapStatusRequest{}, &resp); err != nil {
		return nil, err
	}
	return &BootstrapStatus{Bootstrapped: resp.Bootstrapped, Sealed: resp.Sealed, Shares: resp.Shares, Threshold: resp.Threshold}, nil
}

// Recover takes every Shamir shard of the root key from Nexus, keyed by
// shard ID, for an operator to keep offline (break-glass; the caller
// needs the spike/pilot/role/recover identity). Wipe each shard when done
// with it.
func (c *Client) Recover(ctx context.Context) (map[int]*api.Shard, error) {
	var resp api.RecoverResponse
	if err := c.call(ctx, "", api.RecoverRequest{}, &resp); err != nil {
		return nil, err
	}
	return resp.Shards, nil
}

// RestoreProgress is where an operator restore stands.
type RestoreProgress struct {
	Collected, Remaining int
	// Restored: Nexus rebuilt its root key and is unsealing.
	Restored bool
}

// RestoreShard hands a sealed Nexus one recovery shard (break-glass; the
// caller needs the spike/pilot/role/restore identity). Once Nexus holds
// enough it rebuilds the root key. A Nexus that is not sealed answers
// ErrConflict. The caller still owns shard and should wipe it.
func (c *Client) RestoreShard(ctx context.Context, id int, shard *api.Shard) (*RestoreProgress, error) {
	var resp api.RestoreResponse
	if err := c.call(ctx, "", api.RestoreRequest{ID: id, Shard: shard}, &resp); err != nil {
		return nil, err
	}
	return &RestoreProgress{Collected: resp.Collected, Remaining: resp.Remaining, Restored: resp.Restored}, nil
}
