package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"
)

// TestCommitsThatRemapDoNotDeadlock grows the file past bbolt's mapping
// while every commit flushes in step (a checkpoint due after each
// event) or empties a full journal first: those bbolt commits happen
// on the writer's goroutine, and one that remapped while the writer
// still held its read transaction waited for itself forever (found at
// 1 GiB, the default mapping, building a ten-million-event log).
func TestCommitsThatRemapDoNotDeadlock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"checkpoint due at every commit", Options{CheckpointEvery: 1, mmapSize: 64 << 10}},
		{"journal full at every few commits", Options{JournalSize: 64 << 10, FlushDelay: time.Hour, FlushEvents: 1 << 30,
			CheckpointInterval: time.Hour, CheckpointEvery: 1 << 40, mmapSize: 64 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := openTest(t, tc.opts)
			done := make(chan error, 1)
			go func() {
				payload := bytes.Repeat([]byte("x"), 500)
				for i := range 200 {
					batch := make([]Event, 40)
					for j := range batch {
						batch[j] = Event{Type: "t.x", Schema: 1, Payload: payload}
					}
					if _, err := l.Append(context.Background(), batch...); err != nil {
						done <- fmt.Errorf("append %d: %w", i, err)
						return
					}
				}
				done <- nil
			}()
			// Not a speed check: the appends take well under a second;
			// a deadlock never ends.
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(2 * time.Minute):
				t.Fatal("appends stopped: the writer is deadlocked")
			}
			if l.Size() != 8000 {
				t.Fatalf("size %d, want 8000", l.Size())
			}
		})
	}
}
