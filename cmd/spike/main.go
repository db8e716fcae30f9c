// Command spike is the operator's command line; see package pilot. It is
// also `spike dev`, the whole system in one process (package devcluster),
// wired in here so that pilot never depends on the servers.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/internal/buildinfo"
	"github.com/spikeledger/spike/internal/logging"
	"github.com/spikeledger/spike/pilot"
)

func main() {
	if buildinfo.PrintIfAsked(os.Stdout, "spike", os.Args[1:]) {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C, a second one kills at once, should a clean
	// stop hang.
	context.AfterFunc(ctx, stop)
	code := pilot.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, pilot.WithDev(dev))
	stop()
	os.Exit(code)
}

// dev runs `spike dev`: the banner to stdout, every component's log
// (warnings and errors unless SPIKE_SYSTEM_LOG_LEVEL says otherwise) to
// stderr as text, for the person watching it.
func dev(ctx context.Context, o pilot.DevOptions, stdout, stderr io.Writer) error {
	logger, err := logging.New(stderr, logging.FormatText, o.LogLevel)
	if err != nil {
		return err
	}
	return devcluster.Run(ctx, devcluster.Options{
		DataDir:     o.DataDir,
		TrustDomain: o.TrustDomain,
		NexusAddr:   o.NexusAddr,
		OpsAddr:     o.OpsAddr,
		Keepers:     o.Keepers,
		Logger:      logger,
	}, stdout)
}
