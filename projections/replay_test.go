package projections

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// TestReplayMatchesHistory: for random queries over two logs — one of
// every event kind (the model generator, custody events added), one of
// reads, denials and restores of many paths — ReplayPage answers exactly
// what History answers from a projection of the same log, page by page,
// and Replay streams exactly what History answers over all its pages.
func TestReplayMatchesHistory(t *testing.T) {
	t.Parallel()
	mixed := func(t *testing.T) (*fixture, *Projection) {
		f := newFixtureWith(t, eventlog.Options{Now: newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond).Now})
		newGen(t, f, 99).run(1200)
		m := events.Meta{Actor: "spiffe://spike.ist/spike/nexus", RequestID: "job"}
		f.append(
			f.event(&events.RootKeyRecovered{Meta: m, Keepers: []string{"k1", "k2"}}),
			f.event(&events.KeeperUnreachable{Meta: m, Keeper: "https://k3:8554", Error: "refused"}),
			f.event(&events.ShardsDistributed{Meta: m, Results: []events.KeeperOutcome{{Keeper: "k1", OK: true}, {Keeper: "k2"}}}),
			f.event(&events.CipherUsed{Meta: m, Operation: "encrypt", Outcome: events.OutcomeOK}),
			f.event(&events.ClusterMemberAdded{Meta: m, ID: "n2", RaftAddress: "10.0.0.2:8554", APIAddress: "10.0.0.2:8553"}),
			f.event(&events.ClusterMemberRemoved{Meta: m, ID: "n2"}),
		)
		return f, f.open("")
	}
	manyPaths := func(t *testing.T) (*fixture, *Projection) {
		f, p, _ := historyLog(t, 1500)
		return f, p
	}
	for name, build := range map[string]func(*testing.T) (*fixture, *Projection){"every kind": mixed, "restores of many paths": manyPaths} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, p := build(t)
			size := f.log.Size()
			times := make([]time.Time, size+1)
			f.log.ScanSealed(f.ctx, 1, 0, func(r eventlog.Record) error { times[r.Seq] = r.Time; return nil })
			rng := rand.New(rand.NewPCG(5, 6))
			pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
			queries := 200
			if testing.Short() {
				queries = 50
			}
			for i := range queries {
				var q HistoryQuery
				if rng.IntN(3) == 0 {
					q.Target = pick("app/db", "web/a", "x", "fewer", "few/1/x", "many/7", "admins", "k1", "spike/system/cluster/n2", "never/recorded")
				}
				if rng.IntN(3) == 0 {
					q.TargetPrefix = pick("app/", "web/", "many/", "many/1", "few/", "f", "spike/", "nope/")
				}
				if rng.IntN(4) == 0 {
					q.Actor = pick(genActors[0], genActors[2], alice, "spiffe://spike.ist/workload/bob", "spiffe://spike.ist/spike/nexus")
				}
				if rng.IntN(3) == 0 {
					q.Types = []string{pick("secret.read", "access.denied", "secret.version.written", "restore.applied", "policy.put", "request.refused")}
					if rng.IntN(2) == 0 {
						q.Types = append(q.Types, pick("secret.versions.deleted", "secret.metadata.updated", "keeper.unreachable"))
					}
				}
				if rng.IntN(4) == 0 {
					q.Outcomes = []string{pick("ok", "not_found", "denied", "error", "conflict")}
				}
				if rng.IntN(4) == 0 {
					q.From = times[1+rng.IntN(int(size))]
				}
				if rng.IntN(4) == 0 {
					q.To = times[1+rng.IntN(int(size))]
				}
				if rng.IntN(3) == 0 {
					q.After = uint64(rng.IntN(int(size)))
				}
				q.Limit = pick0(rng, 0, 1, 3, 10, 100, MaxHistoryPage)
				label := fmt.Sprintf("query %d %+v", i, q)

				// One page, and its cursor.
				want, wantNext, err := p.History(f.ctx, q)
				if err != nil {
					t.Fatalf("%s: History: %v", label, err)
				}
				got, gotNext, err := ReplayPage(f.ctx, f.log, q)
				if err != nil {
					t.Fatalf("%s: ReplayPage: %v", label, err)
				}
				if gotNext != wantNext || !sameRows(got, want) {
					t.Fatalf("%s:\nReplayPage %d rows, next %d: %v\nHistory    %d rows, next %d: %v", label, len(got), gotNext, got, len(want), wantNext, want)
				}

				// Every page, against one stream.
				all := want
				for next := wantNext; next != 0; {
					qq := q
					qq.After = next
					var page []Access
					if page, next, err = p.History(f.ctx, qq); err != nil {
						t.Fatal(err)
					}
					all = append(all, page...)
				}
				var streamed []Access
				err = Replay(f.ctx, f.log, q, func(rows []Access) error {
					if len(rows) == 0 || rows[0].Seq != rows[len(rows)-1].Seq {
						t.Fatalf("%s: one call holds the rows of several events: %v", label, rows)
					}
					streamed = append(streamed, rows...)
					return nil
				})
				if err != nil || !sameRows(streamed, all) {
					t.Fatalf("%s: Replay %d rows (%v), History %d rows", label, len(streamed), err, len(all))
				}
			}
		})
	}
}

func pick0(rng *rand.Rand, opts ...int) int { return opts[rng.IntN(len(opts))] }

func sameRows(a, b []Access) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestReplayRefuses(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.append(f.event(&events.SecretRead{Meta: events.Meta{Actor: alice}, Path: "a", Version: 1, Outcome: events.OutcomeOK}))
	if _, _, err := ReplayPage(f.ctx, f.log, HistoryQuery{Limit: MaxHistoryPage + 1}); err == nil {
		t.Fatal("ReplayPage took a limit above MaxHistoryPage")
	}
	stop := errors.New("stop")
	if err := Replay(f.ctx, f.log, HistoryQuery{}, func([]Access) error { return stop }); !errors.Is(err, stop) {
		t.Fatalf("Replay did not return fn's error: %v", err)
	}
	if err := f.log.Lock(f.ctx); err != nil {
		t.Fatal(err)
	}
	if err := Replay(f.ctx, f.log, HistoryQuery{}, func([]Access) error { return nil }); !errors.Is(err, eventlog.ErrSealed) {
		t.Fatalf("Replay of a sealed log: %v, want ErrSealed", err)
	}
}

// BenchmarkReplay replays the access history of a log of realistic
// events (mostly reads) from start to end with no filter: every event
// decrypted, decoded and turned into its row, from a copy opened
// read-only. SPIKE_BENCH_EVENTS sets the log's size (default 200,000).
func BenchmarkReplay(b *testing.B) {
	n := 200_000
	if s := os.Getenv("SPIKE_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	f := newFixture(b)
	realistic(f, n)
	// Replay reads a backup: the file closed, opened read-only.
	if err := f.log.Close(); err != nil {
		b.Fatal(err)
	}
	log, err := eventlog.OpenReadOnly(f.ctx, filepath.Join(f.dir, "events.db"), eventlog.Options{Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	if err := log.Unlock(f.ctx, f.root); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	rows := 0
	for b.Loop() {
		rows = 0
		err := Replay(f.ctx, log, HistoryQuery{}, func(r []Access) error {
			rows += len(r)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if rows != n {
		b.Fatalf("replayed %d rows, want %d", rows, n)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
