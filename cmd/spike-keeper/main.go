// Command spike-keeper holds one Shamir shard of SPIKE's root key in
// memory and serves it to Nexus over SPIFFE mTLS. See package keeper.
//
// Configuration comes from flags or environment variables (--help lists
// both). It logs JSON lines to stderr (--log-format text for key=value),
// at the level --log-level (SPIKE_SYSTEM_LOG_LEVEL) names. A bad setting stops it with one line on stderr and exit status
// 2; SIGINT or SIGTERM stops it gracefully, with the shard zeroed, and
// exit status 0.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"

	"github.com/spikeledger/spike/internal/buildinfo"
	"github.com/spikeledger/spike/internal/config"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/keeper"
)

// cli is the keeper's configuration: each flag's environment variables,
// the overview's name first, then SPIKE v0.8's where it differs.
type cli struct {
	TLSPort       string        `name:"tls-port" env:"SPIKE_KEEPER_TLS_PORT" default:":8554" help:"Address of the mTLS API: port, :port or host:port."`
	OpsAddr       string        `name:"ops-addr" env:"SPIKE_KEEPER_OPS_ADDR" placeholder:"ADDR" help:"Address of the plain-HTTP /healthz, /readyz and /metrics listener, or \"off\" (default: 127.0.0.1 at the TLS port + 1000, 9554 for 8554)."`
	Socket        string        `name:"spiffe-endpoint-socket" env:"SPIFFE_ENDPOINT_SOCKET" help:"SPIRE Agent Workload API address (default ${default_socket})."`
	SVIDDir       string        `name:"svid-dir" env:"SPIKE_SVID_DIR" help:"Read the SVID from the files spiffe-helper writes in this directory instead of the Workload API."`
	SourceTimeout time.Duration `name:"spiffe-source-timeout" env:"SPIKE_SPIFFE_SOURCE_TIMEOUT" default:"30s" help:"How long to wait for the first SVID."`
	MaxConns      int           `name:"max-connections" env:"SPIKE_KEEPER_MAX_CONNECTIONS" default:"4096" help:"Most API connections open at once (1 to 1048576); at the cap new connections wait, unanswered, until one closes."`
	logging.Flags
}

const description = "SPIKE Keeper: holds one shard of the root key in memory and gives it back to SPIKE Nexus."

func main() {
	if buildinfo.PrintIfAsked(os.Stdout, "spike-keeper", os.Args[1:]) {
		return
	}
	os.Exit(run(os.Args[1:], os.LookupEnv, os.Stderr))
}

// run runs the keeper and returns the process's exit status.
func run(args []string, lookup func(string) (string, bool), stderr io.Writer) int {
	c, cfg, roles, logs, err := parse(args, lookup)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	logger := logs.New(stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, c, cfg, roles, logger); err != nil {
		logger.Error("keeper failed", "err", err.Error())
		return 1
	}
	return 0
}

// parse reads the flags, the environment and the trust roots. Its
// errors are one line each.
func parse(args []string, lookup func(string) (string, bool)) (cli, keeper.Config, *identity.Roles, logging.Settings, error) {
	var c cli
	vars := kong.Vars{"default_socket": identity.DefaultWorkloadSocket}
	if _, err := config.Parse("spike-keeper", description, &c, args, lookup, vars); err != nil {
		return c, keeper.Config{}, nil, logging.Settings{}, err
	}
	logs, err := c.Flags.Check()
	if err != nil {
		return c, keeper.Config{}, nil, logs, fmt.Errorf("spike-keeper: %w", err)
	}
	cfg, err := keeper.Config{TLSAddr: c.TLSPort, OpsAddr: c.OpsAddr, MaxConnections: c.MaxConns}.Validate()
	if err != nil {
		return c, cfg, nil, logs, fmt.Errorf("spike-keeper: %w", err)
	}
	if c.SourceTimeout <= 0 {
		return c, cfg, nil, logs, fmt.Errorf("spike-keeper: --spiffe-source-timeout (SPIKE_SPIFFE_SOURCE_TIMEOUT) must be positive, not %s", c.SourceTimeout)
	}
	roles, err := identity.NewRoles(lookup)
	if err != nil {
		return c, cfg, nil, logs, fmt.Errorf("spike-keeper: %w", err)
	}
	return c, cfg, roles, logs, nil
}

// serve gets the keeper's SVID and runs it until ctx ends. A signal
// while waiting for the SVID is a clean stop.
func serve(ctx context.Context, c cli, cfg keeper.Config, roles *identity.Roles, logger *slog.Logger) error {
	src, err := source(ctx, c, logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer src.Close()
	return keeper.Run(ctx, cfg, src, roles, logger)
}

// source returns the SVID source the configuration names.
func source(ctx context.Context, c cli, logger *slog.Logger) (identity.Source, error) {
	return identity.OpenSource(ctx, c.Socket, c.SVIDDir, c.SourceTimeout, logger)
}
