package eventlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
)

// scanBackSeqs is ScanBack's answer as sequence numbers, newest first.
func scanBackSeqs(t *testing.T, l *Log, types ...string) []uint64 {
	t.Helper()
	var got []uint64
	if err := l.ScanBack(context.Background(), func(r Record) bool {
		got = append(got, r.Seq)
		return true
	}, types...); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestTypeIndexMatchesAScan appends events of rare and common types,
// some flushed into bbolt and some still in the journal's tail, and
// checks that ScanBack over indexed types answers exactly what a walk of
// every event does: on a log indexed from the start, on one indexed when
// reopened, after appends by an opener that did not ask for the index,
// and across a batch too big for the journal and a data key rotation.
func TestTypeIndexMatchesAScan(t *testing.T) {
	t.Parallel()
	indexed := []string{"custody.rare", "custody.other"}
	for _, tc := range []struct {
		name  string
		first Options // the opener that writes first
	}{
		{"indexed from the start", Options{IndexTypes: indexed}},
		{"indexed on reopen", Options{}},
		{"journal off", Options{JournalSize: -1, IndexTypes: indexed}},
		{"rotating data keys", Options{IndexTypes: indexed, MaxEventsPerKey: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "events.db")
			types := []string{"secret.read", "secret.read", "secret.read", "custody.rare", "custody.other", "secret.written"}
			rng := rand.New(rand.NewPCG(1, 2))
			var want []uint64 // every indexed event, oldest first
			appendSome := func(l *Log, n int) {
				t.Helper()
				for range n {
					batch := make([]Event, 1+rng.IntN(4))
					for i := range batch {
						batch[i] = ev(types[rng.IntN(len(types))], "p")
					}
					recs, err := l.Append(ctx, batch...)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range recs {
						if slices.Contains(indexed, r.Type) {
							want = append(want, r.Seq)
						}
					}
				}
			}
			check := func(l *Log, when string) {
				t.Helper()
				got := scanBackSeqs(t, l, indexed...)
				exp := slices.Clone(want)
				slices.Reverse(exp)
				if !slices.Equal(got, exp) {
					t.Fatalf("%s: ScanBack = %v, want %v", when, got, exp)
				}
				only := scanBackSeqs(t, l, "custody.rare")
				for _, s := range only {
					if r, err := l.GetSealed(ctx, s); err != nil || r.Type != "custody.rare" {
						t.Fatalf("%s: ScanBack(custody.rare) passed event %d (%v, %v)", when, s, r.Type, err)
					}
				}
			}
			open := func(opts Options) *Log {
				t.Helper()
				l, err := openPath(t, path, opts)
				if err != nil {
					t.Fatal(err)
				}
				if err := l.Unlock(ctx, testKey(1)); err != nil {
					t.Fatal(err)
				}
				return l
			}

			l := open(tc.first)
			appendSome(l, 40)
			if err := l.f.flush(true); err != nil {
				t.Fatal(err)
			}
			appendSome(l, 10) // these stay in the tail
			big := make([]Event, 3)
			for i := range big {
				big[i] = ev("custody.rare", fmt.Sprint(i))
			}
			recs, err := l.Append(ctx, big...)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				want = append(want, r.Seq)
			}
			check(l, "first opener")
			l.Close()

			l = open(Options{IndexTypes: indexed}) // builds the index if the first did not
			check(l, "reopened with the index")
			appendSome(l, 20)
			l.Close()

			l = open(Options{}) // keeps the index the file names
			appendSome(l, 20)
			check(l, "an opener that did not ask")
			l.Close()

			l = open(Options{IndexTypes: indexed})
			check(l, "reopened again")
			if !l.covers(indexed) {
				t.Fatal("the index is not used")
			}
		})
	}
}
