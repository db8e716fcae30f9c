package devcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/bootstrap"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// callTimeout bounds one call devcluster makes to Nexus.
const callTimeout = 30 * time.Second

// unseal brings Nexus to ready: the real Bootstrap on a fresh data
// directory, followed by an export of the recovery files; on one that
// is already bootstrapped, Nexus unseals from the Keepers seedKeepers
// gave their shards (seeded), or else by an operator restore from the
// recovery files.
func (c *Cluster) unseal(ctx context.Context, seeded bool) error {
	src, err := c.iss.static(identity.PathBootstrap)
	if err != nil {
		return err
	}
	defer src.Close()
	res, err := bootstrap.Run(ctx, c.bootstrapConfig(), src, c.roles, c.s.logger.With("component", "bootstrap"))
	if err != nil {
		return fmt.Errorf("devcluster: bootstrap: %w", err)
	}
	switch res.Outcome {
	case bootstrap.OutcomeBootstrapped:
		err = c.exportRecovery(ctx)
	case bootstrap.OutcomeAlreadyBootstrapped:
		err = c.restore(ctx, res.Shares, seeded, src)
	default:
		err = fmt.Errorf("devcluster: bootstrap: %s", res)
	}
	if err != nil {
		return err
	}
	return c.checkReady(ctx, src)
}

// bootstrapConfig is Bootstrap's configuration for this cluster, with
// waits short enough for one process on loopback.
func (c *Cluster) bootstrapConfig() bootstrap.Config {
	return bootstrap.Config{
		Keepers:            c.keepers,
		NexusURL:           c.nexusURL,
		Threshold:          c.s.threshold,
		Timeout:            2 * time.Minute,
		NexusWait:          30 * time.Second,
		KeeperTimeout:      30 * time.Second,
		KeeperRetryInitial: 100 * time.Millisecond,
		KeeperRetryMax:     time.Second,
		VerifyTimeout:      30 * time.Second,
		PollInitial:        50 * time.Millisecond,
		PollMax:            time.Second,
	}
}

// client returns a client with the identity at path, pinned to Nexus,
// and the function that closes it.
func (c *Cluster) client(path string) (*transport.Client, func(), error) {
	src, err := c.iss.static(path)
	if err != nil {
		return nil, nil, err
	}
	cl, err := c.clientWith(src)
	if err != nil {
		src.Close()
		return nil, nil, err
	}
	return cl, func() { cl.Close(); src.Close() }, nil
}

// clientWith returns a client with src's identity, pinned to Nexus.
func (c *Cluster) clientWith(src identity.Source) (*transport.Client, error) {
	cl, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src,
		Server: identity.AuthorizeRoles(c.roles.IsNexus), Timeout: callTimeout, Logger: c.s.logger})
	if err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	return cl, nil
}

// exportRecovery takes every shard from Nexus, as the recover role, into
// the recovery directory.
func (c *Cluster) exportRecovery(ctx context.Context) error {
	cl, done, err := c.client(identity.PathPilotRecover)
	if err != nil {
		return err
	}
	defer done()
	var resp api.RecoverResponse
	err = cl.Do(ctx, transport.Call{BaseURL: c.nexusURL, Path: api.PathOperatorRecover, Request: api.RecoverRequest{}, Response: &resp})
	defer func() {
		for _, s := range resp.Shards {
			if s != nil {
				s.Wipe()
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("devcluster: operator recover: %w", err)
	}
	if len(resp.Shards) == 0 {
		return errors.New("devcluster: operator recover: Nexus returned no shards")
	}
	// The files are named and written as `spike operator recover` writes
	// them, so that `spike operator restore <data dir>/recover/*` works by
	// hand too.
	shares := make([]shamir.Share, 0, len(resp.Shards))
	defer func() {
		for i := range shares {
			shares[i].Zero()
		}
	}()
	for id, s := range resp.Shards {
		if s == nil || s.IsZero() {
			return fmt.Errorf("devcluster: operator recover: Nexus returned an empty shard %d", id)
		}
		shares = append(shares, shamir.Share{ID: id, Value: *s})
	}
	if _, err := shamir.WriteRecoveryDir(c.RecoveryDir(), shares); err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	return nil
}

// restore unseals a bootstrapped Nexus: it waits for Nexus to unseal
// from the Keepers it seeded, or else gives Nexus the recovery files as
// the restore role, one per call, until Nexus says it is restored.
// shares is the sharing Nexus recorded at bootstrap, which this run's
// Keepers must match.
func (c *Cluster) restore(ctx context.Context, shares int, seeded bool, src identity.Source) error {
	if shares != 0 && shares != c.s.keepers {
		return fmt.Errorf("devcluster: %s was bootstrapped with %d keepers, not %d: start with --keepers %d",
			c.s.dataDir, shares, c.s.keepers, shares)
	}
	files, err := shamir.RecoveryFiles(c.RecoveryDir())
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("devcluster: %s holds a bootstrapped Nexus but %s holds no recovery files: it cannot be unsealed; use another data directory",
			c.s.dataDir, c.RecoveryDir())
	}
	if seeded {
		unsealed, err := c.waitUnsealed(ctx, src)
		if err != nil {
			return err
		}
		if unsealed {
			c.s.logger.Info("devcluster: Nexus unsealed from its Keepers", "dir", c.RecoveryDir())
			return nil
		}
	}
	cl, done, err := c.client(identity.PathPilotRestore)
	if err != nil {
		return err
	}
	defer done()
	var last api.RestoreResponse
	for _, f := range files {
		last, err = c.restoreOne(ctx, cl, f)
		if isAlreadyUnsealed(err) {
			return nil // unsealed from the Keepers meanwhile
		}
		if err != nil {
			return fmt.Errorf("devcluster: restore from %s: %w", filepath.Base(f), err)
		}
		if last.Restored {
			c.s.logger.Info("devcluster: Nexus restored from the recovery files", "dir", c.RecoveryDir())
			return nil
		}
	}
	return fmt.Errorf("devcluster: the recovery files in %s did not restore Nexus: %d shards given, %d more needed",
		c.RecoveryDir(), last.Collected, last.Remaining)
}

// restoreOne hands Nexus the shard in file.
func (c *Cluster) restoreOne(ctx context.Context, cl *transport.Client, file string) (api.RestoreResponse, error) {
	var resp api.RestoreResponse
	s, err := shamir.ReadRecoveryFile(file)
	defer s.Zero()
	if err != nil {
		return resp, err
	}
	err = cl.Do(ctx, transport.Call{BaseURL: c.nexusURL, Path: api.PathOperatorRestore,
		Request: api.RestoreRequest{ID: s.ID, Shard: (*api.Shard)(&s.Value)}, Response: &resp})
	return resp, err
}

// seededWait bounds the wait for Nexus to unseal from seeded Keepers: it
// asks them at once, on loopback, and needs well under a second.
const seededWait = 10 * time.Second

// waitUnsealed polls Nexus's status until it is unsealed, for at most
// seededWait, and reports whether it is.
func (c *Cluster) waitUnsealed(ctx context.Context, src identity.Source) (bool, error) {
	cl, err := c.clientWith(src)
	if err != nil {
		return false, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, seededWait)
	defer cancel()
	delay := 20 * time.Millisecond
	for {
		var st api.BootstrapStatusResponse
		err := cl.Do(ctx, transport.Call{BaseURL: c.nexusURL, Path: api.PathBootstrapStatus,
			Request: api.BootstrapStatusRequest{}, Response: &st, Safe: true})
		if err == nil && !st.Sealed {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-time.After(delay):
		}
		delay = min(2*delay, 500*time.Millisecond)
	}
}

// isAlreadyUnsealed: Nexus refused a shard because it holds its key.
func isAlreadyUnsealed(err error) bool {
	var se *transport.StatusError
	return errors.As(err, &se) && se.Status == http.StatusConflict
}

// checkReady asks Nexus, as Bootstrap, whether it is bootstrapped and
// unsealed: the promise Start makes.
func (c *Cluster) checkReady(ctx context.Context, src identity.Source) error {
	cl, err := c.clientWith(src)
	if err != nil {
		return err
	}
	defer cl.Close()
	var st api.BootstrapStatusResponse
	if err := cl.Do(ctx, transport.Call{BaseURL: c.nexusURL, Path: api.PathBootstrapStatus,
		Request: api.BootstrapStatusRequest{}, Response: &st, Safe: true}); err != nil {
		return fmt.Errorf("devcluster: nexus status: %w", err)
	}
	if !st.Bootstrapped || st.Sealed {
		return fmt.Errorf("devcluster: nexus is not ready after start (bootstrapped %v, sealed %v)", st.Bootstrapped, st.Sealed)
	}
	return nil
}
