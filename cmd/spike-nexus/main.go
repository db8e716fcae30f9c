// Command spike-nexus runs SPIKE Nexus; see package nexus. It exits 2 on
// bad configuration (one line saying which setting and why) and 1 when it
// cannot run. It logs JSON lines to stderr (--log-format text for
// key=value), at the level --log-level (SPIKE_SYSTEM_LOG_LEVEL) names.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/nexus"
)

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(nexus.GCPercent)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	opts, err := nexus.Parse(args)
	if err != nil {
		return fail(2, err)
	}
	roles, err := identity.NewRoles(os.LookupEnv)
	if err != nil {
		return fail(2, err)
	}
	logger, err := logging.New(os.Stderr, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return fail(2, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	src, err := identity.OpenSource(ctx, opts.SPIFFESocket, opts.SVIDDir, opts.SourceTimeout, logger)
	if err != nil {
		return fail(1, err)
	}
	defer src.Close()
	if err := nexus.Run(ctx, opts.Config, src, roles, logger); err != nil {
		return fail(1, err)
	}
	return 0
}

func fail(code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if !strings.HasPrefix(msg, nexus.Name+":") {
		msg = nexus.Name + ": " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return code
}
