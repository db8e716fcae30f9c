package projections

import (
	"slices"
	"sync"
	"testing"
	"time"
)

type countingObserver struct {
	mu      sync.Mutex
	applied int
	queries map[string]int
	rebuilt []uint64
}

func (o *countingObserver) Applied(events int, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.applied += events
}

func (o *countingObserver) Queried(query string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.queries == nil {
		o.queries = map[string]int{}
	}
	o.queries[query]++
}

func (o *countingObserver) Rebuilt(events uint64, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rebuilt = append(o.rebuilt, events)
}

func TestObserverSeesAppliesQueriesAndRebuilds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		disk bool
	}{
		{"memory", false},
		{"disk", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.append(f.written(alice, "a", 1, map[string]string{"k": "v"}))
			path := ""
			if tc.disk {
				path = f.dir + "/projections.db"
			}
			o := &countingObserver{}
			opts := f.opts(path)
			opts.Observer = o
			p, err := Open(f.ctx, f.log, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Close() })
			if err := p.Apply(f.ctx, f.append(f.written(alice, "b", 1, map[string]string{"k": "v"}))); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Secret(f.ctx, "b", 0); err != nil {
				t.Fatal(err)
			}
			p.Secret(f.ctx, "missing", 0) // a failed read is timed too
			if _, err := p.Paths(f.ctx); err != nil {
				t.Fatal(err)
			}
			o.mu.Lock()
			defer o.mu.Unlock()
			// A new file is built from the log whether on disk or in
			// memory: one rebuild of the one event there was.
			if len(o.rebuilt) != 1 || o.rebuilt[0] != 1 {
				t.Errorf("rebuilds %v, want one of 1 event", o.rebuilt)
			}
			if o.applied != 1 {
				t.Errorf("applied %d events through Apply, want 1", o.applied)
			}
			if o.queries["secret"] != 2 || o.queries["paths"] != 1 {
				t.Errorf("queries %v, want secret 2, paths 1", o.queries)
			}
			for q := range o.queries {
				if !slices.Contains(Queries, q) {
					t.Errorf("query %q is not in Queries", q)
				}
			}
		})
	}
}
