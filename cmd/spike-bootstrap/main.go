// Command spike-bootstrap makes the root key, gives each SPIKE Keeper its
// shard and proves that SPIKE Nexus rebuilt the same key; see package
// bootstrap. It prints one line saying what it did and exits 0, or one
// line saying why not and exits 1 (2 for bad configuration).
//
// It logs JSON lines to stderr (--log-format text for key=value), the
// last of which states the result and how long the run took. With
// --metrics-addr it serves Prometheus metrics while it runs, and with
// --metrics-file it writes them when it ends (docs/metrics.md).
//
// SPIKE v0.8's manifests run "bootstrap -init": the single-dash -init is
// accepted as is.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spikeledger/spike/bootstrap"
	"github.com/spikeledger/spike/internal/buildinfo"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/internal/telemetry"
)

// Exit codes.
const (
	exitFailure = 1
	exitConfig  = 2
)

func main() {
	if buildinfo.PrintIfAsked(os.Stdout, "spike-bootstrap", os.Args[1:]) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs one bootstrap and returns the exit status.
func run(ctx context.Context, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) int {
	opts, err := bootstrap.Parse(args, lookup)
	if err != nil {
		return fail(stderr, exitConfig, err)
	}
	roles, err := identity.NewRoles(lookup)
	if err != nil {
		return fail(stderr, exitConfig, err)
	}
	logger, err := logging.New(stderr, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return fail(stderr, exitConfig, err)
	}
	reg := telemetry.NewRegistry()
	metrics := bootstrap.NewMetrics(reg)
	opts.Config.Metrics = metrics
	if opts.MetricsAddr != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", opts.MetricsAddr)
		if err != nil {
			return fail(stderr, exitConfig, fmt.Errorf("metrics listener (--metrics-addr, SPIKE_BOOTSTRAP_METRICS_ADDR) on %s: %w", opts.MetricsAddr, err))
		}
		logger.Info("serving metrics", "metrics_addr", ln.Addr().String())
		defer bootstrap.ServeMetrics(ctx, ln, reg, logger)()
	}

	begin := time.Now()
	metrics.Start()
	res, runErr := execute(ctx, opts, roles, logger)
	took := time.Since(begin)
	metrics.Finish(runErr == nil, took, time.Now())
	code := 0
	if runErr != nil {
		code = exitFailure
	}
	if opts.MetricsFile != "" {
		if err := metrics.WriteFile(opts.MetricsFile); err != nil {
			logger.Error("could not write the metrics file", "err", err.Error())
			code = exitFailure
		}
	}
	// The last log line: what a log pipeline alerts on.
	if runErr != nil {
		logger.Error("bootstrap finished", "result", "failed", "duration_seconds", took.Seconds(), "err", oneLine(runErr))
		return fail(stderr, code, runErr)
	}
	logger.Info("bootstrap finished", "result", outcome(res.Outcome), "duration_seconds", took.Seconds(), "keepers", res.Keepers)
	fmt.Fprintln(stdout, res)
	return code
}

// outcome names a run's outcome in a word, for the last log line.
func outcome(o bootstrap.Outcome) string {
	switch o {
	case bootstrap.OutcomeBootstrapped:
		return "bootstrapped"
	case bootstrap.OutcomeAlreadyBootstrapped:
		return "already_bootstrapped"
	case bootstrap.OutcomeSkipped:
		return "skipped"
	}
	return "unknown"
}

// execute gets the process's SVID, when it needs one, and runs.
func execute(ctx context.Context, opts bootstrap.Options, roles *identity.Roles, logger *slog.Logger) (bootstrap.Result, error) {
	if !opts.Config.UsesKeepers() {
		return bootstrap.Run(ctx, opts.Config, nil, nil, logger)
	}
	src, err := identity.OpenSource(ctx, opts.SPIFFESocket, opts.SVIDDir, opts.SourceTimeout, logger)
	if err != nil {
		return bootstrap.Result{}, err
	}
	defer src.Close()
	return bootstrap.Run(ctx, opts.Config, src, roles, logger)
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// fail prints err as one line and returns code.
func fail(stderr io.Writer, code int, err error) int {
	msg := oneLine(err)
	if !strings.HasPrefix(msg, bootstrap.Name+":") {
		msg = bootstrap.Name + ": " + msg
	}
	fmt.Fprintln(stderr, msg)
	return code
}
