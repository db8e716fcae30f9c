//go:build linux

// Command prebuild builds the SPIRE server and agent the end-to-end tests
// run, into their cache (see package spire), unless they are there
// already: "make spire", which "make test" runs first, so that the tests
// never wait minutes for the build. It prints one line when it builds
// and nothing when the binaries are cached; on failure it prints the
// error, with the end of the build log, and exits 1.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spikeledger/spike/test/e2e/spire"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := spire.Build(ctx, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "spire:", err)
		os.Exit(1)
	}
}
