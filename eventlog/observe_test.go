package eventlog

import (
	"context"
	"sync"
	"testing"
	"time"
)

// countingObserver tallies what the writer reports.
type countingObserver struct {
	mu      sync.Mutex
	commits int
	events  int
	byType  map[string]int
	waits   int
	failed  int
}

func (o *countingObserver) Committed(events int, sync time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.commits++
	o.events += events
}

func (o *countingObserver) Appended(typ string, wait time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.byType == nil {
		o.byType = map[string]int{}
	}
	o.byType[typ]++
	if wait > 0 {
		o.waits++
	}
}

func (o *countingObserver) Failed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failed++
}

func TestObserverSeesEveryDurableEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		journal int64
	}{
		{"journal", 0},
		{"bbolt commits", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &countingObserver{}
			l := openTest(t, Options{Observer: o, JournalSize: tc.journal})
			ctx := context.Background()
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					typ := "a.read"
					if i%4 == 0 {
						typ = "b.written"
					}
					if _, err := l.Append(ctx, ev(typ, "x"), ev(typ, "y")); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			// An append that fails validation never reaches the writer.
			if _, err := l.Append(ctx, Event{Type: "", Payload: []byte("x")}); err == nil {
				t.Fatal("an event without a type was appended")
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			if o.events != 40 || o.byType["a.read"] != 30 || o.byType["b.written"] != 10 {
				t.Errorf("observed %d events, by type %v; want 40: a.read 30, b.written 10", o.events, o.byType)
			}
			if o.commits < 1 || o.commits > 20 {
				t.Errorf("observed %d commits for 20 appends", o.commits)
			}
			if o.waits != 40 || o.failed != 0 {
				t.Errorf("waits %d (want 40), failures %d (want 0)", o.waits, o.failed)
			}
			if st := l.Stats(); st.Events != 40 {
				t.Errorf("Stats().Events = %d, want 40", st.Events)
			}
		})
	}
}
