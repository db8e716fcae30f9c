package custody

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/nexus/internal/metrics"
	"github.com/spikeledger/spike/nexus/internal/service"
)

// Config says where the shards are and how the key is split.
type Config struct {
	// Keepers are the Keepers' base URLs; shard i+1 belongs to Keepers[i].
	Keepers []string
	// Shares and Threshold of the sharing; Shares must equal len(Keepers).
	Shares, Threshold int
	// KeeperUpdateInterval is how often every Keeper is re-sent its
	// shard. Default 5m.
	KeeperUpdateInterval time.Duration
	// RecoveryMaxInterval bounds the backoff between recovery attempts.
	// Default 60s.
	RecoveryMaxInterval time.Duration
	// Self is Nexus's own SPIFFE ID, the actor of the events it records
	// on its own.
	Self string
	// Rotation is "deterministic" (SPIKE's: the same shards forever, the
	// default) or "refresh": every RotationInterval the key is re-split
	// into a new epoch, so a shard stolen from a Keeper's memory stops
	// being useful. RotationInterval defaults to 24h.
	Rotation         string
	RotationInterval time.Duration
	// HealthInterval is how often every Keeper is probed (a handshake, no
	// shard moves); a Keeper that stops answering is recorded once, when
	// it goes. Default 30s.
	HealthInterval time.Duration
}

// Defaults fills in what c leaves out and checks the rest.
func (c *Config) Defaults() error {
	if c.KeeperUpdateInterval <= 0 {
		c.KeeperUpdateInterval = 5 * time.Minute
	}
	if c.RecoveryMaxInterval <= 0 {
		c.RecoveryMaxInterval = time.Minute
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = 30 * time.Second
	}
	if c.RotationInterval <= 0 {
		c.RotationInterval = 24 * time.Hour
	}
	switch c.Rotation {
	case "":
		c.Rotation = RotationDeterministic
	case RotationDeterministic, RotationRefresh:
	default:
		return fmt.Errorf("nexus: shard rotation %q: want %s or %s", c.Rotation, RotationDeterministic, RotationRefresh)
	}
	if len(c.Keepers) == 0 {
		return errors.New("nexus: no keepers configured")
	}
	if c.Shares != len(c.Keepers) {
		return fmt.Errorf("nexus: %d shares for %d keepers: there must be one shard per keeper", c.Shares, len(c.Keepers))
	}
	return shamir.Params{Shares: c.Shares, Threshold: c.Threshold}.Validate()
}

// Shard rotation modes.
const (
	RotationDeterministic = "deterministic"
	RotationRefresh       = "refresh"
)

// Custody holds the root key, or knows why it does not yet.
type Custody struct {
	cfg Config
	// log is read (the sharings, while sealed) and unlocked; what
	// custody records goes through commit, or through the command loop
	// (which commits through the same Committer) once it runs.
	log      *eventlog.Log
	commit   commit.Committer
	keepers  *transport.Client
	logger   *slog.Logger
	onUnseal func(ctx context.Context, rootKey []byte) error
	leads    func() bool
	wake     chan struct{} // see Wake

	// unsealMu serialises everything that may unseal (recovery, bootstrap
	// verification, restore) from the sealed check to the key being set,
	// so the key arrives exactly once.
	unsealMu sync.Mutex

	mu      sync.Mutex
	key     *seal.LockedKey // nil while sealed
	epoch   uint64          // of the sharing the Keepers hold
	params  shamir.Params   // of that sharing, as recorded
	reason  string
	restore map[int]shamir.Share
	life    context.Context // ends when Nexus stops; background work uses it
	index   sharingIndex
	service atomic.Pointer[service.Service] // set once unsealed
	// pinned, when set, holds one client per keeper that accepts only
	// an identity that may answer at that keeper's position
	// (identity.Roles.IsKeeperAt), so one stolen numbered keeper identity
	// cannot collect every shard by answering at the other keepers'
	// addresses.
	pinned []*transport.Client
	bg     sync.WaitGroup // background work, waited for before closing

	// unsealedAt is when the key came back (under mu); health is what
	// each keeper last answered. Both are for the status route.
	unsealedAt time.Time
	health     keeperHealth
	// awaitingBootstrap is set while the last recovery attempt found no
	// sharing recorded: Nexus is sealed and not recovering (under mu).
	awaitingBootstrap bool
	metrics           *metrics.Metrics
}

// Root key states, as the metrics name them.
const (
	keySealed     = "sealed"     // no key, and nothing to recover it from yet
	keyRecovering = "recovering" // no key; gathering shards from the keepers
	keyReady      = "ready"
)

// keyState says where the root key is.
func (c *Custody) keyState() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.key != nil:
		return keyReady
	case c.awaitingBootstrap:
		return keySealed
	}
	return keyRecovering
}

// keeper returns the client for keeper i (0-based).
func (c *Custody) keeper(i int) *transport.Client {
	if i < len(c.pinned) {
		return c.pinned[i]
	}
	return c.keepers
}

// Go runs f on its own goroutine under custody's life (see Start),
// tracked so that Wait waits for it.
func (c *Custody) Go(f func(ctx context.Context)) {
	c.bg.Go(func() { f(c.life) })
}

// Deps are what custody works with.
type Deps struct {
	// Log is read (the sharings, while sealed) and unlocked; Commit is
	// how custody records before the command loop runs (after, it
	// records through the loop: SetService).
	Log    *eventlog.Log
	Commit commit.Committer
	// Keepers reaches any keeper; Pinned, if set, holds one client per
	// keeper (see Custody.pinned).
	Keepers *transport.Client
	Pinned  []*transport.Client
	// Metrics, if set, is what custody counts into.
	Metrics *metrics.Metrics
	Logger  *slog.Logger
	// OnUnseal runs once the log is unlocked (to open the projections)
	// before Nexus reports ready.
	OnUnseal func(ctx context.Context, rootKey []byte) error
	// Leads, if set, reports whether this Nexus leads its cluster: only
	// the leader acts on the world (sends shards, rotates, records
	// keeper outages); a follower still recovers the key and probes the
	// keepers for its own status. Nil: a single Nexus, always leading.
	Leads func() bool
}

// New returns sealed custody.
func New(cfg Config, d Deps) (*Custody, error) {
	if err := cfg.Defaults(); err != nil {
		return nil, err
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New(nil)
	}
	return &Custody{cfg: cfg, log: d.Log, commit: d.Commit, keepers: d.Keepers, pinned: d.Pinned, logger: d.Logger, onUnseal: d.OnUnseal, leads: d.Leads, wake: make(chan struct{}, 1),
		reason: "starting: no shards gathered yet", restore: map[int]shamir.Share{},
		params: shamir.Params{Shares: cfg.Shares, Threshold: cfg.Threshold}, life: context.Background(),
		health: keeperHealth{last: make([]keeperContact, len(cfg.Keepers))}, metrics: d.Metrics}, nil
}

// Start runs custody's background work until life ends: watching the
// keepers, and recovering the root key, then keeping the keepers' shards
// up to date. Wait waits for it (and for all run with Go) to end.
func (c *Custody) Start(life context.Context) {
	c.life = life
	c.Go(c.WatchKeepers)
	c.Go(func(ctx context.Context) {
		c.Recover(ctx)
		if sealed, _ := c.Sealed(); !sealed && c.leading() {
			c.Distribute(ctx)
		}
		c.DistributeEvery(ctx)
	})
}

// leading reports whether this Nexus may act on the world (see
// Deps.Leads).
func (c *Custody) leading() bool { return c.leads == nil || c.leads() }

// Wait waits for the background work to end.
func (c *Custody) Wait() { c.bg.Wait() }

// SetService hands custody the running service: from then on custody
// records through its command loop, and the gate serves its routes.
func (c *Custody) SetService(svc *service.Service) { c.service.Store(svc) }

// Service returns the service, or nil while sealed.
func (c *Custody) Service() *service.Service { return c.service.Load() }

// errAlreadyUnsealed: another path brought the key back first.
var errAlreadyUnsealed = errors.New("nexus is already unsealed")

// useSharing makes s the sharing in force: its epoch and parameters are
// what shards are computed with from now on, whatever the configuration
// says (a changed threshold or keeper count takes a new bootstrap).
func (c *Custody) useSharing(s sharing) {
	c.mu.Lock()
	c.epoch, c.params = s.Epoch, shamir.Params{Shares: s.Shares, Threshold: s.Threshold}
	c.mu.Unlock()
	if s.Shares != c.cfg.Shares || s.Threshold != c.cfg.Threshold {
		c.logger.Warn("configured sharing differs from the recorded one; using the recorded one (changing it takes a new bootstrap)",
			"configured_shares", c.cfg.Shares, "configured_threshold", c.cfg.Threshold, "recorded_shares", s.Shares, "recorded_threshold", s.Threshold)
	}
}

// Sealed reports whether the root key is missing, and why.
func (c *Custody) Sealed() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key == nil, c.reason
}

func (c *Custody) setReason(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.awaitingBootstrap = errors.Is(err, errNotBootstrapped)
	if r := err.Error(); r != c.reason {
		c.reason = r
		level := slog.LevelWarn
		if errors.Is(err, errNotBootstrapped) {
			level = slog.LevelInfo
		}
		c.logger.Log(context.Background(), level, "nexus sealed", "reason", r)
	}
}

// SharingTypes are the records of a sharing. The log indexes them
// (eventlog.Options.IndexTypes): they are looked up while sealed, and
// without the index the first lookup read every event of the log.
var SharingTypes = []string{(&events.Bootstrapped{}).Type(), (&events.ShardsRotated{}).Type()}

// sharingIndex remembers the sharings recorded in the log, and how far
// it has read, so that each lookup reads only the events appended since
// the last one: in SPIKE's deterministic mode the bootstrap record is
// near the start of the log, and a full backward walk per status query
// or recovery attempt would grow with the log.
type sharingIndex struct {
	mu      sync.Mutex
	upTo    uint64 // events 1..upTo have been read
	byEpoch map[uint64]sharing
	newest  *sharing // the last recorded, by log order
}

// recorded returns the newest sharing recorded (at bootstrap or a shard
// rotation), readable while sealed; ok is false before bootstrap.
func (c *Custody) recorded(ctx context.Context) (s sharing, ok bool, err error) {
	if _, err := c.sharings(ctx, nil); err != nil {
		return s, false, err
	}
	c.index.mu.Lock()
	defer c.index.mu.Unlock()
	if c.index.newest == nil {
		return s, false, nil
	}
	return *c.index.newest, true, nil
}

// sharings returns every recorded sharing by epoch. The done argument is
// kept for callers that can stop early; the index makes it unnecessary.
func (c *Custody) sharings(ctx context.Context, _ func(map[uint64]sharing) bool) (map[uint64]sharing, error) {
	ix := &c.index
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.byEpoch == nil {
		ix.byEpoch = map[uint64]sharing{}
	}
	end := c.log.Size()
	var found []sharing // newest first
	var bad error
	err := c.log.ScanBack(ctx, func(r eventlog.Record) bool {
		if r.Seq <= ix.upTo {
			return false
		}
		s, err := decodeSharing(r.Public)
		if err != nil {
			bad = fmt.Errorf("event %d: %w", r.Seq, err)
			return false
		}
		found = append(found, s)
		return true
	}, SharingTypes...)
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	for i := len(found) - 1; i >= 0; i-- { // oldest first, so newer epochs win
		s := found[i]
		ix.byEpoch[s.Epoch] = s
		ix.newest = &s
	}
	ix.upTo = max(ix.upTo, end)
	out := make(map[uint64]sharing, len(ix.byEpoch))
	for e, s := range ix.byEpoch {
		out[e] = s
	}
	return out, nil
}

// Bootstrapped reports whether the log records a bootstrap.
func (c *Custody) Bootstrapped(ctx context.Context) (bool, error) {
	_, ok, err := c.recorded(ctx)
	return ok, err
}

// unseal unlocks the log with key, runs onUnseal, keeps the key, and
// records how it came back. The caller holds unsealMu and zeroes its copy
// of key. It returns errAlreadyUnsealed if the key is already back.
func (c *Custody) unseal(ctx context.Context, key []byte, record events.Payload) error {
	if sealed, _ := c.Sealed(); !sealed {
		return errAlreadyUnsealed
	}
	if err := c.log.Unlock(ctx, key); err != nil {
		return err
	}
	lk, lockErr, err := seal.NewLockedKey()
	if err != nil {
		return err
	}
	if lockErr != nil {
		c.logger.Warn("root key memory is not locked against swap", "err", lockErr)
	}
	if err := lk.Set(key); err != nil {
		lk.Destroy()
		return err
	}
	if err := c.onUnseal(ctx, key); err != nil {
		lk.Destroy()
		c.log.Lock(ctx)
		return fmt.Errorf("nexus: open projections: %w", err)
	}
	if record != nil {
		switch err := c.append(ctx, record); {
		case errors.Is(err, commit.ErrNotLeader):
			// A follower's own recovery is its own business: the
			// leader records what acts on the shared log.
			c.logger.Info("root key recovered on a follower; the leader records the cluster's events")
		case err != nil:
			c.logger.Error("could not record how the root key came back", "err", err)
		}
	}
	c.mu.Lock()
	c.key, c.reason, c.unsealedAt, c.awaitingBootstrap = lk, "", time.Now(), false
	for id, s := range c.restore {
		s.Zero()
		delete(c.restore, id)
	}
	c.mu.Unlock()
	how := "bootstrap"
	if record != nil {
		how = record.Type()
	}
	c.logger.Info("root key recovered: nexus unsealed", "how", how)
	return nil
}

func (c *Custody) append(ctx context.Context, p events.Payload, public ...[]byte) error {
	p.EventMeta().Actor = orDefault(p.EventMeta().Actor, c.cfg.Self)
	b, err := events.Encode(p)
	if err != nil {
		return err
	}
	ev := eventlog.Event{Type: p.Type(), Schema: p.Schema(), Payload: b}
	if len(public) > 0 {
		ev.Public = public[0]
	}
	if svc := c.service.Load(); svc != nil {
		// Through the command loop once it runs, so the projection (and
		// so audit queries) sees the event the moment it is durable.
		return svc.Record(ctx, ev)
	}
	_, err = c.commit.Commit(ctx, ev)
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// WithKey runs f with the root key, or returns errSealed.
func (c *Custody) WithKey(f func(key []byte) error) error {
	c.mu.Lock()
	k := c.key
	c.mu.Unlock()
	if k == nil {
		return errSealed
	}
	return k.Use(f)
}

var errSealed = errors.New("nexus is sealed")

// Close drops the key.
func (c *Custody) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.key != nil {
		c.key.Destroy()
		c.key = nil
	}
}

// verifyText answers SPIKE's bootstrap verification: the hex SHA-256 of
// the text Bootstrap sealed under the root key with AES-256-GCM.
func verifyText(key []byte, req api.BootstrapVerifyRequest) (string, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(req.Nonce) != gcm.NonceSize() {
		return "", fmt.Errorf("nonce is %d bytes, want %d", len(req.Nonce), gcm.NonceSize())
	}
	plain, err := gcm.Open(nil, req.Nonce, req.Ciphertext, nil)
	if err != nil {
		return "", errors.New("the text does not open under this root key")
	}
	sum := sha256.Sum256(plain)
	clear(plain)
	return hex.EncodeToString(sum[:]), nil
}
