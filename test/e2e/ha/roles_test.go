//go:build linux

package ha

// The roles the re-executed test binary plays as the pilot superuser.
//
// load: workers, each with an SDK client of its own pointed at one
// replica (worker w at replica w mod n), each on paths of its own, put a
// new value and read the path back, round after round, until standard
// input closes or each has done SPIKE_E2E_HA_OPS rounds. Every operation
// is journaled with its outcome and wall-clock times; the journal goes to
// SPIKE_E2E_HA_JOURNAL, a summary to standard output. SPIKE_E2E_HA_PROBERS
// more workers do the same without the SDK's retries, trying again 20 ms
// after a failure: they see when the cluster takes writes again, where
// the retrying clients see it only at their next backoff step.
//
// check: reads the journal and asks, through SPIKE_NEXUS_URL, whether
// everything acknowledged is there; the report goes to standard output.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// The roles' settings.
const (
	urlsEnv    = "SPIKE_E2E_HA_URLS"    // replica URLs, comma-separated
	workersEnv = "SPIKE_E2E_HA_WORKERS" // workers in all
	pathsEnv   = "SPIKE_E2E_HA_PATHS"   // paths per worker
	opsEnv     = "SPIKE_E2E_HA_OPS"     // rounds per worker; 0: until stdin closes
	retryEnv   = "SPIKE_E2E_HA_RETRY"   // the SDK's retry wait
	journalEnv = "SPIKE_E2E_HA_JOURNAL" // the journal file
	probersEnv = "SPIKE_E2E_HA_PROBERS" // workers without retries, besides
)

// proberPause is how long a prober waits after a failed round.
const proberPause = 20 * time.Millisecond

// roleWait bounds a role.
const roleWait = 20 * time.Minute

func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), roleWait)
	defer cancel()
	return loadkit.RunRole(ctx, "ha", role, map[string]func(context.Context) error{"load": loadRole, "check": checkRole})
}

func workerPath(w, i int) string { return fmt.Sprintf("ha/w%d/p%d", w, i) }

// worker is one client of the load.
type worker struct {
	id, replica int
	probe       bool
	c           *sdk.Client
	paths       int
	journal     []entry
	last        map[string]entry // last acknowledged put per path
	sum         *tally
}

// tally is the load's summary, shared by its workers.
type tally struct {
	mu sync.Mutex
	s  summary
}

func (t *tally) add(op, outcome, err string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := map[string]map[string]int{acked: t.s.Acked, unknown: t.s.Unknown, failed: t.s.Failed}[outcome]
	m[op]++
	if err != "" && len(t.s.Errors) < 20 {
		t.s.Errors = append(t.s.Errors, op+": "+err)
	}
}

func (t *tally) mismatch(what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.s.Mismatches++
	if len(t.s.Errors) < 20 {
		t.s.Errors = append(t.s.Errors, "mismatch: "+what)
	}
}

func loadRole(ctx context.Context) error {
	urls := strings.Split(os.Getenv(urlsEnv), ",")
	workers, err := loadkit.IntEnv(workersEnv, len(urls), 0)
	if err != nil {
		return err
	}
	paths, err := loadkit.IntEnv(pathsEnv, 8, 0)
	if err != nil {
		return err
	}
	rounds, err := loadkit.IntEnv(opsEnv, 0, 0)
	if err != nil {
		return err
	}
	probers, err := loadkit.IntEnv(probersEnv, 0, 0)
	if err != nil {
		return err
	}
	retry, err := time.ParseDuration(os.Getenv(retryEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", retryEnv, err)
	}
	var stop atomic.Bool
	if rounds == 0 {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop.Store(true)
		}()
	}
	sum := &tally{s: summary{Acked: map[string]int{}, Unknown: map[string]int{}, Failed: map[string]int{}, Errors: []string{}}}
	ws := make([]*worker, workers+probers)
	for i := range ws {
		probe := i >= workers
		wait := retry
		if probe {
			wait = 0
		}
		c, err := sdk.New(ctx, sdk.WithNexusURL(urls[i%len(urls)]), sdk.WithRetry(wait), sdk.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return fmt.Errorf("worker %d: sdk.New: %w", i, err)
		}
		defer c.Close()
		ws[i] = &worker{id: i, replica: i % len(urls), probe: probe, c: c, paths: paths, last: map[string]entry{}, sum: sum}
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			for n := 0; (rounds == 0 && !stop.Load()) || (rounds > 0 && n < rounds); n++ {
				if ctx.Err() != nil {
					return
				}
				if !w.round(ctx, n) && w.probe {
					time.Sleep(proberPause)
				}
			}
		})
	}
	wg.Wait()
	var all []entry
	for _, w := range ws {
		all = append(all, w.journal...)
	}
	if err := loadkit.WriteLines(os.Getenv(journalEnv), all); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(sum.s)
}

// round puts a new value at one of the worker's paths and reads the
// path's current version back: it must be the put's, or a later one of a
// put of unknown outcome — never an older one. It reports whether both
// were acknowledged.
func (w *worker) round(ctx context.Context, n int) bool {
	p := workerPath(w.id, n%w.paths)
	value := fmt.Sprintf("w%d-r%d", w.id, n)
	e := entry{Worker: w.id, Replica: w.replica, Probe: w.probe, Op: opPut, Path: p, Value: value, Start: time.Now().UnixNano()}
	v, err := w.c.PutSecret(ctx, p, map[string]string{"v": value})
	e.End = time.Now().UnixNano()
	if w.record(&e, err, unknown) {
		e.Version = v
		if prev, ok := w.last[p]; ok && v <= prev.Version {
			w.sum.mismatch(fmt.Sprintf("%s: put acknowledged version %d after version %d", p, v, prev.Version))
		}
		w.last[p] = e
	}
	w.journal = append(w.journal, e)

	g := entry{Worker: w.id, Replica: w.replica, Probe: w.probe, Op: opGet, Path: p, Start: time.Now().UnixNano()}
	s, err := w.c.GetSecret(ctx, p, 0)
	g.End = time.Now().UnixNano()
	if w.record(&g, err, failed) {
		g.Version, g.Value = s.Version, s.Data["v"]
		if prev, ok := w.last[p]; ok && (g.Version < prev.Version || g.Version == prev.Version && g.Value != prev.Value) {
			w.sum.mismatch(fmt.Sprintf("%s: read version %d %q after put of version %d %q was acknowledged", p, g.Version, g.Value, prev.Version, prev.Value))
		}
	}
	w.journal = append(w.journal, g)
	return e.Outcome == acked && g.Outcome == acked
}

// record sets e's outcome from err (otherwise, the outcome of an error)
// and counts it; it reports whether the operation was acknowledged.
func (w *worker) record(e *entry, err error, otherwise string) bool {
	e.Outcome = acked
	if err != nil {
		e.Outcome, e.Err = otherwise, err.Error()
	}
	w.sum.add(e.Op, e.Outcome, e.Err)
	return err == nil
}

// report is what the check role found.
type report struct {
	Paths    int `json:"paths"`
	Versions int `json:"versions"` // versions read back
	Reads    int `json:"reads"`    // acknowledged gets
	Events   int `json:"events"`   // their paths' secret.read events with outcome ok
	// VerifierKey is the checkpoint verifier key Nexus reports, for the
	// offline verification.
	VerifierKey string   `json:"verifierKey"`
	Problems    []string `json:"problems"`
}

// pathModel is what the journal says about one path.
type pathModel struct {
	acked   map[int]string  // version → value of acknowledged puts
	unknown map[string]bool // values of puts of unknown outcome
	gets    []entry         // acknowledged gets
	tried   int             // gets tried, whatever their outcome
}

func checkRole(ctx context.Context) error {
	entries, err := readJournal(os.Getenv(journalEnv))
	if err != nil {
		return err
	}
	models := map[string]*pathModel{}
	for _, e := range entries {
		m := models[e.Path]
		if m == nil {
			m = &pathModel{acked: map[int]string{}, unknown: map[string]bool{}}
			models[e.Path] = m
		}
		switch {
		case e.Op == opPut && e.Outcome == acked:
			m.acked[e.Version] = e.Value
		case e.Op == opPut:
			m.unknown[e.Value] = true
		case e.Op == opGet:
			m.tried++
			if e.Outcome == acked {
				m.gets = append(m.gets, e)
			}
		}
	}
	c, err := sdk.New(ctx, sdk.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return fmt.Errorf("sdk.New: %w", err)
	}
	defer c.Close()
	paths := make([]string, 0, len(models))
	for p := range models {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	rep := report{Paths: len(paths), Problems: []string{}}
	for _, p := range paths {
		n, reads, events, errs := checkPath(ctx, c, p, models[p])
		rep.Versions += n
		rep.Reads += reads
		rep.Events += events
		for _, err := range errs {
			rep.Problems = append(rep.Problems, err.Error())
		}
	}
	cp, err := loadkit.Checkpoint(ctx, c)
	if err != nil {
		return err
	}
	rep.VerifierKey = cp.VerifierKey
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// checkPath checks one path: its secret.read events (counted before the
// check's own reads add more) are at least its acknowledged gets and at
// most the gets tried, each tried at most twice (the SDK retries a read
// whose connection broke); its versions run 1 to n with none skipped,
// every acknowledged put among them with its value, the others puts of
// unknown outcome; and every acknowledged get read what its version holds.
func checkPath(ctx context.Context, c *sdk.Client, p string, m *pathModel) (versions, reads, events int, errs []error) {
	events, err := readEvents(ctx, c, p)
	if err != nil {
		return 0, 0, 0, []error{err}
	}
	reads = len(m.gets)
	if events < reads || events > 2*m.tried {
		errs = append(errs, fmt.Errorf("%s: %d secret.read events for %d acknowledged gets of %d tried", p, events, reads, m.tried))
	}
	meta, err := c.SecretMetadata(ctx, p)
	if errors.Is(err, sdk.ErrNotFound) && len(m.acked) == 0 {
		return 0, reads, events, errs // only puts of unknown outcome, none applied
	}
	if err != nil {
		return 0, reads, events, append(errs, fmt.Errorf("%s: metadata: %w", p, err))
	}
	for i, info := range meta.Versions {
		if info.Version != i+1 {
			return 0, reads, events, append(errs, fmt.Errorf("%s: versions %v: want 1 to %d, none skipped or repeated", p, loadkit.VersionList(meta.Versions), len(meta.Versions)))
		}
	}
	n := len(meta.Versions)
	if n < len(m.acked) || n > len(m.acked)+len(m.unknown) {
		errs = append(errs, fmt.Errorf("%s: %d versions after %d acknowledged puts and %d of unknown outcome", p, n, len(m.acked), len(m.unknown)))
	}
	values := map[int]string{}
	for v := 1; v <= n; v++ {
		s, err := c.GetSecret(ctx, p, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: version %d: %w", p, v, err))
			continue
		}
		got := s.Data["v"]
		values[v] = got
		if want, ok := m.acked[v]; ok && got != want {
			errs = append(errs, fmt.Errorf("%s: version %d holds %q, acknowledged as %q", p, v, got, want))
		} else if !ok && !m.unknown[got] {
			errs = append(errs, fmt.Errorf("%s: version %d holds %q, which no put of unknown outcome wrote", p, v, got))
		}
	}
	for v := range m.acked {
		if v > n {
			errs = append(errs, fmt.Errorf("%s: version %d was acknowledged, but the path has only %d", p, v, n))
		}
	}
	for _, g := range m.gets {
		if values[g.Version] != g.Value {
			errs = append(errs, fmt.Errorf("%s: an acknowledged get read %q as version %d, which holds %q", p, g.Value, g.Version, values[g.Version]))
		}
	}
	return n, reads, events, errs
}

// readEvents counts p's secret.read events with outcome ok.
func readEvents(ctx context.Context, c *sdk.Client, p string) (int, error) {
	n := 0
	q := sdk.AuditQuery{Path: p, Types: []string{"secret.read"}, Outcomes: []string{"ok"}, Page: api.Page{Limit: 1000}}
	for {
		evs, next, err := c.AuditEvents(ctx, q)
		if err != nil {
			return 0, fmt.Errorf("%s: audit events: %w", p, err)
		}
		n += len(evs)
		if next == 0 {
			return n, nil
		}
		q.After = next
	}
}
