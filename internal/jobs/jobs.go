// Package jobs runs periodic work: Nexus's shard distribution, keeper
// health probes, shard rotation and retention, and the development
// cluster's SVID renewal. A job runs every interval, never overlapping
// itself, until its context ends; a run that takes longer than the
// interval delays the next rather than queueing runs behind it.
package jobs

import (
	"context"
	"time"
)

// Every calls run every interval until ctx ends; the first call comes one
// interval after Every starts. It returns when ctx ends, after any run in
// progress returns. An interval of 0 or less never runs the job: Every
// waits for ctx, so a caller can pass a setting straight through.
func Every(ctx context.Context, interval time.Duration, run func(context.Context)) {
	if interval <= 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A tick and the cancellation can both be ready, and select
		// picks either: a job cancelled must not run once more.
		if ctx.Err() != nil {
			return
		}
		run(ctx)
	}
}
