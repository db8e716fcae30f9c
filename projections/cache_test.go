package projections

import (
	"fmt"
	"sync"
	"testing"

	"github.com/spikeledger/spike/events"
)

// TestCurrentCacheNeverStale writes versions one by one while readers
// hammer the current version: after each Apply returns, the next read
// sees exactly that state, and every read pairs a version with its own
// data.
func TestCurrentCacheNeverStale(t *testing.T) {
	t.Parallel()
	for _, memory := range []bool{false, true} {
		t.Run(fmt.Sprintf("memory=%v", memory), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			dir := ""
			if !memory {
				dir = t.TempDir() + "/p.db"
			}
			p := f.open(dir)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						sv, err := p.Secret(f.ctx, "hot/path", 0)
						if err != nil {
							continue // not written yet, or deleted
						}
						if sv.Data["v"] != fmt.Sprint(sv.Version) {
							errs <- fmt.Errorf("read version %d with data %q", sv.Version, sv.Data["v"])
							return
						}
					}
				})
			}
			for v := 1; v <= 60; v++ {
				recs := f.append(f.written(alice, "hot/path", v, map[string]string{"v": fmt.Sprint(v)}),
					f.event(&events.SecretRead{Meta: events.Meta{Actor: alice}, Path: "hot/path", Version: v, Outcome: events.OutcomeOK}))
				if err := p.Apply(f.ctx, recs); err != nil {
					t.Fatal(err)
				}
				sv, err := p.Secret(f.ctx, "hot/path", 0)
				if err != nil || sv.Version != v {
					t.Fatalf("after writing v%d read %d, %v", v, sv.Version, err)
				}
				if v%10 == 0 {
					// A delete of the current version must not be served from the cache.
					if err := p.Apply(f.ctx, f.append(f.event(&events.SecretVersionsDeleted{Meta: events.Meta{Actor: alice}, Path: "hot/path", Versions: []int{v}}))); err != nil {
						t.Fatal(err)
					}
					if sv, err := p.Secret(f.ctx, "hot/path", 0); err != nil || sv.Version != v-1 {
						t.Fatalf("after deleting v%d read %d, %v; want v%d", v, sv.Version, err, v-1)
					}
					if err := p.Apply(f.ctx, f.append(f.event(&events.SecretVersionsUndeleted{Meta: events.Meta{Actor: alice}, Path: "hot/path", Versions: []int{v}}))); err != nil {
						t.Fatal(err)
					}
				}
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
