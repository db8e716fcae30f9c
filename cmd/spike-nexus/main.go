// Command spike-nexus runs SPIKE Nexus; see package nexus. It exits 2 on
// bad configuration (one line saying which setting and why) and 1 when it
// cannot run. "spike-nexus import --from spike.db" imports a SPIKE v0.8
// deployment into a new data directory instead, offline, and exits. It logs JSON lines to stderr (--log-format text for
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

	"github.com/spikeledger/spike/internal/buildinfo"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/nexus"
)

func main() {
	if buildinfo.PrintIfAsked(os.Stdout, "spike-nexus", os.Args[1:]) {
		return
	}
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(nexus.GCPercent)
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "import" {
		return runImport(args[1:])
	}
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

// runImport runs spike-nexus import: no server starts.
func runImport(args []string) int {
	opts, err := nexus.ParseImport(args)
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
	var src identity.Source
	if opts.Import.RecoveryDir == "" {
		// Only the keepers need an SVID.
		s, err := identity.OpenSource(ctx, opts.SPIFFESocket, opts.SVIDDir, opts.SourceTimeout, logger)
		if err != nil {
			return fail(1, err)
		}
		defer s.Close()
		src = s
	}
	res, err := nexus.Import(ctx, opts.Import, src, roles, logger)
	if err != nil {
		return fail(1, err)
	}
	fmt.Printf("Imported %s (%s) and %s from %s into %s: %s.\n", count(res.Secrets, "secret", "secrets"), count(res.Versions, "version", "versions"),
		count(res.Policies, "policy", "policies"), opts.Import.From, opts.Import.DataDir, count(int(res.Events), "event", "events"))
	fmt.Println("Start spike-nexus with this data directory and SPIKE's keepers; it recovers the root key from them.")
	return 0
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

func fail(code int, err error) int {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if !strings.HasPrefix(msg, nexus.Name+":") && !strings.HasPrefix(msg, nexus.Name+" import:") {
		msg = nexus.Name + ": " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return code
}
