package projections

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// realistic fills the log with n events in the mix a busy deployment
// produces. Every read is an event, and workloads read their secrets far
// more often than anyone writes them, so: 80% reads, 12% writes (over
// 5,000 paths, so most writes also prune past ten versions), 3% deletes,
// 2% policy changes, 3% denials. writeShare overrides the write share
// (SPIKE_BENCH_WRITES, in percent) to measure write-heavy logs.
func realistic(f *fixture, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	writes := 12
	if s := os.Getenv("SPIKE_BENCH_WRITES"); s != "" {
		writes, _ = strconv.Atoi(s)
	}
	// Shares after writes: reads up to 95-others, then deletes, policies, denials.
	reads := 100 - writes - 8
	versions := map[string]int{}
	const paths = 5000
	batch := make([]eventlog.Event, 0, 1000)
	for i := 0; i < n; i++ {
		path := fmt.Sprintf("apps/app-%d/db", rng.IntN(paths))
		actor := fmt.Sprintf("spiffe://spike.ist/workload/app-%d", rng.IntN(500))
		var ev eventlog.Event
		switch r := rng.IntN(100); {
		case r < writes || versions[path] == 0:
			v := versions[path] + 1
			versions[path] = v
			var pruned []int
			if v > DefaultMaxVersions {
				pruned = []int{v - DefaultMaxVersions}
			}
			ev = f.written(actor, path, v, map[string]string{"username": "app", "password": strconv.Itoa(rng.Int())}, pruned...)
		case r < writes+reads:
			ev = f.event(&events.SecretRead{Meta: events.Meta{Actor: actor, RequestID: "r"}, Path: path, Version: versions[path], Outcome: events.OutcomeOK})
		case r < writes+reads+3:
			ev = f.event(&events.SecretVersionsDeleted{Meta: events.Meta{Actor: actor}, Path: path, Versions: []int{versions[path]}})
		case r < writes+reads+5:
			ev = f.event(&events.PolicyPut{Meta: events.Meta{Actor: actor}, Name: fmt.Sprintf("p-%d", rng.IntN(100)),
				SpiffeIDPattern: "^spiffe://spike\\.ist/workload/.*$", PathPattern: "^apps/.*$", Permissions: []string{"read"}})
		default:
			ev = f.event(&events.AccessDenied{Meta: events.Meta{Actor: actor}, Path: path, Action: "write", Reason: "no policy"})
		}
		batch = append(batch, ev)
		if len(batch) == cap(batch) || i == n-1 {
			f.append(batch...)
			batch = batch[:0]
		}
	}
}

// BenchmarkRebuild rebuilds the projection of a one-million-event log
// into a new file; one op is one full rebuild.
func BenchmarkRebuild(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("SPIKE_BENCH_EVENTS"); s != "" { // for profiling runs
		n, _ = strconv.Atoi(s)
	}
	f := newFixture(b)
	realistic(f, n)
	resetPeakRSS()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		p, err := Open(f.ctx, f.log, f.opts(filepath.Join(f.dir, fmt.Sprintf("p%d.db", i))))
		if err != nil {
			b.Fatal(err)
		}
		if p.LastApplied() != uint64(n) {
			b.Fatalf("rebuilt to %d", p.LastApplied())
		}
		p.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
	if mb := peakRSSMiB(); mb > 0 {
		b.ReportMetric(mb, "peak-RSS-MiB")
	}
}

// BenchmarkGetSecret reads the current version of a random path.
func BenchmarkGetSecret(b *testing.B) {
	f := newFixture(b)
	realistic(f, 50_000)
	p := f.open(filepath.Join(f.dir, "p.db"))
	paths, err := p.Paths(f.ctx)
	if err != nil {
		b.Fatal(err)
	}
	var ok []string
	for _, path := range paths {
		if _, err := p.Secret(f.ctx, path, 0); err == nil {
			ok = append(ok, path)
		}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := p.Secret(f.ctx, ok[i%len(ok)], 0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// resetPeakRSS returns garbage from setting up to the OS and resets the
// kernel's peak-RSS mark (clear_refs 5), so peakRSSMiB measures what
// follows.
func resetPeakRSS() {
	runtime.GC()
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// peakRSSMiB reads this process's peak resident set size (VmHWM).
func peakRSSMiB() float64 {
	fh, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer fh.Close()
	s := bufio.NewScanner(fh)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkHistory reads the first page of filtered searches of a
// 100,000-event history, as `spike audit list` does: each should cost a
// seek and a short read, not a pass over the history. The one policy
// deletion, the last event, is the rare event an auditor looks for.
func BenchmarkHistory(b *testing.B) {
	f := newFixture(b)
	realistic(f, 100_000)
	f.append(f.event(&events.PolicyDeleted{Meta: events.Meta{Actor: "spiffe://spike.ist/spike/pilot/role/admin"}, Name: "p-1"}))
	p := f.open(filepath.Join(f.dir, "p.db"))
	for _, bc := range []struct {
		name string
		q    HistoryQuery
	}{
		{"all", HistoryQuery{}},
		{"path", HistoryQuery{Target: "apps/app-7/db"}},
		{"type", HistoryQuery{Type: "policy.put"}},
		{"rare-type", HistoryQuery{Type: "policy.deleted"}},
		{"types", HistoryQuery{Types: []string{"policy.put", "access.denied"}}},
		{"outcome", HistoryQuery{Outcome: events.OutcomeDenied}},
		{"prefix-one", HistoryQuery{TargetPrefix: "apps/app-4999/"}},
		{"prefix-many", HistoryQuery{TargetPrefix: "apps/app-1"}},
		{"prefix-and-type", HistoryQuery{TargetPrefix: "apps/app-1", Type: "access.denied"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := p.History(f.ctx, bc.q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
