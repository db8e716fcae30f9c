// Command spike-bootstrap makes the root key, gives each SPIKE Keeper its
// shard and proves that SPIKE Nexus rebuilt the same key; see package
// bootstrap. It prints one line saying what it did and exits 0, or one
// line saying why not and exits 1 (2 for bad configuration).
//
// SPIKE v0.8's manifests run "bootstrap -init": the single-dash -init is
// accepted as is.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spikeledger/spike/bootstrap"
	"github.com/spikeledger/spike/internal/identity"
)

// Exit codes.
const (
	exitFailure = 1
	exitConfig  = 2
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := bootstrap.Parse(args, os.LookupEnv)
	if err != nil {
		return fail(exitConfig, err)
	}
	roles, err := identity.NewRoles(os.LookupEnv)
	if err != nil {
		return fail(exitConfig, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: opts.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := execute(ctx, opts, roles, logger)
	if err != nil {
		return fail(exitFailure, err)
	}
	fmt.Println(res)
	return 0
}

// execute gets the process's SVID, when it needs one, and runs.
func execute(ctx context.Context, opts bootstrap.Options, roles *identity.Roles, logger *slog.Logger) (bootstrap.Result, error) {
	if !opts.Config.UsesKeepers() {
		return bootstrap.Run(ctx, opts.Config, nil, nil, logger)
	}
	src, err := source(ctx, opts, logger)
	if err != nil {
		return bootstrap.Result{}, err
	}
	defer src.Close()
	return bootstrap.Run(ctx, opts.Config, src, roles, logger)
}

// source returns the SVID source: spiffe-helper files if a directory is
// given, the Workload API otherwise.
func source(ctx context.Context, opts bootstrap.Options, logger *slog.Logger) (identity.Source, error) {
	return identity.OpenSource(ctx, opts.SPIFFESocket, opts.SVIDDir, opts.SourceTimeout, logger)
}

// fail prints err as one line and returns code.
func fail(code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if !strings.HasPrefix(msg, bootstrap.Name+":") {
		msg = bootstrap.Name + ": " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return code
}
