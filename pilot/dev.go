package pilot

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/spikeledger/spike/internal/logging"
)

// DevOptions are the settings of `spike dev`, passed to a DevFunc.
type DevOptions struct {
	// DataDir holds the cluster's log and projections; empty lets the
	// DevFunc choose.
	DataDir string
	// NexusAddr is Nexus's mTLS API address (host:port).
	NexusAddr string
	// OpsAddr is the operations port (metrics, health); "-" turns it off.
	OpsAddr string
	// Keepers is how many Keepers to run.
	Keepers int
	// TrustDomain is the development CA's SPIFFE trust domain.
	TrustDomain string
	// LogLevel is the level of every component's log (text on stderr):
	// SPIKE_SYSTEM_LOG_LEVEL, or warn.
	LogLevel slog.Level
}

// DevFunc runs a whole development cluster until ctx ends, writing what a
// second shell needs (the environment to point `spike` at it) to stdout.
type DevFunc func(ctx context.Context, o DevOptions, stdout, stderr io.Writer) error

// Option configures Run.
type Option func(*runOptions)

// runOptions are Run's optional collaborators.
type runOptions struct {
	dev DevFunc
	// terminal decides whether a reader or writer is a terminal;
	// isTerminal unless a test replaces it.
	terminal func(any) bool
	// lookupEnv reads the environment; os.LookupEnv unless a test
	// replaces it.
	lookupEnv func(string) (string, bool)
}

// WithDev gives `spike dev` the cluster to run. The pilot package does not
// depend on the servers itself: cmd/spike, which does, passes one in.
func WithDev(f DevFunc) Option {
	return func(o *runOptions) { o.dev = f }
}

type devCmd struct {
	DataDir     string `name:"data-dir" type:"path" help:"Directory for the cluster's data (kept across runs: a restart unseals from the recovery files there; empty: a temporary directory removed at exit)."`
	NexusAddr   string `name:"nexus-addr" default:"127.0.0.1:8553" help:"Nexus API address."`
	OpsAddr     string `name:"ops-addr" default:"127.0.0.1:9553" help:"Operations address (/healthz, /readyz, /metrics); - turns it off."`
	Keepers     int    `name:"keepers" default:"3" help:"How many Keepers to run (1 to ${max_dev_keepers}; the threshold is a majority)."`
	TrustDomain string `name:"trust-domain" default:"spike.ist" help:"Trust domain of the development CA."`
}

// maxDevKeepers is the most Keepers `spike dev` runs: devcluster's
// MaxKeepers, which this package may not import (the test of --keepers
// checks that they agree).
const maxDevKeepers = 16

// errNoDev is the answer of a build that was given no dev cluster.
var errNoDev = errors.New("this build has no dev cluster: use the spike binary built from cmd/spike")

// Run starts the cluster and blocks until it stops (Ctrl-C).
func (d *devCmd) Run(e *env) error {
	if d.Keepers < 0 || d.Keepers > maxDevKeepers {
		return usagef("--keepers must be 1 to %d (0: the default, 3)", maxDevKeepers)
	}
	if e.opts.dev == nil {
		return errNoDev
	}
	level, err := logging.LevelFromEnv(e.opts.lookupEnv, slog.LevelWarn)
	if err != nil {
		return usagef("%v", err)
	}
	return e.opts.dev(e.ctx, DevOptions{
		DataDir:     d.DataDir,
		NexusAddr:   d.NexusAddr,
		OpsAddr:     d.OpsAddr,
		Keepers:     d.Keepers,
		TrustDomain: d.TrustDomain,
		LogLevel:    level,
	}, e.out, e.errOut)
}
