package devcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/keeper"
	"github.com/spikeledger/spike/nexus"
)

// Cluster is a running development cluster: Keepers, Nexus, and the CA
// that issued their identities. Make one with Start; stop it with Close.
type Cluster struct {
	s        settings
	temp     bool // the data directory is removed at Close
	roles    *identity.Roles
	iss      *issuer
	keepers  []string // base URLs, in shard order
	nexusURL string
	opsURL   string // "" when off

	// servers, in start order (Keepers, Nexus, SVID renewal); Close
	// stops them in reverse.
	servers []*server
	// nexus is also in servers; Run watches it.
	nexus *server

	closeOnce sync.Once
	closeErr  error
}

// server is one component running on its own goroutine.
type server struct {
	name string
	stop context.CancelFunc
	done chan struct{}
	err  error // set before done is closed
}

// run starts f on its own goroutine, with a context that Close cancels.
func (c *Cluster) run(name string, f func(ctx context.Context) error) *server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{name: name, stop: cancel, done: make(chan struct{})}
	c.servers = append(c.servers, s)
	go func() {
		defer close(s.done)
		s.err = f(ctx)
	}()
	return s
}

// halt stops s and waits for it.
func (s *server) halt() error {
	s.stop()
	<-s.done
	if s.err != nil {
		return fmt.Errorf("devcluster: %s: %w", s.name, s.err)
	}
	return nil
}

// Start runs a development cluster as o describes and returns once Nexus
// is bootstrapped and unsealed, ready to serve secrets. ctx bounds the
// start only; the cluster runs until Close. On a data directory that
// already holds a bootstrapped Nexus, the root key comes back from the
// recovery files written on the first run.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	s, err := o.settings()
	if err != nil {
		return nil, err
	}
	c := &Cluster{s: s}
	if err := c.start(ctx); err != nil {
		return nil, joinErrors(err, c.Close())
	}
	return c, nil
}

// start does Start's work; on error the caller closes what was started.
func (c *Cluster) start(ctx context.Context) error {
	if err := c.prepareDataDir(); err != nil {
		return err
	}
	var err error
	if c.roles, err = identity.NewRoles(c.lookup); err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if c.iss, err = newIssuer(c.s.td); err != nil {
		return err
	}
	for i := range c.s.keepers {
		if err := c.startKeeper(ctx, i+1); err != nil {
			return err
		}
	}
	seeded, err := c.seedKeepers(ctx)
	if err != nil {
		return err
	}
	if err := c.startNexus(ctx); err != nil {
		return err
	}
	if err := c.unseal(ctx, seeded); err != nil {
		return err
	}
	// Only now, with Nexus holding the data directory's lock, are the
	// files of another run on the same directory replaced.
	for _, name := range svidNames() {
		path, _ := svidPath(name)
		if err := c.iss.writeDir(path, c.SVIDDir(name)); err != nil {
			return err
		}
	}
	c.run("SVID renewal", func(ctx context.Context) error {
		c.iss.renewEvery(ctx, renewEvery, c.s.logger)
		return nil
	})
	return nil
}

// lookup is the environment the cluster's roles read: only the trust
// domain, whatever the process's environment says, so that every
// component agrees with the CA.
func (c *Cluster) lookup(name string) (string, bool) {
	if name == identity.EnvTrustRoot {
		return c.s.td.Name(), true
	}
	return "", false
}

// prepareDataDir makes the data directory and its parts, 0700.
func (c *Cluster) prepareDataDir() error {
	if c.s.dataDir == "" {
		dir, err := os.MkdirTemp("", "spike-dev-")
		if err != nil {
			return fmt.Errorf("devcluster: temporary data directory: %w", err)
		}
		c.s.dataDir, c.temp = dir, true
	}
	abs, err := filepath.Abs(c.s.dataDir)
	if err != nil {
		return fmt.Errorf("devcluster: data directory %s: %w", c.s.dataDir, err)
	}
	c.s.dataDir = abs
	for _, dir := range []string{abs, c.nexusDir(), c.RecoveryDir(), filepath.Join(abs, "svid")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("devcluster: data directory: %w", err)
		}
	}
	return nil
}

func (c *Cluster) nexusDir() string { return filepath.Join(c.s.dataDir, "nexus") }

// startKeeper starts Keeper number pos (1-based: it holds shard pos) on
// a loopback port of its own.
func (c *Cluster) startKeeper(ctx context.Context, pos int) error {
	src, err := c.iss.source(identity.PathKeeper + "/" + strconv.Itoa(pos))
	if err != nil {
		return err
	}
	logger := c.s.logger.With("component", "keeper", "keeper", pos)
	k, err := keeper.New(src, c.roles, logger)
	if err != nil {
		return fmt.Errorf("devcluster: keeper %d: %w", pos, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return joinErrors(fmt.Errorf("devcluster: keeper %d: listen: %w", pos, err), k.Close())
	}
	c.keepers = append(c.keepers, "https://"+ln.Addr().String())
	c.run("keeper "+strconv.Itoa(pos), func(ctx context.Context) error { return k.Serve(ctx, ln, nil) })
	return nil
}

// startNexus starts Nexus and waits until it listens.
func (c *Cluster) startNexus(ctx context.Context) error {
	src, err := c.iss.source(identity.PathNexus)
	if err != nil {
		return err
	}
	type addrs struct{ api, ops string }
	ready := make(chan addrs, 1)
	cfg := nexus.Config{
		DataDir: c.nexusDir(),
		TLSAddr: c.s.nexusAddr,
		OpsAddr: c.s.opsAddr,
		Custody: nexus.CustodyConfig{Keepers: c.keepers, Shares: len(c.keepers), Threshold: c.s.threshold},
		Ready:   func(api, ops string) { ready <- addrs{api, ops} },
	}
	logger := c.s.logger.With("component", "nexus")
	c.nexus = c.run("nexus", func(ctx context.Context) error { return nexus.Run(ctx, cfg, src, c.roles, logger) })
	select {
	case a := <-ready:
		c.nexusURL = "https://" + dialable(a.api)
		if a.ops != "" {
			c.opsURL = "http://" + dialable(a.ops)
		}
		return nil
	case <-c.nexus.done:
		err := c.nexus.err
		c.nexus.err = nil // reported here, not again by Close
		if err == nil {
			return errors.New("devcluster: nexus stopped before it listened")
		}
		return fmt.Errorf("devcluster: nexus: %w", err)
	case <-ctx.Done():
		return fmt.Errorf("devcluster: waiting for nexus to listen: %w", ctx.Err())
	}
}

// NexusURL is Nexus's base URL, "https://127.0.0.1:<port>".
func (c *Cluster) NexusURL() string { return c.nexusURL }

// OpsURL is the base URL of Nexus's operations listener (/healthz,
// /readyz), or "" when it is off.
func (c *Cluster) OpsURL() string { return c.opsURL }

// TrustDomain is the trust domain of every identity in the cluster.
func (c *Cluster) TrustDomain() spiffeid.TrustDomain { return c.s.td }

// DataDir is the absolute path of the data directory.
func (c *Cluster) DataDir() string { return c.s.dataDir }

// RecoveryDir holds the recovery files, spike.recovery.<id>.txt.
func (c *Cluster) RecoveryDir() string { return filepath.Join(c.s.dataDir, "recover") }

// SVIDDir returns the directory of SVID files Start wrote for name: one
// of SVIDSuperuser (spike/pilot/role/superuser), SVIDAuditor, SVIDDemo
// (workload/demo), SVIDAdmin, SVIDOperator, SVIDRecover and SVIDRestore.
// Any other name gives "".
func (c *Cluster) SVIDDir(name string) string {
	if _, ok := svidPath(name); !ok {
		return ""
	}
	return filepath.Join(c.s.dataDir, "svid", name)
}

// IssueSVIDDir writes SVID files for spiffe://<trust domain><path> into
// dir (made 0700 if needed) and keeps them fresh until Close, as it does
// for the directories Start writes. Tests use it for workloads of their
// own, such as "/workload/other".
func (c *Cluster) IssueSVIDDir(ctx context.Context, path, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dir == "" {
		return errors.New("devcluster: IssueSVIDDir: no directory given")
	}
	return c.iss.writeDir(path, dir)
}

// Close stops everything in the reverse order of the start (SVID
// renewal, Nexus, then the Keepers, whose shards are zeroed), closes the
// identities and removes a temporary data directory. It is idempotent:
// later calls return the first call's result.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		for i := len(c.servers) - 1; i >= 0; i-- {
			errs = append(errs, c.servers[i].halt())
		}
		if c.iss != nil {
			errs = append(errs, c.iss.close())
		}
		if c.temp {
			if err := os.RemoveAll(c.s.dataDir); err != nil {
				errs = append(errs, fmt.Errorf("devcluster: remove temporary data directory: %w", err))
			}
		}
		c.closeErr = joinErrors(errs...)
	})
	return c.closeErr
}
