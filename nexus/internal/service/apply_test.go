package service

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/projections"
)

// seqs returns records numbered first..last.
func seqs(first, last uint64) []eventlog.Record {
	var recs []eventlog.Record
	for s := first; s <= last; s++ {
		recs = append(recs, eventlog.Record{Header: eventlog.Header{Seq: s}})
	}
	return recs
}

// TestHoldDoesNotWaitForAnApply holds a read's records while an apply of
// earlier ones is in progress: the answerer holds them before it answers
// the read, so a hold that waited for the apply would hold every read's
// answer for as long as SQLite takes. Then the later records are applied
// after the earlier ones, in log order.
func TestHoldDoesNotWaitForAnApply(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	var applied [][]uint64 // written by applies only, which a.mu serialises
	a := newApplier(nil, slog.New(slog.DiscardHandler))
	a.applyFn = func(_ context.Context, recs []eventlog.Record, _ map[uint64]projections.Known) error {
		var s []uint64
		for _, r := range recs {
			s = append(s, r.Seq)
		}
		applied = append(applied, s)
		if len(applied) == 1 {
			close(entered)
			<-release
		}
		return nil
	}
	a.hold(seqs(1, 2))
	done := make(chan error, 1)
	go func() { done <- a.current(t.Context()) }()
	<-entered

	held := make(chan struct{})
	go func() {
		a.hold(seqs(3, 3))
		close(held)
	}()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		close(release)
		t.Fatal("hold waited for the apply in progress to end")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first apply: %v", err)
	}
	if err := a.apply(t.Context(), seqs(4, 4), nil); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if err := a.current(t.Context()); err != nil {
		t.Fatalf("current: %v", err)
	}
	want := [][]uint64{{1, 2}, {3, 4}}
	if !slices.EqualFunc(applied, want, slices.Equal) {
		t.Errorf("applied %v, want %v (held records first, in log order, then the write's)", applied, want)
	}
}
