// Command spike is the operator's command line; see package pilot.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spikeledger/spike/pilot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := pilot.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
