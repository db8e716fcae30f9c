package projections

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// TestAsOfScopeMatchesWhole: an as-of view of a scope, replayed from the
// events its paths' history names, reads for every path of the scope
// exactly as the view of the whole log does.
func TestAsOfScopeMatchesWhole(t *testing.T) {
	t.Parallel()
	scopes := []Scope{{Prefix: "app/"}, {Prefix: "web/b"}, {Prefix: "w"}, {Paths: []string{"x", "ops/root"}}, {Paths: []string{"never/written"}}}
	for _, seed := range []uint64{1, 2, 0xC0FFEE} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Millisecond)
			f := newFixtureWith(t, eventlog.Options{Now: clock.Now})
			g := newGen(t, f, seed)
			g.run(300 + g.rng.IntN(301))
			live := f.open("")
			end := f.log.Size()
			seqs := []uint64{1, end}
			for range 6 {
				seqs = append(seqs, 1+g.rng.Uint64N(end))
			}
			for _, s := range seqs {
				whole := g.buildAsOf(t, AsOf{Seq: s})
				for _, sc := range scopes {
					part, err := BuildAsOfScope(f.ctx, live, s, sc, Options{Memory: true, Key: f.key})
					if err != nil {
						t.Fatalf("BuildAsOfScope(%d, %+v): %v", s, sc, err)
					}
					compareScope(t, g, whole, part, s, sc)
					part.Close()
				}
			}
		})
	}
}

func compareScope(t *testing.T, g *gen, whole, part *Projection, s uint64, sc Scope) {
	t.Helper()
	ctx := g.f.ctx
	all, err := whole.Paths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(all, func(p string) bool { return !sc.Has(p) })
	got, err := part.PathsIn(ctx, sc)
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("as of %d, %+v: paths %q, %v; want %q", s, sc, got, err, want)
	}
	for _, path := range append(slices.Clone(genPaths), "never/written") {
		if !sc.Has(path) {
			continue
		}
		wm, werr := whole.Metadata(ctx, path)
		pm, perr := part.Metadata(ctx, path)
		if !errors.Is(perr, errors.Unwrap(werr)) && (werr != nil || perr != nil) {
			t.Errorf("as of %d: metadata %q: %v, want %v", s, path, perr, werr)
		}
		if werr == nil && (pm.CurrentVersion != wm.CurrentVersion || pm.OldestVersion != wm.OldestVersion || fmtVersions(pm.Versions) != fmtVersions(wm.Versions)) {
			t.Errorf("as of %d: metadata %q = %+v, want %+v", s, path, pm, wm)
		}
		wf, _ := whole.VersionFloor(ctx, path)
		if pf, err := part.VersionFloor(ctx, path); err != nil || pf != wf {
			t.Errorf("as of %d: version floor %q = %d, %v; want %d", s, path, pf, err, wf)
		}
		for v := 0; v <= g.highest[path]+1; v++ {
			ws, werr := whole.Secret(ctx, path, v)
			ps, perr := part.Secret(ctx, path, v)
			if (werr == nil) != (perr == nil) || werr != nil && errors.Unwrap(werr) != nil && !errors.Is(perr, errors.Unwrap(werr)) {
				t.Errorf("as of %d: Secret(%q, %d) err %v, want %v", s, path, v, perr, werr)
				continue
			}
			if werr == nil && (ps.Version != ws.Version || !maps.Equal(ps.Data, ws.Data)) {
				t.Errorf("as of %d: Secret(%q, %d) = v%d, want v%d", s, path, v, ps.Version, ws.Version)
			}
		}
	}
}

// TestChangesCrossEpochs: the changes to a scope's paths are found epoch
// by epoch, so they must be found in every epoch, past empty ones, and
// only changes (not reads) of paths in scope, up to or after a seq.
func TestChangesCrossEpochs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open("")
	kinds := []string{"secret.read", "secret.read", "secret.read", (*events.SecretVersionWritten)(nil).Type(), (*events.SecretVersionsDeleted)(nil).Type()}
	all := spreadHistory(t, f, p, 600, []string{"a", "b/1", "b/2", "c"}, []string{alice}, kinds)
	isChange := func(r spreadRow) bool { return r.kind != "secret.read" }
	end := all[len(all)-1].seq
	for _, sc := range []Scope{{Prefix: "b/"}, {Paths: []string{"a", "c"}}, {Paths: []string{"c"}}, {Paths: []string{"never"}}} {
		for _, at := range []uint64{0, all[0].seq, all[299].seq, all[300].seq - 1, end} {
			var want []uint64
			for _, r := range all {
				if r.seq <= at && isChange(r) && sc.Has(r.target) {
					want = append(want, r.seq)
				}
			}
			got, err := p.changeSeqs(f.ctx, sc, at)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("changeSeqs(%+v, %d) = %d seqs, %v; want %d", sc, at, len(got), err, len(want))
			}
			path, seq, ok, err := p.ChangedSince(f.ctx, sc, at)
			var first *spreadRow
			for i, r := range all {
				if r.seq > at && isChange(r) && sc.Has(r.target) {
					first = &all[i]
					break
				}
			}
			if err != nil || ok != (first != nil) || first != nil && (path != first.target || seq != first.seq) {
				t.Fatalf("ChangedSince(%+v, %d) = %q, %d, %v, %v; want %+v", sc, at, path, seq, ok, err, first)
			}
		}
	}
}

// TestChangeQueriesSeekByPath: the changes to a scope up to a seq are
// read through the index by epoch and path, a seek per path in scope and
// epoch, never through another index or by reading every row of an
// epoch; the changes since a seq, through the index by type from there.
func TestChangeQueriesSeekByPath(t *testing.T) {
	t.Parallel()
	f, p, _ := historyLog(t, 400)
	for _, sc := range []Scope{{Prefix: "few/"}, {Paths: []string{"fewer", "many/1"}}, {Paths: []string{"fewer"}}, {}} {
		where, args := sc.where("n.name")
		for _, q := range []struct {
			name   string
			query  string
			args   []any
			driver string
		}{
			{"changeSeqs", changeSeqsQuery(maxEpochsPerRead, where), slices.Concat(manyEpochs(), args, []any{100}), "INDEX access_history_target_epoch (<expr>=? AND target=?"},
			{"changeSeqs", changeSeqsQuery(1, where), slices.Concat([]any{0}, args, []any{100}), "INDEX access_history_target_epoch (<expr>=? AND target=?"},
			{"ChangedSince", changedSinceQuery(where), slices.Concat([]any{10}, args), "INDEX access_history_type (type=? AND rowid>?)"},
		} {
			var reads []string
			for _, l := range queryPlan(t, f, p, q.query, q.args) {
				if strings.Contains(l, " h ") {
					reads = append(reads, l)
				}
			}
			if len(reads) != 1 || !strings.Contains(reads[0], q.driver) {
				t.Errorf("%s %+v reads history with %q", q.name, sc, reads)
			}
		}
	}
}
