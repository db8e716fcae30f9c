package nexus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/telemetry"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
	"github.com/spikeledger/spike/nexus/internal/custody"
	"github.com/spikeledger/spike/nexus/internal/members"
	"github.com/spikeledger/spike/nexus/internal/metrics"
	"github.com/spikeledger/spike/nexus/internal/service"
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
	// MaxSecretSize bounds one version's data (service.DefaultMaxSecretSize).
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
	// Cluster, if set, makes this Nexus a replica of a Raft group.
	Cluster *ClusterConfig
	// Metrics is the registry Nexus counts into and serves on the
	// operations listener's /metrics. Default: a new one with the Go
	// runtime and process collectors (telemetry.NewRegistry).
	Metrics *prometheus.Registry
}

// CustodyConfig says where the shards are and how the root key is split
// (see custody.Config).
type CustodyConfig = custody.Config

// Run serves Nexus on the addresses in cfg until ctx ends: sealed at
// first, recovering the root key from the Keepers in the background.
func Run(ctx context.Context, cfg Config, src identity.Source, roles *identity.Roles, logger *slog.Logger) error {
	n, err := New(ctx, cfg, src, roles, logger)
	if err != nil {
		return err
	}
	apiLn, opsLn, err := listen(ctx, cfg)
	if err != nil {
		return errors.Join(err, n.Close())
	}
	return n.Serve(ctx, apiLn, opsLn)
}

// listen opens the API listener and, unless cfg.OpsAddr is empty, the
// operations listener.
func listen(ctx context.Context, cfg Config) (apiLn, opsLn net.Listener, err error) {
	var lc net.ListenConfig
	if apiLn, err = lc.Listen(ctx, "tcp", cfg.TLSAddr); err != nil {
		return nil, nil, fmt.Errorf("nexus: listen %s: %w", cfg.TLSAddr, err)
	}
	if cfg.OpsAddr == "" {
		return apiLn, nil, nil
	}
	if opsLn, err = lc.Listen(ctx, "tcp", cfg.OpsAddr); err != nil {
		apiLn.Close()
		return nil, nil, fmt.Errorf("nexus: listen %s: %w", cfg.OpsAddr, err)
	}
	return apiLn, opsLn, nil
}

// Nexus is the secret service with its root-key custody. Make one with
// New and serve it once with Serve; Close releases what New opened.
type Nexus struct {
	cfg     Config
	logger  *slog.Logger
	custody *custody.Custody
	srv     *transport.Server
	served  atomic.Bool
	log     *eventlog.Log
	// node is this replica's membership in its cluster (nil: alone).
	node *cluster.Node
	// apiCache holds the API addresses cluster adds recorded.
	apiCache apiCache
	// apiAddr is the API listener's address, once serving.
	apiAddr     string
	trustDomain spiffeid.TrustDomain
	// closers release what New opened, last opened first.
	closers   []func()
	closeOnce sync.Once
}

// New opens the event log in cfg.DataDir and returns a sealed Nexus,
// which recovers the root key once served. src's SVID is its own
// identity, the actor of the events it records on its own.
func New(ctx context.Context, cfg Config, src identity.Source, roles *identity.Roles, logger *slog.Logger) (*Nexus, error) {
	svid, err := src.GetX509SVID()
	if err != nil {
		return nil, fmt.Errorf("nexus: own SVID: %w", err)
	}
	cfg.Custody.Self = svid.ID.String()
	if cfg.RetentionInterval <= 0 {
		cfg.RetentionInterval = time.Minute
	}
	if cfg.Metrics == nil {
		cfg.Metrics = telemetry.NewRegistry()
	}
	m := metrics.New(cfg.Metrics)
	if cfg.MaxSecretSize > service.MaxSecretSizeLimit {
		return nil, fmt.Errorf("nexus: max secret size %d: at most %d, the largest request body Nexus reads", cfg.MaxSecretSize, service.MaxSecretSizeLimit)
	}
	n := &Nexus{cfg: cfg, logger: logger, trustDomain: svid.ID.TrustDomain()}
	n.clusterMetrics(cfg.Metrics)
	if err := n.open(ctx, m, src, roles); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// open opens the log, the keeper clients, custody and the API server,
// adding each to n.closers as it goes, so that Close releases exactly
// what was opened.
func (n *Nexus) open(ctx context.Context, m *metrics.Metrics, src identity.Source, roles *identity.Roles) error {
	cfg, logger := n.cfg, n.logger
	opts := eventlog.Options{Logger: logger, IndexTypes: append(slices.Clone(custody.SharingTypes), memberTypes...), Observer: m,
		MaxPayload: service.PayloadLimit(cfg.MaxSecretSize)}
	if cfg.Cluster != nil {
		node, err := n.newNode(ctx, src, roles)
		if err != nil {
			return err
		}
		n.node = node
		opts.ID, opts.Replicator = clusterLogID(n.trustDomain, cmp.Or(cfg.Cluster.Name, DefaultClusterName)), node
	}
	log, err := eventlog.Open(ctx, filepath.Join(cfg.DataDir, "events.db"), opts)
	if err != nil {
		return err
	}
	n.log = log
	n.closers = append(n.closers, func() { log.Close() })
	if n.node != nil {
		if err := n.node.Start(log); err != nil {
			return err
		}
		// Raft stops before the log closes (closers run last first).
		n.closers = append(n.closers, func() { n.node.Close() })
	}
	// The one way this Nexus writes its log: custody before the command
	// loop runs, the loop after.
	committer := commit.NewLocal(log)
	keepers, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src,
		Server: identity.AuthorizeRoles(roles.IsKeeper), Timeout: 10 * time.Second, Retries: -1, Logger: logger})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, func() { keepers.Close() })
	var cu *custody.Custody // onUnseal runs only after it is set
	var projMu sync.Mutex
	var proj *projections.Projection
	var svc *service.Service
	n.closers = append(n.closers, func() {
		projMu.Lock()
		defer projMu.Unlock()
		if svc != nil {
			svc.Close() // ends audit tails and answers what is queued
		}
		if proj != nil {
			proj.Close()
		}
	})
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
		var mem members.Cluster
		if n.node != nil {
			mem = membership{n}
		}
		sv, err := service.New(ctx, service.Config{Log: log, Commit: committer, Proj: p, Roles: roles, WithKey: cu.WithKey, Cluster: mem,
			MaxVersions: cfg.MaxSecretVersions, MaxValue: cfg.MaxSecretSize, Metrics: m, Logger: logger})
		if err != nil {
			p.Close()
			return err
		}
		projMu.Lock()
		proj, svc = p, sv
		projMu.Unlock()
		if n.node == nil {
			cu.Go(sv.Run)
		} else {
			cu.Go(func(ctx context.Context) {
				n.alternate(ctx, func(ctx context.Context) error { sv.Run(ctx); return nil }, sv.Follow)
			})
		}
		cu.Go(func(ctx context.Context) {
			n.whileLeading(ctx, func(ctx context.Context) { sv.RetainEvery(ctx, cfg.RetentionInterval, cfg.Custody.Self) })
		})
		cu.SetService(sv)
		return nil
	}
	// One client per keeper that accepts only an identity that may
	// answer at that keeper's position.
	var pinned []*transport.Client
	for i := range cfg.Custody.Keepers {
		kc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Timeout: 10 * time.Second, Retries: -1, Logger: logger,
			Server: identity.AuthorizeRoles(func(id spiffeid.ID) bool { return roles.IsKeeperAt(id, i+1) })})
		if err != nil {
			return err
		}
		n.closers = append(n.closers, func() { kc.Close() })
		pinned = append(pinned, kc)
	}
	cu, err = custody.New(cfg.Custody, custody.Deps{Log: log, Commit: committer, Keepers: keepers, Pinned: pinned, Metrics: m, Logger: logger, OnUnseal: onUnseal, Leads: n.leading})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, cu.Close)
	n.custody = cu
	cu.Watch(m)
	srvOpts := transport.ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(), MaxConnections: cfg.MaxConnections, Logger: logger, Metrics: m.Transport}
	if n.node != nil {
		n.forwardTo(&srvOpts, src, roles)
	}
	n.srv, err = transport.NewServer(srvOpts, cu.Routes(roles))
	return err
}

// Serve serves the API on apiLn and, if opsLn is not nil, /healthz,
// /readyz and /metrics on opsLn, until ctx ends; meanwhile it recovers
// the root key and keeps the Keepers' shards up to date. Then it stops
// its background work and closes n. It may be called once.
func (n *Nexus) Serve(ctx context.Context, apiLn, opsLn net.Listener) error {
	if !n.served.CompareAndSwap(false, true) {
		return errors.New("nexus: Serve called twice")
	}
	defer n.Close()
	cfg := n.cfg
	opsAddr := ""
	n.apiAddr = apiLn.Addr().String()
	if opsLn != nil {
		opsAddr = opsLn.Addr().String()
		ops := &http.Server{Handler: opsHandler(n.custody, cfg.Metrics, n.clusterState), ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		go ops.Serve(opsLn)
		defer ops.Close()
	}
	n.logger.Info("nexus listening", "api", apiLn.Addr().String(), "ops", opsAddr, "keepers", len(cfg.Custody.Keepers))
	if cfg.Ready != nil {
		cfg.Ready(apiLn.Addr().String(), opsAddr)
	}
	life, stop := context.WithCancel(ctx)
	n.custody.Start(life)
	if n.node != nil {
		n.custody.Go(n.wakeOnGrowth)
	}
	err := n.srv.Serve(ctx, apiLn)
	// Background work ends before the log and the key are closed.
	stop()
	n.custody.Wait()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// Close drops the root key and closes the projection, the keeper
// clients and the log, last opened first. Serve calls it on return;
// later calls do nothing.
func (n *Nexus) Close() error {
	n.closeOnce.Do(func() {
		for i := len(n.closers) - 1; i >= 0; i-- {
			n.closers[i]()
		}
	})
	return nil
}

// opsHandler serves /healthz (the process is up), /readyz (the root key
// is back and Nexus can record; otherwise 503 and why) and /metrics.
func opsHandler(c *custody.Custody, reg *prometheus.Registry, clusterState func() (string, bool)) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", telemetry.Handler(reg))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if sealed, reason := c.Sealed(); sealed {
			w.WriteHeader(http.StatusServiceUnavailable)
			if state, _ := clusterState(); state != "" {
				reason += "; cluster: " + state
			}
			fmt.Fprintln(w, "sealed:", reason)
			return
		}
		if svc := c.Service(); svc != nil {
			if why := svc.Unready(); why != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, "not ready:", why)
				return
			}
		}
		switch state, serving := clusterState(); {
		case !serving:
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", state)
		case state != "":
			fmt.Fprintln(w, "ready:", state)
		default:
			fmt.Fprintln(w, "ready")
		}
	})
	return mux
}
