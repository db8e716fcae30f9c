//go:build linux

package reliability

// The load role: workers SDK clients, each on paths of its own, running
// a mixed sequence of operations until standard input closes. Each
// operation ends one of three ways: acknowledged (the call returned
// success), failed (Nexus refused it, or it was never sent) or unknown
// (it may have been applied: the connection broke after the request
// left). Acknowledged and unknown operations go into the journal, which
// is written once, at the end, and synced; the summary goes to standard
// output as JSON. Test values only: nothing secret is printed.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// The load role's settings, from the parent.
const (
	workersEnv = "SPIKE_E2E_RELIABILITY_WORKERS" // how many clients
	pathsEnv   = "SPIKE_E2E_RELIABILITY_PATHS"   // paths per client
	journalEnv = "SPIKE_E2E_RELIABILITY_JOURNAL" // where to write the journal; "" for none
	keepEnv    = "SPIKE_E2E_RELIABILITY_KEEP"    // "1": keep every version (no pruning), so all can be checked
)

// keepVersions is the retention the crash loop sets on its paths: more
// versions than any run writes, so that none is pruned.
const keepVersions = 1_000_000

// The outcomes of an operation.
const (
	acked   = "ok"
	unknown = "unknown"
	failed  = "failed"
)

// The operations, as the journal and the summary name them.
const (
	opPut          = "put"
	opGet          = "get"
	opDelete       = "delete"
	opUndelete     = "undelete"
	opEncrypt      = "encrypt"
	opDecrypt      = "decrypt"
	opPolicyPut    = "policy-put"
	opPolicyDelete = "policy-delete"
)

// entry is one journaled operation.
type entry struct {
	Worker  int    `json:"w"`
	Op      string `json:"op"`
	Outcome string `json:"outcome"` // acked or unknown
	Path    string `json:"path,omitempty"`
	// Version is the version a put wrote or a get read.
	Version int `json:"version,omitempty"`
	// Versions are the versions a delete or undelete named: after it,
	// acknowledged, they are deleted or not, whatever they were before.
	Versions []int `json:"versions,omitempty"`
	// Value is what a put wrote or a get read, or an encrypt's plaintext.
	Value    string              `json:"value,omitempty"`
	Envelope *api.CipherEnvelope `json:"envelope,omitempty"`
	// Pattern is the path pattern a policy put set.
	Pattern string `json:"pattern,omitempty"`
}

// summary is what the load role reports.
type summary struct {
	Acked   map[string]int `json:"acked"`
	Unknown map[string]int `json:"unknown"`
	Failed  map[string]int `json:"failed"`
	// Mismatches counts decrypts that did not give the plaintext back and
	// gets that read another version than the put just acknowledged.
	Mismatches int `json:"mismatches"`
	// Errors are the first few failures and unknown outcomes, for the log.
	Errors []string `json:"errors,omitempty"`
	Took   string   `json:"took"`
}

// total is the number of operations of all kinds in m.
func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// tally collects the workers' outcomes.
type tally struct {
	mu         sync.Mutex
	s          summary
	mismatches atomic.Int64
}

const maxErrors = 20

func (t *tally) add(op, outcome string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch outcome {
	case acked:
		t.s.Acked[op]++
	case unknown:
		t.s.Unknown[op]++
	default:
		t.s.Failed[op]++
	}
	if err != nil {
		t.noteLocked(outcome, err)
	}
}

// note keeps err among the first few errors.
func (t *tally) note(what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.noteLocked(what, err)
}

func (t *tally) noteLocked(what string, err error) {
	if len(t.s.Errors) < maxErrors {
		t.s.Errors = append(t.s.Errors, what+": "+err.Error())
	}
}

// classify tells what a call's error says about whether it took effect.
func classify(err error) string {
	if err == nil {
		return acked
	}
	if errors.Is(err, sdk.ErrBadAnswer) {
		return unknown // Nexus answered 200, but not legibly
	}
	var se *sdk.Error
	if errors.As(err, &se) && se.Status != 0 {
		// Nexus answered a refusal: nothing was done. A 500 may come
		// after a change was made, so it is not taken as a refusal.
		if se.Status < http.StatusInternalServerError || se.Status == http.StatusServiceUnavailable {
			return failed
		}
		return unknown
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, sdk.ErrBadRequest) {
		return failed // nothing was sent
	}
	return unknown
}

// loadRole runs the workers until standard input closes.
func loadRole(ctx context.Context) error {
	workers, err := loadkit.IntEnv(workersEnv, 8, 1)
	if err != nil {
		return err
	}
	paths, err := loadkit.IntEnv(pathsEnv, 8, 1)
	if err != nil {
		return err
	}
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	begin := time.Now()
	t := &tally{s: summary{Acked: map[string]int{}, Unknown: map[string]int{}, Failed: map[string]int{}}}
	journals := make([][]entry, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			w := &worker{id: i + 1, tally: t, stop: &stop, keep: os.Getenv(keepEnv) == "1",
				rng: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(i)))}
			errs[i] = w.run(ctx, paths)
			journals[i] = w.journal
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if path := os.Getenv(journalEnv); path != "" {
		if err := loadkit.WriteLines(path, slices.Concat(journals...)); err != nil {
			return err
		}
	}
	t.s.Mismatches = int(t.mismatches.Load())
	t.s.Took = time.Since(begin).Round(time.Millisecond).String()
	return json.NewEncoder(os.Stdout).Encode(t.s)
}

// worker is one client on paths of its own.
type worker struct {
	id      int
	c       *sdk.Client
	tally   *tally
	stop    *atomic.Bool
	keep    bool
	rng     *rand.Rand
	paths   []string
	n       int // operations started, for unique values
	policy  bool
	journal []entry
}

// workerPath is path i of worker w.
func workerPath(w, i int) string { return fmt.Sprintf("reliability/w%d/p%d", w, i) }

// policyName is worker w's policy.
func policyName(w int) string { return fmt.Sprintf("reliability-w%d", w) }

func (w *worker) run(ctx context.Context, paths int) error {
	// Retries ride out a restart: a refused connection or a sealed Nexus
	// is retried for up to 10 s before the call fails.
	c, err := sdk.New(ctx, sdk.WithRetry(10*time.Second), sdk.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return fmt.Errorf("worker %d: sdk.New: %w", w.id, err)
	}
	defer c.Close()
	w.c = c
	for i := range paths {
		w.paths = append(w.paths, workerPath(w.id, i))
	}
	if w.keep {
		for _, p := range w.paths {
			if err := c.PutSecretSettings(ctx, p, sdk.SetMaxVersions(keepVersions)); err != nil {
				return fmt.Errorf("worker %d: settings of %s: %w", w.id, p, err)
			}
		}
	}
	for !w.stop.Load() {
		w.round(ctx)
	}
	return nil
}

// record counts an operation and journals it unless it failed.
func (w *worker) record(err error, e entry) bool {
	outcome := classify(err)
	w.tally.add(e.Op, outcome, err)
	if outcome != failed {
		e.Worker, e.Outcome = w.id, outcome
		w.journal = append(w.journal, e)
	}
	return outcome == acked
}

// round is one pass of the mix on a random path of the worker's: a put
// and a read of it; a third of the time a delete of that version, half
// of those undone; a cipher round trip; now and then a policy change.
func (w *worker) round(ctx context.Context) {
	path := w.paths[w.rng.IntN(len(w.paths))]
	w.n++
	value := fmt.Sprintf("w%d-n%d", w.id, w.n)
	v, err := w.c.PutSecret(ctx, path, map[string]string{"v": value})
	if !w.record(err, entry{Op: opPut, Path: path, Version: v, Value: value}) {
		return
	}
	s, err := w.c.GetSecret(ctx, path, 0)
	if err == nil {
		w.record(nil, entry{Op: opGet, Path: path, Version: s.Version, Value: s.Data["v"]})
		if s.Version != v || s.Data["v"] != value {
			w.mismatch(fmt.Errorf("get %s after the put of version %d: read version %d", path, v, s.Version))
		}
	} else {
		w.record(err, entry{Op: opGet, Path: path})
	}
	if w.rng.IntN(3) == 0 {
		_, err := w.c.DeleteVersions(ctx, path, v)
		if w.record(err, entry{Op: opDelete, Path: path, Versions: []int{v}}) && w.rng.IntN(2) == 0 {
			_, err := w.c.UndeleteVersions(ctx, path, v)
			w.record(err, entry{Op: opUndelete, Path: path, Versions: []int{v}})
		}
	}
	plain := fmt.Sprintf("plain-w%d-n%d", w.id, w.n)
	env, err := w.c.Encrypt(ctx, []byte(plain))
	if w.record(err, entry{Op: opEncrypt, Value: plain, Envelope: &env}) {
		got, err := w.c.Decrypt(ctx, env)
		if w.record(err, entry{Op: opDecrypt}) && string(got) != plain {
			w.mismatch(errors.New("decrypt did not give the plaintext back"))
		}
	}
	if w.rng.IntN(16) == 0 {
		w.policyChange(ctx)
	}
}

// policyChange creates or replaces the worker's policy with a new path
// pattern, or deletes it.
func (w *worker) policyChange(ctx context.Context) {
	name := policyName(w.id)
	if w.policy && w.rng.IntN(3) == 0 {
		err := w.c.DeletePolicy(ctx, name)
		if w.record(err, entry{Op: opPolicyDelete, Path: name}) || errors.Is(err, sdk.ErrNotFound) {
			w.policy = false
		}
		return
	}
	pattern := fmt.Sprintf("^reliability/w%d/gen%d/.*$", w.id, w.n)
	err := w.c.PutPolicy(ctx, sdk.Policy{Name: name, SPIFFEIDPattern: fmt.Sprintf(`^spiffe://spike\.test/workload/reliability-w%d$`, w.id),
		PathPattern: pattern, Permissions: []api.Permission{api.PermRead}})
	if w.record(err, entry{Op: opPolicyPut, Path: name, Pattern: pattern}) {
		w.policy = true
	}
}

func (w *worker) mismatch(err error) {
	w.tally.mismatches.Add(1)
	w.tally.note("mismatch", err)
}
