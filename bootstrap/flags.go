package bootstrap

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kong"

	"github.com/spikeledger/spike/internal/config"
	"github.com/spikeledger/spike/internal/logging"
)

// Name is the binary's name.
const Name = "spike-bootstrap"

const description = `Make the root key, give each SPIKE Keeper its shard and prove that SPIKE Nexus rebuilt the same key.

Runs once and is idempotent: if Nexus reports the system bootstrapped it changes nothing (--force overrides, destroying access to every existing secret). Each flag also reads the environment variables shown: the overview's name first, SPIKE v0.8's second. SPIKE's single-dash -init is accepted and not required.`

// cli is the command line; every setting also reads its environment
// variables, the overview's name first and SPIKE v0.8's second.
type cli struct {
	Keepers   []string `name:"keepers" env:"SPIKE_KEEPERS,SPIKE_NEXUS_KEEPER_PEERS" sep:"," placeholder:"URL" help:"Keeper URLs (https://host:port), comma-separated, in shard order: the keeper at position N gets shard N."`
	NexusURL  string   `name:"nexus-url" env:"SPIKE_NEXUS_URL,SPIKE_NEXUS_API_URL" default:"https://localhost:8553" help:"Nexus base URL."`
	Shares    int      `name:"shares" env:"SPIKE_SHAMIR_SHARES,SPIKE_NEXUS_SHAMIR_SHARES" help:"Shards to make; must equal the number of keepers (default: the number of keepers)."`
	Threshold int      `name:"threshold" env:"SPIKE_SHAMIR_THRESHOLD,SPIKE_NEXUS_SHAMIR_THRESHOLD" help:"Shards needed to rebuild the key (default: a majority of the keepers)."`
	Force     bool     `name:"force" env:"SPIKE_BOOTSTRAP_FORCE" help:"Bootstrap even if Nexus reports the system bootstrapped: a NEW root key replaces the old one and every existing secret becomes unreadable unless the old key is restored from recovery shards."`
	Init      bool     `name:"init" help:"Accepted for SPIKE v0.8 (whose Bootstrap requires -init); not required."`
	Store     string   `name:"backend-store" env:"SPIKE_BACKEND_STORE_TYPE,SPIKE_NEXUS_BACKEND_STORE" default:"sqlite" help:"Nexus's backend store: sqlite, or memory/lite (nothing to bootstrap)."`

	Timeout            time.Duration `name:"timeout" env:"SPIKE_BOOTSTRAP_TIMEOUT" default:"0s" help:"Bound on the whole run (0: none)."`
	NexusWait          time.Duration `name:"nexus-wait" env:"SPIKE_BOOTSTRAP_NEXUS_TIMEOUT" default:"10m" help:"How long to wait for Nexus to answer."`
	KeeperMaxRetries   int           `name:"keeper-max-retries" env:"SPIKE_BOOTSTRAP_KEEPER_MAX_RETRIES" default:"5" help:"Attempts per keeper."`
	KeeperTimeout      time.Duration `name:"keeper-timeout" env:"SPIKE_BOOTSTRAP_KEEPER_TIMEOUT" default:"30s" help:"Bound on all attempts at one keeper."`
	KeeperRetryInitial time.Duration `name:"keeper-retry-initial-interval" env:"SPIKE_BOOTSTRAP_KEEPER_RETRY_INITIAL_INTERVAL" default:"2s" help:"First delay between attempts at a keeper (doubles each time)."`
	KeeperRetryMax     time.Duration `name:"keeper-retry-max-interval" env:"SPIKE_BOOTSTRAP_KEEPER_RETRY_MAX_INTERVAL" default:"30s" help:"Longest delay between attempts at a keeper."`
	VerifyTimeout      time.Duration `name:"verification-timeout" env:"SPIKE_BOOTSTRAP_INIT_VERIFICATION_TIMEOUT" default:"5m" help:"How long Nexus has to rebuild the key and answer the verification."`

	SPIFFESocket  string        `name:"spiffe-endpoint-socket" env:"SPIFFE_ENDPOINT_SOCKET" help:"SPIRE Workload API address (default unix:///tmp/spire-agent/public/api.sock)."`
	SVIDDir       string        `name:"svid-dir" env:"SPIKE_SVID_DIR" type:"path" help:"Read the SVID from spiffe-helper files in this directory instead of the Workload API."`
	SourceTimeout time.Duration `name:"spiffe-source-timeout" env:"SPIKE_SPIFFE_SOURCE_TIMEOUT" default:"30s" help:"How long to wait for the first SVID."`
	logging.Flags

	MetricsAddr string `name:"metrics-addr" env:"SPIKE_BOOTSTRAP_METRICS_ADDR" placeholder:"ADDR" help:"Serve Prometheus metrics at http://ADDR/metrics while the run lasts (host:port; default: off)."`
	MetricsFile string `name:"metrics-file" env:"SPIKE_BOOTSTRAP_METRICS_FILE" type:"path" placeholder:"FILE" help:"When the run ends, write its metrics to FILE in Prometheus text format (for node_exporter's textfile collector; default: none)."`
}

// Options are what the command line and environment set: the run and the
// process around it.
type Options struct {
	Config Config
	// SPIFFESocket is the Workload API address ("" for the default);
	// SVIDDir, when set, is read instead.
	SPIFFESocket, SVIDDir string
	SourceTimeout         time.Duration
	LogLevel              slog.Level
	// LogFormat is logging.FormatJSON or logging.FormatText.
	LogFormat string
	// MetricsAddr, if set, is where /metrics is served during the run;
	// MetricsFile, if set, receives the final metrics.
	MetricsAddr, MetricsFile string
}

// Parse reads the command line args (without the program name) and the
// environment through lookup (os.LookupEnv in production), and checks
// the result. Each error is one line naming the setting.
//
// SPIKE's manifests run "bootstrap -init": Go-style single-dash -init
// (and -init=true or false) is rewritten to --init before kong parses.
func Parse(args []string, lookup func(string) (string, bool), opts ...kong.Option) (Options, error) {
	var c cli
	from := envSources{}
	opts = append([]kong.Option{kong.Resolvers(envResolver(lookup, from))}, opts...)
	if _, err := config.Parse(Name, description, &c, goStyleInit(args), lookup, opts...); err != nil {
		return Options{}, from.annotate(err)
	}
	o, err := c.options()
	if err != nil {
		return Options{}, fmt.Errorf("%s: %w", Name, err)
	}
	return o, nil
}

// options turns the parsed command line into checked Options.
func (c *cli) options() (Options, error) {
	logs, err := c.Flags.Check()
	if err != nil {
		return Options{}, err
	}
	metricsAddr, err := metricsAddr(c.MetricsAddr)
	if err != nil {
		return Options{}, err
	}
	if err := metricsFile(c.MetricsFile); err != nil {
		return Options{}, err
	}
	if c.SourceTimeout < 0 {
		return Options{}, fmt.Errorf("SPIFFE source timeout (SPIKE_SPIFFE_SOURCE_TIMEOUT) must not be negative")
	}
	cfg, err := Config{
		Keepers: c.Keepers, NexusURL: c.NexusURL, Shares: c.Shares, Threshold: c.Threshold,
		Force: c.Force, BackendStore: c.Store, Timeout: c.Timeout, NexusWait: c.NexusWait,
		KeeperMaxRetries: c.KeeperMaxRetries, KeeperTimeout: c.KeeperTimeout,
		KeeperRetryInitial: c.KeeperRetryInitial, KeeperRetryMax: c.KeeperRetryMax,
		VerifyTimeout: c.VerifyTimeout,
	}.normalize()
	if err != nil {
		return Options{}, err
	}
	return Options{Config: cfg, SPIFFESocket: c.SPIFFESocket, SVIDDir: c.SVIDDir, SourceTimeout: c.SourceTimeout,
		LogLevel: logs.Level, LogFormat: logs.Format, MetricsAddr: metricsAddr, MetricsFile: c.MetricsFile}, nil
}

// metricsFile checks, before the run rather than after it, that
// --metrics-file can be written: its directory exists. Empty is none.
func metricsFile(path string) error {
	if path == "" {
		return nil
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return fmt.Errorf("metrics file (--metrics-file, SPIKE_BOOTSTRAP_METRICS_FILE) %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("metrics file (--metrics-file, SPIKE_BOOTSTRAP_METRICS_FILE) %s: %s is not a directory", path, dir)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("metrics file (--metrics-file, SPIKE_BOOTSTRAP_METRICS_FILE) %s is a directory", path)
	}
	return nil
}

// metricsAddr checks --metrics-addr: empty (off) or host:port, where a
// bare port or :port listens on every interface, as Go does.
func metricsAddr(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", nil
	}
	if strings.Trim(s, "0123456789") == "" {
		s = ":" + s
	}
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return "", fmt.Errorf("metrics address (--metrics-addr, SPIKE_BOOTSTRAP_METRICS_ADDR) %q: want host:port or :port", s)
	}
	return s, nil
}

// goStyleInit rewrites SPIKE's "-init" and "-init=<bool>" to kong's
// double-dash form, up to a "--" terminator.
func goStyleInit(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	for i, a := range out {
		if a == "--" {
			break
		}
		if a == "-init" || strings.HasPrefix(a, "-init=") {
			out[i] = "-" + a
		}
	}
	return out
}

// envSources records, per flag name, the environment variable its value
// came from.
type envSources map[string]string

// annotate names the variable behind a flag kong could not parse: kong's
// message names only the flag.
func (e envSources) annotate(err error) error {
	for flag, env := range e {
		if strings.Contains(err.Error(), "--"+flag+":") {
			return fmt.Errorf("%w (from %s)", err, env)
		}
	}
	return err
}

// envResolver makes kong read each flag's environment variables through
// lookup: the first one set wins, as in kong. With os.LookupEnv it agrees
// with kong's own reading; with a map it lets tests run in parallel.
func envResolver(lookup func(string) (string, bool), from envSources) kong.Resolver {
	return kong.ResolverFunc(func(_ *kong.Context, _ *kong.Path, f *kong.Flag) (any, error) {
		if lookup == nil {
			return nil, nil
		}
		for _, env := range f.Envs {
			if v, ok := lookup(env); ok {
				from[f.Name] = env
				return v, nil
			}
		}
		return nil, nil
	})
}
