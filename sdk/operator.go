package sdk

import (
	"context"
	"time"

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

// SystemStatus is how Nexus is: sealed or ready, its keepers as it last
// saw them, its log.
type SystemStatus struct {
	// State is api.SystemReady or api.SystemSealed; Reason says why
	// Nexus is sealed.
	State, Reason string
	// Node is the SPIFFE ID of the Nexus that answered; Leader that of
	// the one that commits writes (Node itself on a single node).
	Node, Leader string
	// Bootstrapped: the log records a completed bootstrap.
	Bootstrapped bool
	// UnsealedAt is when the root key came back (nil while sealed).
	UnsealedAt *time.Time
	// Keepers are the configured keepers as last contacted, in shard
	// order; KeepersReachable counts those whose last contact got
	// through.
	Keepers          []api.KeeperStatus
	KeepersReachable int
	// Shares and Threshold are the root key's Shamir sharing.
	Shares, Threshold int
	// LogEvents is the event log's length, LogBytes the bytes of its
	// file it uses.
	LogEvents uint64
	LogBytes  int64
	// Checkpoint is the newest signed checkpoint (nil before the first).
	Checkpoint *api.CheckpointStatus
}

// Sealed reports whether Nexus is without its root key.
func (s *SystemStatus) Sealed() bool { return s.State != api.SystemReady }

// SystemStatus asks Nexus how it is. Nexus answers even while sealed
// (when every other call is 503), to the superuser and auditor pilot
// roles only. A sealed Nexus is an answer, not an error: check
// [SystemStatus.Sealed].
func (c *Client) SystemStatus(ctx context.Context) (*SystemStatus, error) {
	var resp api.SystemStatusResponse
	if err := c.call(ctx, "", api.SystemStatusRequest{}, &resp); err != nil {
		return nil, err
	}
	if resp.Keepers == nil {
		resp.Keepers = []api.KeeperStatus{}
	}
	return &SystemStatus{State: resp.State, Reason: resp.Reason, Node: resp.Node, Leader: resp.Leader,
		Bootstrapped: resp.Bootstrapped, UnsealedAt: resp.UnsealedAt, Keepers: resp.Keepers,
		KeepersReachable: resp.KeepersReachable, Shares: resp.Shares, Threshold: resp.Threshold,
		LogEvents: resp.LogEvents, LogBytes: resp.LogBytes, Checkpoint: resp.Checkpoint}, nil
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
