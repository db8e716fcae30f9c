package projections

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// The audit-at-scale fixture: a log of SPIKE_BENCH_SCALE events (ten
// million for the figures in docs/performance.md), mostly audited reads
// over 100,000 paths by 1,000 callers, built once into
// ~/.cache/spike/bench-audit-<n> and reused, since building it takes
// minutes. Only BenchmarkAuditAtScale uses it; make test never does.
const (
	scalePaths   = 100_000
	scaleCallers = 1_000
)

func scaleDir(b *testing.B, n int) string {
	cache, err := os.UserCacheDir()
	if err != nil {
		b.Skip("no cache directory:", err)
	}
	return filepath.Join(cache, "spike", fmt.Sprintf("bench-audit-%d", n))
}

// scaleFixture opens (building it first if it is missing or incomplete)
// the log and its projection.
func scaleFixture(b *testing.B, n int) (*fixture, *Projection, time.Duration) {
	dir := scaleDir(b, n)
	ctx := context.Background()
	f := openScaleLog(b, dir)
	if f.log.Size() != uint64(n) {
		f.log.Close()
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
		f = openScaleLog(b, dir)
		start := time.Now()
		fillScale(f, n)
		b.Logf("built a log of %d events in %v", n, time.Since(start).Round(time.Second))
	}
	b.Cleanup(func() { f.log.Close() })
	start := time.Now()
	p, err := Open(ctx, f.log, f.opts(filepath.Join(dir, "projections.db")))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	return f, p, time.Since(start)
}

func openScaleLog(b *testing.B, dir string) *fixture {
	ctx := context.Background()
	l, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), eventlog.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	root := bytes.Repeat([]byte{9}, 32)
	if err := l.Unlock(ctx, root); err != nil {
		b.Fatal(err)
	}
	key, err := KeyFromRoot(root)
	if err != nil {
		b.Fatal(err)
	}
	return &fixture{t: b, ctx: ctx, dir: dir, log: l, root: root, key: key, vkey: map[string]eventlog.ValueKeyID{}}
}

// fillScale appends n events: 90% audited reads, 5% writes, 3% denials,
// 2% deletes; every path is written before it is read.
func fillScale(f *fixture, n int) {
	rng := rand.New(rand.NewPCG(3, 4))
	versions := make([]int, scalePaths)
	batch := make([]eventlog.Event, 0, 2000)
	for i := 0; i < n; i++ {
		pi := rng.IntN(scalePaths)
		path := scalePath(pi)
		actor := scaleActor(rng.IntN(scaleCallers))
		var ev eventlog.Event
		switch r := rng.IntN(100); {
		case r < 5 || versions[pi] == 0:
			versions[pi]++
			v := versions[pi]
			var pruned []int
			if v > DefaultMaxVersions {
				pruned = []int{v - DefaultMaxVersions}
			}
			ev = f.written(actor, path, v, map[string]string{"password": strconv.Itoa(rng.Int())}, pruned...)
		case r < 95:
			ev = f.event(&events.SecretRead{Meta: events.Meta{Actor: actor, RequestID: "r"}, Path: path, Version: versions[pi], Outcome: events.OutcomeOK})
		case r < 98:
			ev = f.event(&events.AccessDenied{Meta: events.Meta{Actor: actor}, Path: path, Action: "write", Reason: "no policy"})
		default:
			ev = f.event(&events.SecretVersionsDeleted{Meta: events.Meta{Actor: actor}, Path: path, Versions: []int{versions[pi]}})
		}
		batch = append(batch, ev)
		if len(batch) == cap(batch) || i == n-1 {
			f.append(batch...)
			batch = batch[:0]
		}
	}
}

func scalePath(i int) string  { return fmt.Sprintf("tenants/t%d/apps/app-%d/db", i%100, i) }
func scaleActor(i int) string { return fmt.Sprintf("spiffe://spike.ist/workload/svc-%d", i) }

// BenchmarkAuditAtScale measures the auditor's queries on a large log:
// the history of one path, and the first page of one caller's events in
// a time window, each over many random targets, with p50 and p99.
//
//	SPIKE_BENCH_SCALE=10000000 go test -run '^$' -bench AuditAtScale -benchtime 1x -timeout 2h ./projections
func BenchmarkAuditAtScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SPIKE_BENCH_SCALE"))
	if n <= 0 {
		b.Skip("set SPIKE_BENCH_SCALE to the number of events (10000000 for the documented figures); the fixture is cached under ~/.cache/spike")
	}
	f, p, opened := scaleFixture(b, n)
	if p.LastApplied() != uint64(n) {
		b.Fatalf("projection at %d of %d events", p.LastApplied(), n)
	}
	// A parent benchmark's own metrics are not printed: log them.
	b.Logf("%d events; projection opened (built if new) in %v; events.db %.0f MiB, projections.db %.0f MiB",
		n, opened.Round(time.Millisecond), sizeMiB(filepath.Join(f.dir, "events.db")), sizeMiB(filepath.Join(f.dir, "projections.db")))
	first, err := f.log.Get(f.ctx, 1)
	if err != nil {
		b.Fatal(err)
	}
	last, err := f.log.Get(f.ctx, uint64(n))
	if err != nil {
		b.Fatal(err)
	}
	span := last.Time.Sub(first.Time)
	rng := rand.New(rand.NewPCG(5, 6))
	queries := []struct {
		name string
		q    func() HistoryQuery
	}{
		{"path", func() HistoryQuery { return HistoryQuery{Target: scalePath(rng.IntN(scalePaths))} }},
		{"actor-window", func() HistoryQuery {
			from := first.Time.Add(time.Duration(rng.Int64N(int64(span))))
			return HistoryQuery{Actor: scaleActor(rng.IntN(scaleCallers)), From: from, To: from.Add(span / 10)}
		}},
	}
	for _, qc := range queries {
		b.Run(qc.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				for range 200 {
					q := qc.q()
					start := time.Now()
					if _, _, err := p.History(f.ctx, q); err != nil {
						b.Fatal(err)
					}
					took = append(took, time.Since(start))
				}
			}
			slices.Sort(took)
			b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

func sizeMiB(path string) float64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return float64(fi.Size()) / (1 << 20)
}

// BenchmarkRestorePlanAtScale measures the part of a restore plan that
// grows with the log, on the audit-at-scale fixture: the state of one
// tenant's prefix (1,000 of the 100,000 paths) at the log's middle,
// rebuilt from the events of that prefix alone, and every path of it
// read then and now, as Nexus's plan reads them. SPIKE_BENCH_WHOLE=1
// adds the same with every path, which replays the whole log.
//
//	SPIKE_BENCH_SCALE=10000000 go test -run '^$' -bench RestorePlanAtScale -benchtime 10x -timeout 2h ./projections
func BenchmarkRestorePlanAtScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("SPIKE_BENCH_SCALE"))
	if n <= 0 {
		b.Skip("set SPIKE_BENCH_SCALE to the number of events (10000000 for the documented figures); the fixture is cached under ~/.cache/spike")
	}
	f, live, _ := scaleFixture(b, n)
	if live.LastApplied() != uint64(n) {
		b.Fatalf("projection at %d of %d events", live.LastApplied(), n)
	}
	at := uint64(n / 2)
	tenant := Scope{Prefix: "tenants/t7/"}
	for _, sc := range []struct {
		name  string
		scope Scope
		whole bool // replay the whole log, as restores did before scopes
	}{
		{"tenant-prefix", tenant, false},
		{"one-path", Scope{Paths: []string{scalePath(1007)}}, false},
		{"tenant-prefix-whole-log", tenant, true},
	} {
		if sc.whole && os.Getenv("SPIKE_BENCH_WHOLE") == "" {
			continue // minutes at ten million events
		}
		b.Run(sc.name, func(b *testing.B) {
			seqs, err := live.changeSeqs(f.ctx, sc.scope, at)
			if err != nil {
				b.Fatal(err)
			}
			var paths int
			for b.Loop() {
				opts := Options{Memory: true, Key: f.key, Logger: quiet}
				var past *Projection
				if sc.whole {
					past, err = BuildAsOf(f.ctx, f.log, AsOf{Seq: at}, opts)
				} else {
					past, err = BuildAsOfScope(f.ctx, live, at, sc.scope, opts)
				}
				if err != nil {
					b.Fatal(err)
				}
				then, err := past.PathsIn(f.ctx, sc.scope)
				if err != nil {
					b.Fatal(err)
				}
				for _, p := range then {
					past.Secret(f.ctx, p, 0)
					live.Secret(f.ctx, p, 0)
				}
				paths = len(then)
				past.Close()
			}
			if sc.whole {
				seqs = make([]uint64, at)
			}
			b.ReportMetric(float64(len(seqs)), "events")
			b.ReportMetric(float64(paths), "paths")
		})
	}
}
