//go:build linux

package ha

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/loadkit"
)

func TestQuantile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{ms(5), 0.5, 5 * time.Millisecond},
		{ms(5), 0.99, 5 * time.Millisecond},
		{ms(3, 1, 2), 0.5, 2 * time.Millisecond},
		{ms(10, 1, 2, 3, 4, 5, 6, 7, 8, 9), 0.5, 5 * time.Millisecond},
		{ms(10, 1, 2, 3, 4, 5, 6, 7, 8, 9), 0.99, 10 * time.Millisecond},
		{ms(10, 1, 2, 3, 4, 5, 6, 7, 8, 9), 0.9, 9 * time.Millisecond},
		{ms(10, 1, 2, 3, 4, 5, 6, 7, 8, 9), 1, 10 * time.Millisecond},
	}
	for _, tc := range tests {
		if got := quantile(tc.in, tc.q); got != tc.want {
			t.Errorf("quantile(%v, %v) = %v, want %v", tc.in, tc.q, got, tc.want)
		}
	}
}

func TestRecoveries(t *testing.T) {
	t.Parallel()
	base := time.Unix(1000, 0)
	at := func(ms int) int64 { return base.Add(time.Duration(ms) * time.Millisecond).UnixNano() }
	entries := []entry{
		{Op: opPut, Outcome: acked, Start: at(50), End: at(100)},
		{Op: opPut, Outcome: acked, Start: at(990), End: at(1004)},    // begun before the kill: does not count
		{Op: opPut, Outcome: unknown, Start: at(1010), End: at(1100)}, // not acknowledged: does not count
		{Op: opGet, Outcome: acked, Start: at(1010), End: at(1200)},   // a read: does not count
		{Op: opPut, Outcome: acked, Start: at(1020), End: at(1900)},
		{Op: opPut, Outcome: acked, Start: at(1400), End: at(1500)}, // journals are per worker: ends come unsorted
		{Op: opPut, Outcome: acked, Start: at(4000), End: at(5000)},
	}
	kills := []time.Time{base.Add(time.Second), base.Add(3 * time.Second)}
	got, err := recoveries(entries, kills)
	if err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{500 * time.Millisecond, 2 * time.Second}; !reflect.DeepEqual(got, want) {
		t.Errorf("recoveries = %v, want %v", got, want)
	}
	if _, err := recoveries(entries, []time.Time{base.Add(4500 * time.Millisecond)}); err == nil {
		t.Error("a kill after the last write began: want an error")
	}
}

func TestJournalRoundTrip(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "j.jsonl")
	in := []entry{{Worker: 1, Replica: 2, Op: opPut, Path: "p", Value: "v", Version: 3, Outcome: acked, Start: 1, End: 2},
		{Worker: 2, Op: opGet, Path: "q", Outcome: failed, Err: "503"}}
	if err := loadkit.WriteLines(path, in); err != nil {
		t.Fatal(err)
	}
	out, err := readJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("read back %+v, wrote %+v", out, in)
	}
}
