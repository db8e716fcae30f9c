package bootstrap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// Outcome is what a run did.
type Outcome uint8

// The outcomes.
const (
	// OutcomeBootstrapped: a new root key was shared out and Nexus
	// proved it holds it.
	OutcomeBootstrapped Outcome = iota + 1
	// OutcomeAlreadyBootstrapped: Nexus reported the system bootstrapped;
	// nothing was changed.
	OutcomeAlreadyBootstrapped
	// OutcomeSkipped: the backend store keeps no root key with Keepers.
	OutcomeSkipped
)

// Result says what a run did.
type Result struct {
	Outcome Outcome
	// Keepers is how many Keepers got a shard.
	Keepers int
	// Shares and Threshold are the sharing made, or for
	// OutcomeAlreadyBootstrapped the one Nexus reported (0 when it cannot
	// say: SPIKE v0.8).
	Shares, Threshold int
	// Forced is set when --force made the run go ahead: Nexus reported
	// the system bootstrapped, or could not say.
	Forced bool
	// BackendStore is the store that made the run unnecessary, for
	// OutcomeSkipped.
	BackendStore string
}

// String is the one line the command prints.
func (r Result) String() string {
	switch {
	case r.Outcome == OutcomeBootstrapped:
		return fmt.Sprintf("bootstrap complete: %d keepers, threshold %d, Nexus verified", r.Keepers, r.Threshold)
	case r.Outcome == OutcomeAlreadyBootstrapped && r.Shares == 0:
		// A Nexus without the status query (SPIKE v0.8) does not say.
		return "already bootstrapped (Nexus holds a root key): nothing to do"
	case r.Outcome == OutcomeAlreadyBootstrapped:
		return fmt.Sprintf("already bootstrapped (%d shares, threshold %d): nothing to do", r.Shares, r.Threshold)
	case r.Outcome == OutcomeSkipped:
		return fmt.Sprintf("backend store %q keeps no root key with keepers: nothing to do", r.BackendStore)
	}
	return "nothing done"
}

// callTimeout bounds one call to Nexus.
const callTimeout = 30 * time.Second

// maxKeyDraws bounds the root keys drawn until one splits: a key not
// below the P-256 group order (probability about 2^-32) cannot be shared
// SPIKE's way, and another is drawn.
const maxKeyDraws = 4

// Run bootstraps the system described by cfg (see the package
// documentation), as the SPIFFE identity src provides, which must be
// SPIKE Bootstrap's. Nexus and the Keepers are authenticated at the TLS
// handshake against roles. logger may be nil; the root key and the shards
// never reach it. src and roles may be nil when cfg's backend store needs
// no Keepers.
//
// Every error is one line: it names the Keeper or Nexus URL and why.
func Run(ctx context.Context, cfg Config, src identity.Source, roles *identity.Roles, logger *slog.Logger) (Result, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return Result{}, fmt.Errorf("configuration: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.UsesKeepers() {
		logger.Info("backend store keeps no root key with keepers; nothing to bootstrap", "backend_store", cfg.BackendStore)
		return Result{Outcome: OutcomeSkipped, BackendStore: cfg.BackendStore}, nil
	}
	if err := checkSelf(src, roles); err != nil {
		return Result{}, err
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	r, err := newRunner(cfg, src, roles, logger)
	if err != nil {
		return Result{}, err
	}
	defer r.close()
	return r.run(ctx)
}

// checkSelf checks that this process is SPIKE Bootstrap, as SPIKE does.
func checkSelf(src identity.Source, roles *identity.Roles) error {
	if src == nil || roles == nil {
		return errors.New("no SPIFFE identity source or trust roots given")
	}
	svid, err := src.GetX509SVID()
	if err != nil {
		return fmt.Errorf("own SVID: %w", err)
	}
	if !roles.IsBootstrap(svid.ID) {
		want, _ := roles.ID(identity.RoleBootstrap, "")
		return fmt.Errorf("own SPIFFE ID %s is not SPIKE Bootstrap's (want %s; see SPIKE_TRUST_ROOT_BOOTSTRAP)", svid.ID, want)
	}
	return nil
}

// runner holds one run's clients: one pinned to Nexus, and one per
// Keeper pinned to that Keeper's position (identity.Roles.IsKeeperAt), so
// one stolen numbered keeper identity answering at every keeper's
// address cannot collect every shard.
type runner struct {
	cfg     Config
	nexus   *transport.Client
	keepers []*transport.Client
	log     *slog.Logger
}

func newRunner(cfg Config, src identity.Source, roles *identity.Roles, logger *slog.Logger) (*runner, error) {
	nexus, err := transport.NewClient(transport.ClientOptions{
		SVID: src, Bundle: src, Server: identity.AuthorizeRoles(roles.IsNexus),
		Timeout: callTimeout, Retries: -1, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("nexus client: %w", err)
	}
	r := &runner{cfg: cfg, nexus: nexus, log: logger}
	for i := range cfg.Keepers {
		kc, err := transport.NewClient(transport.ClientOptions{
			SVID: src, Bundle: src, Timeout: cfg.KeeperTimeout, Retries: -1, Logger: logger,
			Server: identity.AuthorizeRoles(func(id spiffeid.ID) bool { return roles.IsKeeperAt(id, i+1) }),
		})
		if err != nil {
			r.close()
			return nil, fmt.Errorf("keeper client: %w", err)
		}
		r.keepers = append(r.keepers, kc)
	}
	return r, nil
}

func (r *runner) close() {
	r.nexus.Close()
	for _, k := range r.keepers {
		k.Close()
	}
}

// run asks Nexus first, then bootstraps if there is reason to.
func (r *runner) run(ctx context.Context) (Result, error) {
	st, err := r.waitForNexus(ctx)
	if err != nil {
		return Result{}, err
	}
	if st.Bootstrapped && !r.cfg.Force {
		if st.inferred {
			r.log.Info("Nexus does not serve the bootstrap status query (SPIKE v0.8), but its readiness gate let the query through: "+
				"it holds a root key already; changing nothing", "nexus", r.cfg.NexusURL)
		} else {
			r.log.Info("Nexus reports the system bootstrapped; changing nothing", "nexus", r.cfg.NexusURL)
		}
		return Result{Outcome: OutcomeAlreadyBootstrapped, Shares: st.Shares, Threshold: st.Threshold}, nil
	}
	if err := r.checkSharing(st); err != nil {
		return Result{}, err
	}
	r.announce(st)
	if err := r.bootstrap(ctx); err != nil {
		return Result{}, err
	}
	return Result{
		Outcome: OutcomeBootstrapped, Keepers: len(r.cfg.Keepers),
		Shares: r.cfg.Shares, Threshold: r.cfg.Threshold,
		Forced: r.cfg.Force && (st.Bootstrapped || !st.known && !st.inferred),
	}, nil
}

// checkSharing refuses a sharing Nexus is not configured for: Nexus
// would combine the wrong number of shards and never rebuild the key.
func (r *runner) checkSharing(st nexusStatus) error {
	if !st.known || st.Bootstrapped || st.Shares == 0 {
		return nil
	}
	if st.Shares != r.cfg.Shares || st.Threshold != r.cfg.Threshold {
		return fmt.Errorf("nexus %s expects %d shares with threshold %d, but bootstrap is configured for %d with threshold %d: give both the same SPIKE_SHAMIR_SHARES and SPIKE_SHAMIR_THRESHOLD",
			r.cfg.NexusURL, st.Shares, st.Threshold, r.cfg.Shares, r.cfg.Threshold)
	}
	return nil
}

// announce logs what the run is about to do, and with --force what it
// destroys.
func (r *runner) announce(st nexusStatus) {
	const destroys = "a NEW root key replaces the current one and every keeper's shard is overwritten: " +
		"every existing secret becomes unreadable unless the old key is restored from recovery shards (spike operator recover)"
	switch {
	case r.cfg.Force && st.Bootstrapped:
		r.log.Warn("--force: bootstrapping a system Nexus reports as bootstrapped", "destroys", destroys,
			"nexus", r.cfg.NexusURL, "old_shares", st.Shares, "old_threshold", st.Threshold)
	case st.inferred && st.Sealed:
		r.log.Warn("Nexus does not serve the bootstrap status query and waits for a root key, as SPIKE v0.8's Nexus does: "+
			"bootstrapping as SPIKE's bootstrap does, without asking whether the system was bootstrapped before",
			"nexus", r.cfg.NexusURL,
			"if_bootstrapped_before", "if this Nexus was bootstrapped and its keepers lost their shards, the new root key makes its data unreadable: "+
				"stop now and give it the old key's recovery shards instead (spike operator restore)")
	case r.cfg.Force && !st.known:
		r.log.Warn("--force: Nexus cannot say whether the system is bootstrapped; bootstrapping anyway", "if_bootstrapped", destroys,
			"nexus", r.cfg.NexusURL)
	case r.cfg.Force:
		r.log.Info("--force given, but Nexus reports no bootstrap: nothing to destroy", "nexus", r.cfg.NexusURL)
	}
	r.log.Info("bootstrapping", "keepers", len(r.cfg.Keepers), "shares", r.cfg.Shares, "threshold", r.cfg.Threshold, "nexus", r.cfg.NexusURL)
}

// bootstrap makes the root key, shares it out and verifies Nexus holds
// it; the key and the shards are zeroed before it returns.
func (r *runner) bootstrap(ctx context.Context) error {
	key, shares, com, err := newRootKey(r.cfg.params())
	if err != nil {
		return err
	}
	defer func() {
		seal.Zero(key[:])
		for i := range shares {
			shares[i].Zero()
		}
	}()
	if err := r.contribute(ctx, shares); err != nil {
		return err
	}
	r.log.Info("shard distribution done: every keeper holds its shard", "keepers", len(shares))
	return r.verify(ctx, key, com)
}

// newRootKey draws a random root key and splits it as SPIKE does.
func newRootKey(p shamir.Params) (*[shamir.KeySize]byte, []shamir.Share, shamir.Commitment, error) {
	key := new([shamir.KeySize]byte)
	var err error
	for range maxKeyDraws {
		if _, err := rand.Read(key[:]); err != nil {
			return nil, nil, nil, fmt.Errorf("root key: %w", err)
		}
		shares, com, splitErr := shamir.Split(key, p)
		if splitErr == nil {
			return key, shares, com, nil
		}
		err = splitErr
		seal.Zero(key[:])
	}
	return nil, nil, nil, fmt.Errorf("root key: %d draws could not be split: %w", maxKeyDraws, err)
}
