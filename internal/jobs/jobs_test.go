package jobs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryRunsUntilCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Millisecond, func(context.Context) {
			if runs.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	<-done
	if n := runs.Load(); n != 3 {
		t.Fatalf("ran %d times after cancelling on the third, want 3", n)
	}
}

func TestEveryNeverOverlaps(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var running, runs atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Microsecond, func(context.Context) {
			if running.Add(1) != 1 {
				t.Error("two runs at once")
			}
			time.Sleep(2 * time.Millisecond) // longer than the interval
			running.Add(-1)
			if runs.Add(1) == 5 {
				cancel()
			}
		})
		close(done)
	}()
	<-done
}

func TestEveryZeroIntervalNeverRuns(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Every(ctx, 0, func(context.Context) { t.Error("ran with interval 0") })
		close(done)
	}()
	cancel()
	<-done
}
