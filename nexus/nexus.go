package nexus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/telemetry"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/projections"
)

// GCPercent is the garbage collector's target that spike-nexus runs with
// unless GOGC says otherwise. Requests make short-lived garbage over a
// small live heap: at Go's default (100) collection took about a tenth of
// the CPU of an audited get; 400 cut server CPU per get by 10-15% for
// some 20 MiB more peak memory (go run ./test/load -op get -c 64).
const GCPercent = 400

// Config configures a Nexus.
type Config struct {
	// DataDir holds events.db and projections.db.
	DataDir string
	// TLSAddr is the API listener (":8553").
	TLSAddr string
	// OpsAddr is the plain-HTTP operations listener for /healthz and
	// /readyz ("127.0.0.1:9553"); empty disables it.
	OpsAddr string
	// MemoryProjection keeps the projections in RAM.
	MemoryProjection bool
	// MaxSecretVersions is the retention of a new path (SPIKE's 10).
	MaxSecretVersions int
	// MaxSecretSize bounds one version's data (DefaultMaxSecretSize).
	MaxSecretSize int
	// MaxConnections caps the API's open connections (0: the
	// transport's default).
	MaxConnections int
	// RetentionInterval is how often deleteVersionAfter is enforced.
	// Default 1m.
	RetentionInterval time.Duration
	Custody           CustodyConfig
	// Ready, if set, receives the API listener's address once it is
	// listening (tests use a ":0" port).
	Ready func(apiAddr, opsAddr string)
	// Metrics is the registry Nexus counts into and serves on the
	// operations listener's /metrics. Default: a new one with the Go
	// runtime and process collectors (telemetry.NewRegistry).
	Metrics *prometheus.Registry
}

// Run serves Nexus until ctx ends: sealed at first, recovering the root
// key from the Keepers in the background.
func Run(ctx context.Context, cfg Config, src identity.Source, roles *identity.Roles, logger *slog.Logger) error {
	svid, err := src.GetX509SVID()
	if err != nil {
		return fmt.Errorf("nexus: own SVID: %w", err)
	}
	cfg.Custody.Self = svid.ID.String()
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = telemetry.NewRegistry()
	}
	m := newMetrics(cfg.Metrics)
	if cfg.MaxSecretSize > MaxSecretSizeLimit {
		return fmt.Errorf("nexus: max secret size %d: at most %d, the largest request body Nexus reads", cfg.MaxSecretSize, MaxSecretSizeLimit)
	}
	log, err := eventlog.Open(ctx, filepath.Join(cfg.DataDir, "events.db"), eventlog.Options{Logger: logger, IndexTypes: sharingTypes, Observer: m,
		MaxPayload: payloadLimit(cfg.MaxSecretSize)})
	if err != nil {
		return err
	}
	defer log.Close()
	// The one way this Nexus writes its log: custody before the command
	// loop runs, the loop after.
	committer := commit.NewLocal(log)
	keepers, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src,
		Server: identity.AuthorizeRoles(roles.IsKeeper), Timeout: 10 * time.Second, Retries: -1, Logger: logger})
	if err != nil {
		return err
	}
	defer keepers.Close()
	var custody *Custody // onUnseal runs only after it is set
	var projMu sync.Mutex
	var proj *projections.Projection
	defer func() {
		projMu.Lock()
		defer projMu.Unlock()
		if proj != nil {
			proj.Close()
		}
	}()
	onUnseal := func(ctx context.Context, rootKey []byte) error {
		key, err := projections.KeyFromRoot(rootKey)
		if err != nil {
			return err
		}
		defer seal.Zero(key)
		p, err := projections.Open(ctx, log, projections.Options{Path: filepath.Join(cfg.DataDir, "projections.db"), Memory: cfg.MemoryProjection, Key: key, Logger: logger, Observer: m})
		if err != nil {
			return err
		}
		svc, err := NewService(ctx, log, committer, p, roles, custody.withKey, cfg.MaxSecretVersions, logger)
		if err != nil {
			p.Close()
			return err
		}
		if cfg.MaxSecretSize > 0 {
			svc.maxValue = cfg.MaxSecretSize
		}
		svc.metrics = m
		m.compiled(svc.authz.Load().Rules())
		projMu.Lock()
		proj = p
		projMu.Unlock()
		custody.background(svc.Run)
		custody.background(func(ctx context.Context) { svc.RetainEvery(ctx, cfg.RetentionInterval, custody.cfg.Self) })
		custody.service.Store(svc)
		return nil
	}
	custody, err = NewCustody(cfg.Custody, log, committer, keepers, logger, onUnseal)
	if err != nil {
		return err
	}
	defer custody.Close()
	custody.metrics = m
	m.watch(custody, log, func() projectionLag {
		if svc := custody.service.Load(); svc != nil {
			return svc
		}
		return nil
	})
	for i := range cfg.Custody.Keepers {
		kc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Timeout: 10 * time.Second, Retries: -1, Logger: logger,
			Server: identity.AuthorizeRoles(func(id spiffeid.ID) bool { return roles.IsKeeperAt(id, i+1) })})
		if err != nil {
			return err
		}
		defer kc.Close()
		custody.pinned = append(custody.pinned, kc)
	}
	srv, err := transport.NewServer(transport.ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(), MaxConnections: cfg.MaxConnections, Logger: logger, Metrics: m.transport},
		custodyRoutes(custody, roles))
	if err != nil {
		return err
	}
	return serve(ctx, cfg, srv, custody, logger)
}

func serve(ctx context.Context, cfg Config, srv *transport.Server, custody *Custody, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.TLSAddr)
	if err != nil {
		return fmt.Errorf("nexus: listen %s: %w", cfg.TLSAddr, err)
	}
	opsAddr := ""
	var ops *http.Server
	if cfg.OpsAddr != "" {
		ol, err := lc.Listen(ctx, "tcp", cfg.OpsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("nexus: listen %s: %w", cfg.OpsAddr, err)
		}
		opsAddr = ol.Addr().String()
		ops = &http.Server{Handler: opsHandler(custody, cfg.Metrics), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		go ops.Serve(ol)
		defer ops.Close()
	}
	logger.Info("nexus listening", "api", ln.Addr().String(), "ops", opsAddr, "keepers", len(cfg.Custody.Keepers))
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String(), opsAddr)
	}
	life, stop := context.WithCancel(ctx)
	custody.life = life
	custody.background(custody.WatchKeepers)
	custody.background(func(ctx context.Context) {
		custody.Recover(ctx)
		if sealed, _ := custody.Sealed(); !sealed {
			custody.Distribute(ctx)
		}
		custody.DistributeEvery(ctx)
	})
	err = srv.Serve(ctx, ln)
	// Background work ends before the log and the key are closed.
	stop()
	custody.bg.Wait()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// opsHandler serves /healthz (the process is up), /readyz (the root key
// is back and Nexus can record; otherwise 503 and why) and /metrics.
func opsHandler(c *Custody, reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", telemetry.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if sealed, reason := c.Sealed(); sealed {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "sealed:", reason)
			return
		}
		if svc := c.service.Load(); svc != nil {
			if why := svc.Unready(); why != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready:", why)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
