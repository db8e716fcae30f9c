package keeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/telemetry"
	"github.com/spikeledger/spike/internal/transport"
)

// Keeper is a shard holder. Make one with New and serve it once with
// Serve; its shard is zeroed when Serve returns or on Close.
type Keeper struct {
	roles   *identity.Roles
	log     *slog.Logger
	id      spiffeid.ID
	store   *shardStore
	epoch   atomic.Uint64 // of the held shard; not secret
	api     *transport.Server
	reg     *prometheus.Registry
	metrics *metrics
	serving atomic.Bool
	served  atomic.Bool
}

// Run serves a keeper on the addresses in cfg until ctx ends, then stops
// gracefully and zeroes the shard. src supplies the keeper's SVID, which
// must be a keeper's (spike/keeper or an ID below it, such as
// spike/keeper/<id>, under a keeper trust root in roles). It returns nil after a clean stop.
func Run(ctx context.Context, cfg Config, src identity.Source, roles *identity.Roles, logger *slog.Logger) error {
	cfg, err := cfg.Validate()
	if err != nil {
		return err
	}
	k, err := newKeeper(src, roles, logger, cfg.MaxConnections)
	if err != nil {
		return err
	}
	tlsLn, opsLn, err := listen(ctx, cfg)
	if err != nil {
		return errors.Join(err, k.Close())
	}
	return k.Serve(ctx, tlsLn, opsLn)
}

// listen opens the API listener and, unless it is off, the operations
// listener.
func listen(ctx context.Context, cfg Config) (tlsLn, opsLn net.Listener, err error) {
	var lc net.ListenConfig
	if tlsLn, err = lc.Listen(ctx, "tcp", cfg.TLSAddr); err != nil {
		return nil, nil, fmt.Errorf("keeper: listen on %s: %w", cfg.TLSAddr, err)
	}
	if cfg.OpsAddr == OpsOff {
		return tlsLn, nil, nil
	}
	if opsLn, err = lc.Listen(ctx, "tcp", cfg.OpsAddr); err != nil {
		return nil, nil, errors.Join(fmt.Errorf("keeper: operations listener on %s: %w", cfg.OpsAddr, err), tlsLn.Close())
	}
	return tlsLn, opsLn, nil
}

// New checks that src's SVID is a keeper's and allocates the memory for
// the shard. Memory that cannot be locked against swap is logged as a
// warning, not an error. A nil logger means slog.Default().
func New(src identity.Source, roles *identity.Roles, logger *slog.Logger) (*Keeper, error) {
	return newKeeper(src, roles, logger, 0)
}

// newKeeper is New with a cap on the API's connections (0: the default).
func newKeeper(src identity.Source, roles *identity.Roles, logger *slog.Logger, maxConns int) (*Keeper, error) {
	if src == nil || roles == nil {
		return nil, errors.New("keeper: needs an identity source and roles")
	}
	if logger == nil {
		logger = slog.Default()
	}
	id, err := ownID(src, roles)
	if err != nil {
		return nil, err
	}
	store, warn, err := newShardStore()
	if err != nil {
		return nil, err
	}
	if warn != nil {
		logger.Warn("shard memory is not fully protected: it may reach swap or a core dump", "reason", warn.Error())
	}
	reg := telemetry.NewRegistry()
	k := &Keeper{roles: roles, log: logger, id: id, store: store, reg: reg, metrics: newMetrics(reg)}
	k.api, err = transport.NewServer(transport.ServerOptions{
		SVID:           src,
		Bundle:         src,
		Authorizer:     identity.AuthorizeRoles(roles.IsNexus, roles.IsBootstrap),
		MaxBody:        api.DefaultBodyLimit,
		MaxConnections: maxConns,
		Logger:         logger,
		Metrics:        transport.NewMetrics(reg),
	}, k.routes())
	if err != nil {
		return nil, errors.Join(fmt.Errorf("keeper: %w", err), store.close())
	}
	return k, nil
}

// ownID returns the SPIFFE ID of src's SVID, which must be a keeper's.
func ownID(src identity.Source, roles *identity.Roles) (spiffeid.ID, error) {
	svid, err := src.GetX509SVID()
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("keeper: own SVID: %w", err)
	}
	if !roles.IsKeeper(svid.ID) {
		return spiffeid.ID{}, fmt.Errorf("keeper: own SPIFFE ID %s is not a keeper's: want <trust root>/spike/keeper, optionally followed by /<id> and more segments (keeper trust roots: %v)",
			svid.ID, roles.Roots(identity.RoleKeeper))
	}
	return svid.ID, nil
}

// ID returns the keeper's own SPIFFE ID.
func (k *Keeper) ID() spiffeid.ID { return k.id }

// Metrics returns the keeper's metrics, as GET /metrics on the
// operations listener serves them.
func (k *Keeper) Metrics() prometheus.Gatherer { return k.reg }

// Serve serves the API on tlsLn and, if opsLn is not nil, the operations
// endpoints on opsLn, until ctx ends or a listener fails. Then it stops
// both, zeroes the shard and releases its memory. It may be called once.
func (k *Keeper) Serve(ctx context.Context, tlsLn, opsLn net.Listener) error {
	if !k.served.CompareAndSwap(false, true) {
		return errors.New("keeper: Serve called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- k.api.Serve(ctx, tlsLn) }()
	running, opsAddr := 1, OpsOff
	if opsLn != nil {
		running, opsAddr = 2, opsLn.Addr().String()
		go func() { errc <- k.serveOps(ctx, opsLn) }()
	}
	k.serving.Store(true)
	k.log.Info("keeper serving", "spiffe_id", k.id.String(), "tls_addr", tlsLn.Addr().String(),
		"ops_addr", opsAddr, "memory_locked", k.store.locked())
	var errs []error
	for range running {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
		k.serving.Store(false)
		cancel() // one stopped: stop the other
	}
	errs = append(errs, k.Close())
	k.log.Info("keeper stopped; shard zeroed")
	return errors.Join(errs...)
}

// Close zeroes the shard and releases its memory. Afterwards the keeper
// holds no shard and refuses contributions with 503. Serve calls it on
// return; later calls do nothing.
func (k *Keeper) Close() error {
	k.serving.Store(false)
	if k.store.has() {
		k.metrics.dropped(time.Now())
	}
	return k.store.close()
}
