// Command spike-nexus runs SPIKE Nexus; see package nexus. It exits 2 on
// bad configuration (one line saying which setting and why) and 1 when it
// cannot run. "spike-nexus restore-backup --from FILE" installs a backup
// into an empty data directory, offline, and exits; see docs/backup.md.
// "spike-nexus import --from spike.db" imports a SPIKE v0.8
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
	"time"

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
	if len(args) > 0 && args[0] == "restore-backup" {
		return runRestoreBackup(args[1:])
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

// runRestoreBackup runs spike-nexus restore-backup: no server starts.
func runRestoreBackup(args []string) int {
	opts, err := nexus.ParseRestoreBackup(args)
	if err != nil {
		return fail(2, err)
	}
	logger, err := logging.New(os.Stderr, opts.LogFormat, opts.LogLevel)
	if err != nil {
		return fail(2, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := nexus.RestoreBackup(ctx, opts.Restore, logger)
	if err != nil {
		return fail(1, err)
	}
	h := res.Header
	fmt.Printf("Restored %s (%d bytes, SHA-256 %x, taken %s by Nexus %s) into %s.\n", count(int(h.Events), "event", "events"), h.Bytes, res.SHA256,
		h.Created.Format(time.RFC3339), h.NexusVersion, opts.Restore.DataDir)
	if res.Pinned {
		fmt.Println("Verified against the checkpoint it ends at, signed by the key --key gives.")
	} else {
		fmt.Printf("Verified against the checkpoint it ends at, signed by the key the file names (%s); Nexus proves that key against the root key when it unseals.\n", h.VerifierKey)
	}
	for _, p := range res.Removed {
		fmt.Printf("Removed %s.\n", p)
	}
	fmt.Println("Start spike-nexus with this data directory and the same keepers; it rebuilds its projections from the log.")
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
	if !strings.HasPrefix(msg, nexus.Name+":") && !strings.HasPrefix(msg, nexus.Name+" import:") && !strings.HasPrefix(msg, nexus.Name+" restore-backup:") {
		msg = nexus.Name + ": " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return code
}
