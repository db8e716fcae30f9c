package projections

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
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
