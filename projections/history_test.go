package projections

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// historyLog fills a log with reads, denials, writes and restores over
// paths of which more than maxDriverIDs share the prefix "many/", so that
// every kind of plan runs. Times step a millisecond per event. It
// returns, by seq, the paths of each restore that changed several (each
// has a history row of its own, sharing the restore's seq).
func historyLog(t *testing.T, n int) (*fixture, *Projection, map[uint64][]string) {
	t.Helper()
	f := newFixtureWith(t, eventlog.Options{Now: newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Millisecond).Now})
	p := f.open("")
	rng := rand.New(rand.NewPCG(11, 12))
	actors := []string{alice, "spiffe://spike.ist/workload/bob", "spiffe://spike.ist/workload/carol"}
	outcomes := []string{events.OutcomeOK, events.OutcomeNotFound, events.OutcomeError}
	randomPath := func() string {
		switch rng.IntN(3) {
		case 0:
			return fmt.Sprintf("many/%d", rng.IntN(2*maxDriverIDs))
		case 1:
			return fmt.Sprintf("few/%d/x", rng.IntN(3))
		default:
			return "fewer"
		}
	}
	versions := map[string]int{}
	var evs []eventlog.Event
	restores := map[int][]string{} // by index in evs
	for i := range n {
		path := randomPath()
		m := events.Meta{Actor: actors[rng.IntN(len(actors))], RequestID: "r"}
		switch r := rng.IntN(20); {
		case r < 4:
			versions[path]++
			evs = append(evs, f.written(m.Actor, path, versions[path], map[string]string{"k": "v"}))
		case r < 16:
			evs = append(evs, f.event(&events.SecretRead{Meta: m, Path: path, Version: 1, Outcome: outcomes[rng.IntN(len(outcomes))]}))
		case r < 19:
			evs = append(evs, f.event(&events.AccessDenied{Meta: m, Path: path, Action: "read", Reason: "no policy"}))
		default:
			// A restore of up to 12 paths: more than a small page holds.
			changed := map[string]bool{path: true}
			for range rng.IntN(12) {
				changed[randomPath()] = true
			}
			paths := slices.Sorted(maps.Keys(changed))
			e := &events.RestorePointApplied{Meta: m, AsOfSeq: 1, AsOfTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			for _, p := range paths {
				e.Changes = append(e.Changes, events.RestoreChange{Path: p, Written: 1})
			}
			if len(paths) > 1 {
				restores[i] = paths
			}
			evs = append(evs, f.event(e))
		}
	}
	recs := f.append(evs...)
	if err := p.Apply(f.ctx, recs); err != nil {
		t.Fatal(err)
	}
	bySeq := make(map[uint64][]string, len(restores))
	for i, paths := range restores {
		bySeq[recs[i].Seq] = paths
	}
	return f, p, bySeq
}

// TestHistoryFiltersMatchAScan: every combination of filters, paged at
// any size, returns exactly the rows a scan of the whole history would
// keep, in order: with a target filter, a restore of several paths is a
// row per matching path, all with the restore's seq, and no page may
// split them (the cursor is a seq).
func TestHistoryFiltersMatchAScan(t *testing.T) {
	t.Parallel()
	const n = 3000
	f, p, restores := historyLog(t, n)
	all, next, err := p.History(f.ctx, HistoryQuery{Limit: MaxHistoryPage})
	for err == nil && next != 0 {
		var page []Access
		page, next, err = p.History(f.ctx, HistoryQuery{Limit: MaxHistoryPage, After: next})
		all = append(all, page...)
	}
	if err != nil || len(all) != n {
		t.Fatalf("whole history: %d rows, %v", len(all), err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(opts ...string) string { return opts[rng.IntN(len(opts))] }
	queries := 300
	if testing.Short() {
		queries = 60
	}
	for i := range queries {
		var q HistoryQuery
		if rng.IntN(3) == 0 {
			q.Target = pick("fewer", "few/1/x", "many/7", "never/recorded")
		}
		if rng.IntN(3) == 0 {
			q.TargetPrefix = pick("many/", "many/1", "few/", "f", "fewer", "nope/", "many/7")
		}
		if rng.IntN(3) == 0 {
			q.Actor = pick(alice, "spiffe://spike.ist/workload/bob", "spiffe://spike.ist/workload/nobody")
		}
		if rng.IntN(3) == 0 {
			q.Types = []string{pick("secret.read", "access.denied", "secret.version.written", "restore.applied", "no.such")}
			if rng.IntN(2) == 0 {
				q.Types = append(q.Types, pick("secret.read", "access.denied", "secret.version.written", "restore.applied"))
			}
		}
		if rng.IntN(3) == 0 {
			q.Outcomes = []string{pick("ok", "not_found", "denied", "error", "conflict")}
			if rng.IntN(2) == 0 {
				q.Outcomes = append(q.Outcomes, pick("ok", "denied"))
			}
		}
		if rng.IntN(4) == 0 {
			q.From = all[rng.IntN(n)].Time
		}
		if rng.IntN(4) == 0 {
			q.To = all[rng.IntN(n)].Time
		}
		type row struct {
			seq    uint64
			target string
		}
		matchTarget := func(target string) bool {
			return (q.Target == "" || target == q.Target) && strings.HasPrefix(target, q.TargetPrefix)
		}
		var want []row
		for _, a := range all {
			if q.Actor != "" && a.Actor != q.Actor || q.Types != nil && !slices.Contains(q.Types, a.Type) ||
				q.Outcomes != nil && !slices.Contains(q.Outcomes, a.Outcome) ||
				!q.From.IsZero() && a.Time.Before(q.From) || !q.To.IsZero() && !a.Time.Before(q.To) {
				continue
			}
			if paths, ok := restores[a.Seq]; ok && (q.Target != "" || q.TargetPrefix != "") {
				for _, path := range paths {
					if matchTarget(path) {
						want = append(want, row{a.Seq, path})
					}
				}
				continue
			}
			if matchTarget(a.Target) {
				want = append(want, row{a.Seq, a.Target})
			}
		}
		// Small pages cross every kind of cursor; a long answer in
		// small pages would only make the test slow.
		q.Limit = 1 + rng.IntN(40)
		if len(want) > 400 {
			q.Limit = 100 + rng.IntN(400)
		}
		var got []row
		for pages := 0; ; pages++ {
			rows, next, err := p.History(f.ctx, q)
			if err != nil {
				t.Fatalf("query %d %+v: %v", i, q, err)
			}
			// A page holds at most Limit rows, unless they are all one
			// event's; it ends at its cursor.
			oneEvent := len(rows) > 0 && rows[0].Seq == rows[len(rows)-1].Seq
			if len(rows) > q.Limit && !oneEvent || next != 0 && (len(rows) == 0 || rows[len(rows)-1].Seq != next) || pages > n {
				t.Fatalf("query %d %+v: page of %d rows, next %d", i, q, len(rows), next)
			}
			for _, a := range rows {
				got = append(got, row{a.Seq, a.Target})
			}
			if next == 0 {
				break
			}
			q.After = next
		}
		if !slices.Equal(got, want) {
			at := 0
			for at < min(len(got), len(want)) && got[at] == want[at] {
				at++
			}
			t.Fatalf("query %d %+v: %d rows, want %d; from row %d\n got %v\nwant %v",
				i, q, len(got), len(want), at, got[at:min(at+8, len(got))], want[at:min(at+8, len(want))])
		}
	}
}

// TestHistoryPlansUseIndexes: a filtered search is driven by the index of
// its most selective filter and needs no sort, so a page costs a seek
// and a short read (per epoch, by path or caller) however long the
// history is. A search that would read the whole history, or sort it,
// to fill a page fails here, not in production.
func TestHistoryPlansUseIndexes(t *testing.T) {
	t.Parallel()
	f, p, _ := historyLog(t, 400)
	for _, tc := range []struct {
		q      HistoryQuery
		driver string // how every read of access_history uses its index
	}{
		{HistoryQuery{Target: "fewer"}, "access_history_target_epoch (<expr>=? AND target=? AND rowid>?"},
		{HistoryQuery{Target: "fewer", Types: []string{"secret.read"}, Actor: alice}, "access_history_target_epoch (<expr>=? AND target=? AND rowid>?"},
		{HistoryQuery{TargetPrefix: "few/"}, "access_history_target_epoch (<expr>=? AND target=? AND rowid>?"},
		{HistoryQuery{TargetPrefix: "few/", Actor: alice, Outcomes: []string{"ok", "error"}}, "access_history_target_epoch (<expr>=? AND target=? AND rowid>?"},
		{HistoryQuery{Actor: alice}, "access_history_actor_epoch (<expr>=? AND actor=? AND rowid>?"},
		{HistoryQuery{Actor: alice, Types: []string{"secret.read", "access.denied"}}, "access_history_actor_epoch (<expr>=? AND actor=? AND rowid>?"},
		{HistoryQuery{Types: []string{"access.denied"}}, "access_history_type (type=? AND rowid>?"},
		{HistoryQuery{Types: []string{"secret.read", "access.denied"}, From: time.Unix(0, 1)}, "access_history_type (type=? AND rowid>?"},
		{HistoryQuery{Types: []string{"secret.read"}, TargetPrefix: "many/"}, "access_history_type (type=? AND rowid>?"},
		{HistoryQuery{Outcomes: []string{"denied"}}, "access_history_outcome (outcome=? AND rowid>?"},
		{HistoryQuery{Outcomes: []string{"denied", "error"}}, "access_history_outcome (outcome=? AND rowid>?"},
		{HistoryQuery{}, "INTEGER PRIMARY KEY (rowid>?"},
	} {
		plan, ok, err := p.planHistory(f.ctx, tc.q)
		if err != nil || !ok {
			t.Fatalf("%+v: plan %v, %v", tc.q, ok, err)
		}
		// A read names one epoch, a few or as many as it can: SQLite
		// weighs a longer list as costlier, and may then pick another
		// index, and plans a list of one as an equality. And with an
		// upper bound, as a time window or a single event sets.
		for _, epochs := range [][]any{{uint64(0)}, {uint64(0), uint64(1)}, manyEpochs()} {
			for _, hasHi := range []bool{false, true} {
				plan.epochs, plan.hi, plan.hasHi = epochs, 1<<20, hasHi
				checkHistoryPlan(t, f, p, tc.q, plan, tc.driver)
			}
		}
	}
}

// checkHistoryPlan fails t if plan reads access_history other than
// through driver, or sorts.
func checkHistoryPlan(t *testing.T, f *fixture, p *Projection, q HistoryQuery, plan historyPlan, driver string) {
	t.Helper()
	query, args := plan.sql(11)
	lines := queryPlan(t, f, p, query, args)
	where := fmt.Sprintf("%+v, %d epochs, bounded %v", q, len(plan.epochs), plan.hasHi)
	reads := 0
	for _, l := range lines {
		if strings.Contains(l, "TEMP B-TREE") {
			t.Errorf("%s sorts: %s", where, strings.Join(lines, "; "))
		}
		if strings.Contains(l, " h ") && !strings.Contains(l, "(rowid=?)") {
			reads++
			if !strings.Contains(l, driver) {
				t.Errorf("%s reads history with %q, want %q", where, l, driver)
			}
		}
	}
	if reads == 0 {
		t.Errorf("%s: no read of access_history in the plan: %s", where, strings.Join(lines, "; "))
	}
}

// queryPlan returns the lines of SQLite's plan for query.
func queryPlan(t *testing.T, f *fixture, p *Projection, query string, args []any) []string {
	t.Helper()
	rows, err := p.db.QueryContext(f.ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"a", "b", true},
		{"app/", "app0", true},
		{"a\xff", "b", true},
		{"\xff\xff", "", false},
	} {
		got, ok := prefixEnd(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("prefixEnd(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// spreadRow is a history row for the tests that span epochs.
type spreadRow struct {
	seq                 uint64
	target, actor, kind string
}

// spreadHistory inserts n history rows straight into p's database, with
// seqs far apart, so that a few hundred rows span hundreds of epochs (a
// log would need 2^16 events for each), with a run of 50 empty epochs
// half-way and, three quarters of the way, one longer than a read's
// batch of epochs. Each row's target, actor and type is drawn from
// those given.
func spreadHistory(t *testing.T, f *fixture, p *Projection, n int, targets, actors, kinds []string) []spreadRow {
	t.Helper()
	ids := map[string]int64{}
	for _, name := range slices.Concat(targets, actors, kinds, []string{events.OutcomeOK}) {
		var id int64
		if err := p.db.QueryRowContext(f.ctx, "INSERT INTO names (name) VALUES (?) ON CONFLICT (name) DO UPDATE SET name = name RETURNING id", name).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var rows []spreadRow
	seq := uint64(0)
	for i := range n {
		seq += 1 + uint64(rng.IntN(40_000))
		switch i {
		case n / 2:
			seq += 50 << historyEpochBits
		case 3 * n / 4:
			seq += (maxEpochsPerRead + 100) << historyEpochBits
		}
		r := spreadRow{seq, targets[rng.IntN(len(targets))], actors[rng.IntN(len(actors))], kinds[rng.IntN(len(kinds))]}
		if _, err := p.db.ExecContext(f.ctx, `INSERT INTO access_history (seq, time, actor, request_id, type, target, version, outcome, detail, versions)
			VALUES (?, ?, ?, 'r', ?, ?, 1, ?, '', '')`, r.seq, int64(r.seq), ids[r.actor], ids[r.kind], ids[r.target], ids[events.OutcomeOK]); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if historyEpoch(seq) <= maxEpochsPerRead {
		t.Fatalf("the rows span only %d epochs", historyEpoch(seq))
	}
	return rows
}

// TestHistoryCrossesEpochs: searches by path or caller read their index
// an epoch at a time, so their pages must run on across epochs, skip
// empty ones and stop at the history's end.
func TestHistoryCrossesEpochs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open("")
	actors := []string{alice, "spiffe://spike.ist/workload/bob", "spiffe://spike.ist/workload/carol"}
	all := spreadHistory(t, f, p, 600, []string{"a", "b/1", "b/2", "c"}, actors, []string{"secret.read"})
	for _, q := range []HistoryQuery{
		{Target: "a"},
		{TargetPrefix: "b/"},
		{Actor: alice},
		{Target: "c", Actor: actors[1]},
		{TargetPrefix: "b/", Actor: actors[2]},
		{Target: "a", After: all[299].seq},
		{Actor: actors[1], After: all[len(all)-1].seq},
	} {
		matches := func(r spreadRow) bool {
			return (q.Target == "" || r.target == q.Target) && strings.HasPrefix(r.target, q.TargetPrefix) && (q.Actor == "" || r.actor == q.Actor)
		}
		var want []spreadRow
		for _, r := range all {
			if r.seq > q.After && matches(r) {
				want = append(want, r)
			}
		}
		for _, limit := range []int{1, 3, 17, MaxHistoryPage} {
			q := q
			q.Limit = limit
			var got []spreadRow
			for pages := 0; ; pages++ {
				rows, next, err := p.History(f.ctx, q)
				if err != nil || len(rows) > limit || pages > len(all) {
					t.Fatalf("%+v: page of %d rows, %v", q, len(rows), err)
				}
				for _, a := range rows {
					got = append(got, spreadRow{a.Seq, a.Target, a.Actor, a.Type})
				}
				if next == 0 {
					break
				}
				q.After = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%+v: %d rows, want %d", q, len(got), len(want))
			}
		}
		// Bounded above, as a time window is: every row in (lo, hi].
		plan, ok, err := p.planHistory(f.ctx, q)
		if err != nil || !ok {
			t.Fatalf("%+v: plan %v, %v", q, ok, err)
		}
		for _, bounds := range [][2]int{{0, 1}, {10, 450}, {299, 301}, {460, 599}} {
			plan.lo, plan.hi, plan.hasHi = all[bounds[0]].seq, all[bounds[1]].seq, true
			var in []spreadRow
			for _, r := range all {
				if r.seq > plan.lo && r.seq <= plan.hi && matches(r) {
					in = append(in, r)
				}
			}
			rows, err := p.readHistory(f.ctx, plan, len(all))
			var got []spreadRow
			for _, a := range rows {
				got = append(got, spreadRow{a.Seq, a.Target, a.Actor, a.Type})
			}
			if err != nil || !slices.Equal(got, in) {
				t.Fatalf("%+v in (%d, %d]: %d rows, %v; want %d", q, plan.lo, plan.hi, len(got), err, len(in))
			}
		}
	}
}

// TestForEpochs: the epochs of (lo, hi] come once each, ascending, in
// batches of at most maxEpochsPerRead, until the reader has enough.
func TestForEpochs(t *testing.T) {
	t.Parallel()
	const w = 1 << historyEpochBits
	big := uint64(2*maxEpochsPerRead+5) * w
	for _, tc := range []struct {
		name    string
		lo, hi  uint64
		stopAt  int // batches read before the reader has enough (0: never)
		batches []int
		first   uint64
	}{
		{name: "empty", lo: 5, hi: 5},
		{name: "backwards", lo: 9, hi: 5},
		{name: "within one epoch", lo: 0, hi: w - 1, batches: []int{1}},
		{name: "up to an epoch's first seq", lo: w - 1, hi: w, batches: []int{1}, first: 1},
		{name: "from an epoch's last seq", lo: w - 2, hi: 3 * w, batches: []int{4}},
		{name: "many batches", lo: 0, hi: big, batches: []int{maxEpochsPerRead, maxEpochsPerRead, 6}},
		{name: "enough after one", lo: 0, hi: big, stopAt: 1, batches: []int{maxEpochsPerRead}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var sizes []int
			next := tc.first
			err := forEpochs(tc.lo, tc.hi, func(epochs []any) (bool, error) {
				sizes = append(sizes, len(epochs))
				for _, e := range epochs {
					if e.(uint64) != next {
						t.Fatalf("epoch %v, want %d", e, next)
					}
					next++
				}
				return len(sizes) != tc.stopAt, nil
			})
			if err != nil || !slices.Equal(sizes, tc.batches) {
				t.Fatalf("batches %v, %v; want %v", sizes, err, tc.batches)
			}
		})
	}
	want := errors.New("read failed")
	if err := forEpochs(0, big, func([]any) (bool, error) { return true, want }); !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// manyEpochs is the longest list of epochs a read names.
func manyEpochs() []any {
	epochs := make([]any, maxEpochsPerRead)
	for i := range epochs {
		epochs[i] = uint64(i)
	}
	return epochs
}

// TestHistoryEpochExpr: the epoch the queries name is the one the
// indexes by path and by caller are led by, at historyEpochBits.
func TestHistoryEpochExpr(t *testing.T) {
	t.Parallel()
	if want := fmt.Sprintf("(h.seq >> %d)", historyEpochBits); historyEpochExpr != want {
		t.Fatalf("historyEpochExpr = %q, want %q", historyEpochExpr, want)
	}
	f := newFixture(t)
	p := f.open("")
	for _, ix := range []string{"access_history_target_epoch", "access_history_actor_epoch"} {
		var stmt string
		if err := p.db.QueryRowContext(f.ctx, "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", ix).Scan(&stmt); err != nil {
			t.Fatalf("index %s: %v", ix, err)
		}
		if want := fmt.Sprintf("(seq >> %d, ", historyEpochBits); !strings.Contains(stmt, want) {
			t.Errorf("index %s is %q, not led by %q", ix, stmt, want)
		}
	}
}
