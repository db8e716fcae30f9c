//go:build linux

package system

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spikeledger/spike/test/e2e/spire"
)

// TrustDomain is the trust domain of every Testbed.
const TrustDomain = "spike.test"

// setupTimeout bounds the build and SPIRE's start, which includes building
// the SPIRE binaries on a machine that has never built them.
const setupTimeout = 20 * time.Minute

// ID returns the SPIFFE ID of path in TrustDomain, e.g.
// ID("/spike/nexus") is "spiffe://spike.test/spike/nexus".
func ID(path string) string { return "spiffe://" + TrustDomain + path }

// KeeperID returns the SPIFFE ID of keeper n (from 1), spike/keeper/n.
func KeeperID(n int) string { return ID("/spike/keeper/" + strconv.Itoa(n)) }

// Workload is one identity binary of a Testbed: a path of its own, known
// to SPIRE by a unix:path selector.
type Workload struct {
	// Name is the binary's file name in the testbed directory; it must be
	// unique.
	Name string
	// Command is the module command, ./cmd/<Command>, that the binary is
	// a link of; "" means the running test binary, which the test
	// re-executes under this identity to play a role.
	Command string
	// ID is the SPIFFE ID's path in TrustDomain, e.g. "/workload/app".
	ID string
}

// Options configures NewTestbed.
type Options struct {
	// Prefix starts the name of the testbed's temporary directory, e.g.
	// "spike-custody-".
	Prefix string
	// Keepers is how many keeper identities there are: "keeper-N", a link
	// of spike-keeper, runs as spike/keeper/N, for N from 1. At least 1.
	Keepers int
	// Workloads are the identities besides the keepers, "nexus"
	// (spike-nexus as spike/nexus) and "bootstrap" (spike-bootstrap as
	// spike/bootstrap), which every testbed has.
	Workloads []Workload
	// SVIDTTL is the SPIRE server's X.509 SVID TTL; 0 is spire's default
	// (1h). A short one makes the agent rotate every SVID during a test.
	SVIDTTL time.Duration
}

// Testbed is the module's commands built and linked once per identity,
// under a running SPIRE server and agent that know every identity.
type Testbed struct {
	dir     string
	keepers int
	cluster *spire.Cluster

	ports Ports // the loopback addresses handed out by FreeAddr

	mu    sync.Mutex
	paths map[string]string // workload name → its binary
	built map[string]string // command name → its build in dir/build
}

// NewTestbed builds the commands, links the identity binaries into a new
// temporary directory and starts SPIRE with an entry for each, the build
// and SPIRE at the same time. On failure everything started is stopped.
func NewTestbed(ctx context.Context, opts Options) (*Testbed, error) {
	if opts.Keepers < 1 {
		return nil, fmt.Errorf("testbed: %d keepers, want at least 1", opts.Keepers)
	}
	dir, err := os.MkdirTemp("", cmp.Or(opts.Prefix, "spike-e2e-"))
	if err != nil {
		return nil, fmt.Errorf("testbed dir: %w", err)
	}
	tb := &Testbed{dir: dir, keepers: opts.Keepers,
		paths: map[string]string{}, built: map[string]string{}}
	// The agent sees the resolved path of an executable; so must the
	// entries.
	if tb.dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, errors.Join(fmt.Errorf("testbed dir: %w", err), os.RemoveAll(dir))
	}
	workloads := []Workload{
		{Name: "nexus", Command: "spike-nexus", ID: "/spike/nexus"},
		{Name: "bootstrap", Command: "spike-bootstrap", ID: "/spike/bootstrap"},
	}
	for n := 1; n <= opts.Keepers; n++ {
		workloads = append(workloads, Workload{Name: keeperName(n), Command: "spike-keeper", ID: "/spike/keeper/" + strconv.Itoa(n)})
	}
	workloads = append(workloads, opts.Workloads...)
	if err := tb.start(ctx, workloads, opts.SVIDTTL); err != nil {
		return nil, errors.Join(err, tb.Close())
	}
	return tb, nil
}

// start installs the workloads and starts SPIRE.
func (tb *Testbed) start(ctx context.Context, workloads []Workload, ttl time.Duration) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	entries, err := tb.layout(workloads)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var buildErr, spireErr error
	wg.Go(func() { buildErr = tb.install(ctx, workloads) })
	wg.Go(func() {
		tb.cluster, spireErr = spire.Start(ctx, spire.Options{TrustDomain: TrustDomain, Entries: entries, SVIDTTL: ttl})
	})
	wg.Wait()
	return errors.Join(buildErr, spireErr)
}

// Install adds a workload to a running testbed: it builds the command if
// no earlier workload needed it, links the binary and registers it with
// SPIRE. It returns the binary's path.
func (tb *Testbed) Install(ctx context.Context, w Workload) (string, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	entries, err := tb.layout([]Workload{w})
	if err != nil {
		return "", err
	}
	if err := tb.install(ctx, []Workload{w}); err != nil {
		return "", err
	}
	if err := tb.cluster.Register(ctx, entries[0]); err != nil {
		return "", fmt.Errorf("register %s: %w", w.Name, err)
	}
	return tb.paths[w.Name], nil
}

// layout gives each workload its path and returns their SPIRE entries.
// tb.mu is held.
func (tb *Testbed) layout(workloads []Workload) ([]spire.Entry, error) {
	var entries []spire.Entry
	for _, w := range workloads {
		if w.Name == "" || w.Name != filepath.Base(w.Name) || w.Name == "build" {
			return nil, fmt.Errorf("workload name %q: want a plain file name other than build", w.Name)
		}
		if _, ok := tb.paths[w.Name]; ok {
			return nil, fmt.Errorf("workload name %q: used twice", w.Name)
		}
		path := filepath.Join(tb.dir, w.Name)
		tb.paths[w.Name] = path
		entries = append(entries, spire.Entry{SpiffeID: ID(w.ID), Selectors: []string{"unix:path:" + path}})
	}
	return entries, nil
}

// install builds the commands the workloads need that are not built yet
// and makes their links. tb.mu is held.
func (tb *Testbed) install(ctx context.Context, workloads []Workload) error {
	var need []string
	for _, w := range workloads {
		if _, ok := tb.built[w.Command]; !ok && w.Command != "" && !slices.Contains(need, w.Command) {
			need = append(need, w.Command)
		}
	}
	if len(need) > 0 {
		paths, err := Build(ctx, filepath.Join(tb.dir, "build"), need...)
		if err != nil {
			return err
		}
		for i, name := range need {
			tb.built[name] = paths[i]
		}
	}
	var err error
	for _, w := range workloads {
		src := tb.built[w.Command]
		if w.Command == "" {
			if src, err = testBinary(); err != nil {
				return err
			}
		}
		if err := Link(src, tb.paths[w.Name]); err != nil {
			return fmt.Errorf("identity binary %s: %w", tb.paths[w.Name], err)
		}
	}
	return nil
}

// Close stops SPIRE and removes the testbed directory.
func (tb *Testbed) Close() error {
	var err error
	if tb.cluster != nil {
		if serr := tb.cluster.Stop(); serr != nil {
			err = fmt.Errorf("stop SPIRE: %w", serr)
		}
	}
	if rerr := os.RemoveAll(tb.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("remove testbed dir: %w", rerr))
	}
	return err
}

// Dir returns the testbed's directory; Close removes it.
func (tb *Testbed) Dir() string { return tb.dir }

// Cluster returns the SPIRE server and agent.
func (tb *Testbed) Cluster() *spire.Cluster { return tb.cluster }

// Keepers returns how many keeper identities there are.
func (tb *Testbed) Keepers() int { return tb.keepers }

// Path returns the binary of the named workload. It panics if there is
// no such workload: that is a mistake in the test.
func (tb *Testbed) Path(name string) string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	path, ok := tb.paths[name]
	if !ok {
		panic(fmt.Sprintf("system: the testbed has no workload %q", name))
	}
	return path
}

// Nexus returns the binary of spike-nexus as spike/nexus.
func (tb *Testbed) Nexus() string { return tb.Path("nexus") }

// Bootstrap returns the binary of spike-bootstrap as spike/bootstrap.
func (tb *Testbed) Bootstrap() string { return tb.Path("bootstrap") }

// Keeper returns the binary of spike-keeper as spike/keeper/n, from 1.
func (tb *Testbed) Keeper(n int) string { return tb.Path(keeperName(n)) }

func keeperName(n int) string { return "keeper-" + strconv.Itoa(n) }
