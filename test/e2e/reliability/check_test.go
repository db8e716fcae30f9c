//go:build linux

package reliability

// The check role: it reads the load's journal and asks Nexus, as the
// superuser, whether everything acknowledged is there. An operation of
// unknown outcome may or may not have taken effect; the checks allow
// either. What it finds goes to standard output as a report; a problem
// is a loss.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// report is what the check role found.
type report struct {
	Paths     int `json:"paths"`
	Versions  int `json:"versions"`  // versions read back
	Reads     int `json:"reads"`     // acknowledged gets matched with secret.read events
	Events    int `json:"events"`    // secret.read events counted
	Decrypted int `json:"decrypted"` // acknowledged encrypts decrypted
	Policies  int `json:"policies"`
	// Uncertain counts versions whose deleted states were not compared
	// because a delete or undelete of unknown outcome was their last.
	Uncertain int `json:"uncertain"`
	// VerifierKey is the checkpoint verifier key Nexus reports, for the
	// offline verification that follows.
	VerifierKey string   `json:"verifierKey"`
	Problems    []string `json:"problems"`
}

// pathModel is what the journal says about one path, in the order its
// worker did things.
type pathModel struct {
	acked     map[int]string  // version → value of acknowledged puts
	last      int             // highest acknowledged version
	unknown   map[string]bool // values of puts of unknown outcome
	gets      []entry         // acknowledged gets
	deleted   map[int]bool    // deleted state after the acknowledged deletes and undeletes
	uncertain map[int]bool    // versions whose last delete or undelete had an unknown outcome
	problems  []string
}

// policyModel is what the journal says about one worker's policy: the
// state after the last acknowledged change ("" for none, or deleted) and
// the states changes of unknown outcome after it may have left.
type policyModel struct {
	name     string
	last     string
	possible []string
}

// journal is the load's journal, read into models.
type journal struct {
	paths    map[string]*pathModel
	policies map[string]*policyModel
	encrypts []entry
}

func readJournal(path string) (*journal, error) {
	j := &journal{paths: map[string]*pathModel{}, policies: map[string]*policyModel{}}
	if err := loadkit.ReadLines(path, j.add); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *journal) path(p string) *pathModel {
	m := j.paths[p]
	if m == nil {
		m = &pathModel{acked: map[int]string{}, unknown: map[string]bool{}, deleted: map[int]bool{}, uncertain: map[int]bool{}}
		j.paths[p] = m
	}
	return m
}

func (j *journal) add(e entry) {
	ok := e.Outcome == acked
	switch e.Op {
	case opPut:
		m := j.path(e.Path)
		switch {
		case !ok:
			m.unknown[e.Value] = true
		case m.acked[e.Version] != "":
			m.problems = append(m.problems, fmt.Sprintf("%s: version %d acknowledged to two puts", e.Path, e.Version))
		case e.Version <= m.last:
			m.problems = append(m.problems, fmt.Sprintf("%s: put acknowledged version %d after version %d", e.Path, e.Version, m.last))
		default:
			m.acked[e.Version], m.last = e.Value, e.Version
		}
	case opGet:
		if ok {
			m := j.path(e.Path)
			m.gets = append(m.gets, e)
		}
	case opDelete, opUndelete:
		m := j.path(e.Path)
		for _, v := range e.Versions {
			m.deleted[v], m.uncertain[v] = e.Op == opDelete, !ok
		}
	case opEncrypt:
		if ok {
			j.encrypts = append(j.encrypts, e)
		}
	case opPolicyPut, opPolicyDelete:
		pm := j.policies[e.Path]
		if pm == nil {
			pm = &policyModel{name: e.Path}
			j.policies[e.Path] = pm
		}
		state := e.Pattern // "" for a delete
		if ok {
			pm.last, pm.possible = state, nil
		} else {
			pm.possible = append(pm.possible, state)
		}
	}
}

// checkRole runs every check against the journal and prints the report.
func checkRole(ctx context.Context) error {
	j, err := readJournal(os.Getenv(journalEnv))
	if err != nil {
		return err
	}
	c, err := sdk.New(ctx, sdk.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return fmt.Errorf("sdk.New: %w", err)
	}
	defer c.Close()
	ch := &checker{c: c}
	paths := make([]string, 0, len(j.paths))
	for p := range j.paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ch.parallel(len(paths), func(i int) error { return ch.path(ctx, paths[i], j.paths[paths[i]]) })
	ch.parallel(len(j.encrypts), func(i int) error { return ch.decrypt(ctx, j.encrypts[i]) })
	for _, pm := range j.policies {
		ch.fail(ch.policy(ctx, pm))
	}
	cp, err := loadkit.Checkpoint(ctx, c)
	if err != nil {
		return err
	}
	ch.rep.Paths, ch.rep.VerifierKey = len(paths), cp.VerifierKey
	if ch.rep.Problems == nil {
		ch.rep.Problems = []string{}
	}
	return json.NewEncoder(os.Stdout).Encode(ch.rep)
}

// checker runs checks on a few goroutines and collects what they find.
type checker struct {
	c  *sdk.Client
	mu sync.Mutex
	// rep's counters and problems are guarded by mu.
	rep report
}

const checkers = 8

// parallel runs f(0) … f(n-1) on a few goroutines; an error is a
// problem.
func (ch *checker) parallel(n int, f func(i int) error) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range checkers {
		wg.Go(func() {
			for i := range next {
				ch.fail(f(i))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

func (ch *checker) fail(err error) {
	if err == nil {
		return
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	ch.rep.Problems = append(ch.rep.Problems, err.Error())
}

func (ch *checker) count(f func(r *report)) {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	f(&ch.rep)
}

// path checks one path: the secret.read events of the acknowledged gets
// (counted first, before the check's own reads add more); versions 1 to
// n with nothing skipped, every acknowledged put among them and the
// others puts of unknown outcome; the deleted states the acknowledged
// deletes and undeletes left; and, with everything undeleted, each
// version's value and each acknowledged get's.
func (ch *checker) path(ctx context.Context, p string, m *pathModel) error {
	var errs []error
	for _, s := range m.problems {
		errs = append(errs, errors.New(s))
	}
	if err := ch.reads(ctx, p, m); err != nil {
		errs = append(errs, err)
	}
	meta, err := ch.c.SecretMetadata(ctx, p, sdk.IncludeDeleted())
	if errors.Is(err, sdk.ErrNotFound) && len(m.acked) == 0 {
		return errors.Join(errs...) // only puts of unknown outcome, none applied
	}
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: metadata: %w", p, err))...)
	}
	var deleted []int
	for i, info := range meta.Versions {
		if info.Version != i+1 {
			return errors.Join(append(errs, fmt.Errorf("%s: versions %v: want 1 to %d, none skipped or repeated", p, loadkit.VersionList(meta.Versions), len(meta.Versions)))...)
		}
		if info.Destroyed {
			errs = append(errs, fmt.Errorf("%s: version %d is destroyed", p, info.Version))
		}
		isDeleted := info.DeletedTime != nil
		if isDeleted {
			deleted = append(deleted, info.Version)
		}
		if !m.uncertain[info.Version] && isDeleted != m.deleted[info.Version] {
			errs = append(errs, fmt.Errorf("%s: version %d deleted %v, but the acknowledged deletes and undeletes leave it deleted %v", p, info.Version, isDeleted, m.deleted[info.Version]))
		}
	}
	n := len(meta.Versions)
	if n < len(m.acked) || n > len(m.acked)+len(m.unknown) {
		errs = append(errs, fmt.Errorf("%s: %d versions after %d acknowledged puts and %d of unknown outcome", p, n, len(m.acked), len(m.unknown)))
	}
	if m.last > n {
		errs = append(errs, fmt.Errorf("%s: version %d was acknowledged, but the path has only %d", p, m.last, n))
	}
	if err := inBatches(deleted, func(vs []int) error { _, err := ch.c.UndeleteVersions(ctx, p, vs...); return err }); err != nil {
		return errors.Join(append(errs, fmt.Errorf("%s: undelete to read back: %w", p, err))...)
	}
	values := map[int]string{}
	used := map[string]int{}
	for v := 1; v <= n; v++ {
		s, err := ch.c.GetSecret(ctx, p, v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: version %d: %w", p, v, err))
			continue
		}
		got := s.Data["v"]
		values[v] = got
		if w, ok := m.acked[v]; ok && got != w {
			errs = append(errs, fmt.Errorf("%s: version %d holds %q, acknowledged as %q", p, v, got, w))
		} else if !ok && !m.unknown[got] {
			errs = append(errs, fmt.Errorf("%s: version %d holds %q, which no put of unknown outcome wrote", p, v, got))
		}
		if u, dup := used[got]; dup {
			errs = append(errs, fmt.Errorf("%s: versions %d and %d hold the same put's value %q", p, u, v, got))
		}
		used[got] = v
	}
	// Deleted again, the path is as the load left it, and a second check
	// finds what the first did.
	if err := inBatches(deleted, func(vs []int) error { _, err := ch.c.DeleteVersions(ctx, p, vs...); return err }); err != nil {
		errs = append(errs, fmt.Errorf("%s: delete again after reading back: %w", p, err))
	}
	for _, g := range m.gets {
		if values[g.Version] != g.Value {
			errs = append(errs, fmt.Errorf("%s: an acknowledged get read %q as version %d, which holds %q", p, g.Value, g.Version, values[g.Version]))
		}
	}
	ch.count(func(r *report) {
		r.Versions += n
		for _, u := range m.uncertain {
			if u {
				r.Uncertain++
			}
		}
	})
	return errors.Join(errs...)
}

// reads checks that every acknowledged get of p left a secret.read event
// with outcome ok, version by version.
func (ch *checker) reads(ctx context.Context, p string, m *pathModel) error {
	want := map[int]int{}
	for _, g := range m.gets {
		want[g.Version]++
	}
	got := map[int]int{}
	events := 0
	q := sdk.AuditQuery{Path: p, Types: []string{"secret.read"}, Outcomes: []string{"ok"}, Page: api.Page{Limit: 1000}}
	for {
		evs, next, err := ch.c.AuditEvents(ctx, q)
		if err != nil {
			return fmt.Errorf("%s: audit events: %w", p, err)
		}
		for _, ev := range evs {
			events++
			for _, v := range ev.Versions {
				got[v]++
			}
		}
		if next == 0 {
			break
		}
		q.After = next
	}
	var errs []error
	for v, n := range want {
		if got[v] < n {
			errs = append(errs, fmt.Errorf("%s: %d acknowledged reads of version %d, %d secret.read events", p, n, v, got[v]))
		}
	}
	ch.count(func(r *report) { r.Reads += len(m.gets); r.Events += events })
	return errors.Join(errs...)
}

// decrypt checks that an acknowledged encrypt decrypts to its plaintext.
func (ch *checker) decrypt(ctx context.Context, e entry) error {
	if e.Envelope == nil {
		return errors.New("journal: an encrypt without its envelope")
	}
	got, err := ch.c.Decrypt(ctx, *e.Envelope)
	if err != nil {
		return fmt.Errorf("decrypt of %q's envelope: %w", e.Value, err)
	}
	if string(got) != e.Value {
		return fmt.Errorf("an envelope of %q decrypts to %q", e.Value, got)
	}
	ch.count(func(r *report) { r.Decrypted++ })
	return nil
}

// policy checks that a worker's policy is as its last acknowledged change
// left it, or as a later change of unknown outcome did.
func (ch *checker) policy(ctx context.Context, pm *policyModel) error {
	state := ""
	pol, err := ch.c.GetPolicy(ctx, pm.name)
	switch {
	case err == nil:
		state = pol.PathPattern
	case !errors.Is(err, sdk.ErrNotFound):
		return fmt.Errorf("policy %s: %w", pm.name, err)
	}
	ch.count(func(r *report) { r.Policies++ })
	if state == pm.last || slices.Contains(pm.possible, state) {
		return nil
	}
	return fmt.Errorf("policy %s: path pattern %q, acknowledged as %q (or, of unknown outcome, %q)", pm.name, state, pm.last, pm.possible)
}

// inBatches calls f with vs in batches as long as a request may list.
func inBatches(vs []int, f func([]int) error) error {
	for len(vs) > 0 {
		batch := vs[:min(len(vs), api.MaxVersionsListed)]
		vs = vs[len(batch):]
		if err := f(batch); err != nil {
			return err
		}
	}
	return nil
}
