package nexus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/custody"
	"github.com/spikeledger/spike/projections"
	"github.com/spikeledger/spike/spikedb"
)

// Import (spike-nexus import) moves a SPIKE v0.8 deployment into a new
// data directory, offline: no server runs while it does. The root key is
// SPIKE's own, rebuilt from a threshold of SPIKE's recovery files or
// fetched from SPIKE's keepers: spike's sharing is byte-compatible with
// SPIKE's, so the same keepers then serve the new Nexus and the same
// recovery files stay valid.
//
// The new log starts with system.imported (the source and the counts),
// then every version of every secret with its original creation and
// deletion times (carried in the events, since the log's own times are
// those of the import), then every policy, then system.bootstrapped with
// the sharing's commitment, so that Nexus, on its first start, recovers
// the key from the keepers instead of waiting for spike-bootstrap, which
// would make a new key. It refuses a log that holds any event.

// ImportConfig configures an import.
type ImportConfig struct {
	// From is the SPIKE v0.8 spike.db to import (with its -wal file
	// beside it, if SPIKE ran in WAL mode).
	From string
	// DataDir is the new data directory (its events.db must be empty or
	// absent).
	DataDir string
	// RecoveryDir holds SPIKE recovery files (spike.recovery.<id>.txt);
	// when empty, the shards are fetched from the keepers.
	RecoveryDir string
	// Custody gives the keepers (in shard order), shares and threshold:
	// SPIKE's own settings, which the sharing must match.
	Custody CustodyConfig
	// Actor is recorded as the events' actor.
	Actor string
}

// ImportResult is what an import wrote.
type ImportResult struct {
	Secrets, Versions, Policies int
	// Events is the size of the new log.
	Events uint64
}

// importActor is the actor of an import's events when no SVID names it:
// an offline command has no SPIFFE ID of its own.
const importActor = "spike-nexus import"

// Import imports cfg.From into a new log in cfg.DataDir. src is needed
// only to fetch the shards from the keepers (no RecoveryDir); it may be
// nil otherwise.
func Import(ctx context.Context, cfg ImportConfig, src identity.Source, roles *identity.Roles, logger *slog.Logger) (ImportResult, error) {
	if cfg.Actor == "" {
		cfg.Actor = importActor
	}
	p := shamir.Params{Shares: cfg.Custody.Shares, Threshold: cfg.Custody.Threshold}
	if err := p.Validate(); err != nil {
		return ImportResult{}, fmt.Errorf("import: sharing (SPIKE_SHAMIR_SHARES, SPIKE_SHAMIR_THRESHOLD): %w", err)
	}
	if fi, err := os.Stat(cfg.From); err != nil {
		return ImportResult{}, fmt.Errorf("import: --from: %w", err)
	} else if !fi.Mode().IsRegular() {
		return ImportResult{}, fmt.Errorf("import: --from %s: not a file", cfg.From)
	}
	path := filepath.Join(cfg.DataDir, "events.db")
	// Look before the shards are gathered, and before Open creates
	// anything: a data directory in use is the mistake most worth
	// catching early.
	if err := checkNewDataDir(ctx, path, logger); err != nil {
		return ImportResult{}, err
	}
	var shares []shamir.Share
	var err error
	if cfg.RecoveryDir != "" {
		shares, err = recoveryShares(cfg.RecoveryDir)
	} else {
		shares, err = keeperShares(ctx, cfg.Custody.Keepers, src, roles, logger)
	}
	defer func() {
		for i := range shares {
			shares[i].Zero()
		}
	}()
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	key, com, err := rootKeyOf(shares, p)
	defer clear(key[:])
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	// Read (and so validate) the whole file before the log exists.
	snap, err := spikedb.Read(ctx, cfg.From, key[:])
	if errors.Is(err, spikedb.ErrWrongKey) {
		return ImportResult{}, fmt.Errorf("import: %s: the root key the shards rebuild does not open it: is it this deployment's spike.db?", cfg.From)
	}
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	defer wipeSnapshot(snap)
	return importInto(ctx, cfg, path, key, p, com, snap, logger)
}

// importInto writes the log. The root key never leaves key.
func importInto(ctx context.Context, cfg ImportConfig, path string, key [shamir.KeySize]byte, p shamir.Params, com shamir.Commitment, snap spikedb.Snapshot, logger *slog.Logger) (ImportResult, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return ImportResult{}, fmt.Errorf("import: data directory: %w", err)
	}
	log, err := eventlog.Open(ctx, path, eventlog.Options{Logger: logger, IndexTypes: custody.SharingTypes})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	defer log.Close()
	if n := log.Size(); n > 0 { // again: it may have been written since
		return ImportResult{}, nonEmptyLog(path, n)
	}
	if err := log.Unlock(ctx, key[:]); err != nil {
		return ImportResult{}, fmt.Errorf("import: %w", err)
	}
	pkey, err := projections.KeyFromRoot(key[:])
	if err != nil {
		return ImportResult{}, err
	}
	defer seal.Zero(pkey)
	proj, err := projections.Open(ctx, log, projections.Options{Memory: true, Key: pkey, Logger: logger})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: projection: %w", err)
	}
	defer proj.Close()
	imp, err := spikedb.Import(ctx, log, proj, cfg.From, key[:], cfg.Actor)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import: %w (the log may hold part of the import: remove %s before trying again)", err, path)
	}
	pub, err := custody.EncodeSharing(p.Shares, p.Threshold, com)
	if err != nil {
		return ImportResult{}, err
	}
	b, err := events.Encode(&events.Bootstrapped{Meta: events.Meta{Actor: cfg.Actor}, Shares: p.Shares, Threshold: p.Threshold,
		Keepers: cfg.Custody.Keepers, Commitments: com})
	if err != nil {
		return ImportResult{}, err
	}
	if _, err := log.Append(ctx, eventlog.Event{Type: (&events.Bootstrapped{}).Type(), Schema: (&events.Bootstrapped{}).Schema(), Payload: b, Public: pub}); err != nil {
		return ImportResult{}, fmt.Errorf("import: record the sharing: %w", err)
	}
	// Read it all back as Nexus will serve it.
	if err := proj.CatchUp(ctx); err != nil {
		return ImportResult{}, fmt.Errorf("import: read back: %w", err)
	}
	if err := sameSecrets(ctx, proj, snap); err != nil {
		return ImportResult{}, fmt.Errorf("import: read back: %w; do not use %s", err, cfg.DataDir)
	}
	return ImportResult{Secrets: imp.Secrets, Versions: imp.Versions, Policies: imp.Policies, Events: log.Size()}, nil
}

// checkNewDataDir refuses a data directory whose log holds events; a
// missing log is fine (Open creates it later).
func checkNewDataDir(ctx context.Context, path string, logger *slog.Logger) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	log, err := eventlog.Open(ctx, path, eventlog.Options{Logger: logger, IndexTypes: custody.SharingTypes})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer log.Close()
	if n := log.Size(); n > 0 {
		return nonEmptyLog(path, n)
	}
	return nil
}

func nonEmptyLog(path string, n uint64) error {
	return fmt.Errorf("import: %s already holds %d events: an import starts a new log; give a new --data-dir", path, n)
}

// recoveryShares reads every recovery file in dir.
func recoveryShares(dir string) ([]shamir.Share, error) {
	files, err := shamir.RecoveryFiles(dir)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no recovery files (spike.recovery.<id>.txt) in %s", dir)
	}
	shares := make([]shamir.Share, 0, len(files))
	for _, f := range files {
		s, err := shamir.ReadRecoveryFile(f)
		if err != nil {
			for i := range shares {
				shares[i].Zero()
			}
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		shares = append(shares, s)
	}
	return shares, nil
}

// keeperShares asks each keeper for its shard; a keeper that has none or
// cannot be reached is skipped (rootKeyOf says if too few answered).
func keeperShares(ctx context.Context, keepers []string, src identity.Source, roles *identity.Roles, logger *slog.Logger) ([]shamir.Share, error) {
	if src == nil {
		return nil, errors.New("no recovery directory and no SVID to ask the keepers with")
	}
	var shares []shamir.Share
	var failed []string
	for i, url := range keepers {
		c, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Timeout: 10 * time.Second, Logger: logger,
			Server: identity.AuthorizeRoles(func(id spiffeid.ID) bool { return roles.IsKeeperAt(id, i+1) })})
		if err != nil {
			return shares, err
		}
		var resp api.ShardGetResponse
		err = c.Do(ctx, transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp, Safe: true})
		c.Close()
		switch {
		case err != nil:
			failed = append(failed, fmt.Sprintf("%s: %v", url, err))
		case resp.Shard == nil || resp.Shard.IsZero():
			failed = append(failed, url+": holds no shard")
		default:
			shares = append(shares, shamir.Share{ID: i + 1, Value: *resp.Shard})
			resp.Shard.Wipe()
		}
	}
	if len(failed) > 0 {
		logger.Warn("import: keepers without a shard", "keepers", failed)
	}
	return shares, nil
}

// rootKeyOf rebuilds the root key from shares and checks every share
// against the commitment of SPIKE's deterministic sharing of that key
// with p: a shard from another deployment, or shares and threshold that
// are not SPIKE's, are caught here rather than as an undecryptable file.
func rootKeyOf(shares []shamir.Share, p shamir.Params) ([shamir.KeySize]byte, shamir.Commitment, error) {
	var key [shamir.KeySize]byte
	if len(shares) < p.Threshold {
		return key, nil, fmt.Errorf("%d shards, and the threshold is %d", len(shares), p.Threshold)
	}
	key, err := shamir.Combine(p.Threshold, shares[:p.Threshold])
	if err != nil {
		return key, nil, fmt.Errorf("rebuild the root key: %w", err)
	}
	shards, com, err := shamir.Split(&key, p)
	for i := range shards {
		shards[i].Zero()
	}
	if err != nil {
		clear(key[:])
		return key, nil, err
	}
	for _, s := range shares {
		if !shamir.Verify(s, com) {
			clear(key[:])
			return key, nil, fmt.Errorf("shard %d does not belong to the sharing the others make with %d shares and threshold %d: check SPIKE_SHAMIR_SHARES and SPIKE_SHAMIR_THRESHOLD (they must be SPIKE's), and that every shard is from this deployment", s.ID, p.Shares, p.Threshold)
		}
	}
	return key, com, nil
}

// sameSecrets checks that p serves every secret and policy of snap: the
// same versions, data and times, and the same policies.
func sameSecrets(ctx context.Context, p *projections.Projection, snap spikedb.Snapshot) error {
	got, err := spikedb.SnapshotOf(ctx, p)
	if err != nil {
		return err
	}
	defer wipeSnapshot(got)
	if len(got.Secrets) != len(snap.Secrets) || len(got.Policies) != len(snap.Policies) {
		return fmt.Errorf("%d secrets and %d policies, want %d and %d", len(got.Secrets), len(got.Policies), len(snap.Secrets), len(snap.Policies))
	}
	for i, want := range snap.Secrets {
		g := got.Secrets[i]
		if g.Path != want.Path || len(g.Versions) != len(want.Versions) {
			return fmt.Errorf("secret %q: versions differ", want.Path)
		}
		for j, wv := range want.Versions {
			gv := g.Versions[j]
			if gv.Version != wv.Version || !maps.Equal(gv.Data, wv.Data) || !gv.Created.Equal(wv.Created) || (gv.Deleted == nil) != (wv.Deleted == nil) ||
				gv.Deleted != nil && !gv.Deleted.Equal(*wv.Deleted) {
				return fmt.Errorf("secret %q version %d differs", want.Path, wv.Version)
			}
		}
	}
	for i, want := range snap.Policies {
		g := got.Policies[i]
		if g.Name != want.Name || g.SpiffeIDPattern != want.SpiffeIDPattern || g.PathPattern != want.PathPattern || fmt.Sprint(g.Permissions) != fmt.Sprint(want.Permissions) {
			return fmt.Errorf("policy %q differs", want.Name)
		}
	}
	return nil
}

func wipeSnapshot(s spikedb.Snapshot) {
	for _, sec := range s.Secrets {
		for _, v := range sec.Versions {
			clear(v.Data)
		}
	}
}
