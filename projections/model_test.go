package projections

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// This file checks the projection against a model: a few maps that say
// what SPIKE's state is after each event, as projections/apply.go defines
// it. Random workloads are appended to a log while the model follows, and
// as-of projections at random points must answer exactly as the model
// does at that point.

// fakeClock is a clock for eventlog.Options.Now that moves forward by
// step at every reading, so every event gets an instant of its own.
type fakeClock struct {
	ns   atomic.Int64
	step time.Duration
}

func newFakeClock(start time.Time, step time.Duration) *fakeClock {
	c := &fakeClock{step: step}
	c.ns.Store(start.UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Add(int64(c.step))).UTC() }

// newFixtureWith is newFixture with chosen log options (a fake clock).
func newFixtureWith(t testing.TB, opts eventlog.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	l, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	root := bytes.Repeat([]byte{7}, 32)
	if err := l.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	key, err := KeyFromRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, dir: dir, log: l, root: root, key: key, vkey: map[string]eventlog.ValueKeyID{}}
}

// The model. Times are kept as the seq of the event that set them and
// turned into the log's times when compared.

type mVersion struct {
	created   uint64
	deleted   uint64 // 0: not deleted
	destroyed bool
	data      string
}

type mPath struct {
	versions         map[int]*mVersion
	maxVersions      int
	cas              bool
	after            time.Duration
	custom           map[string]string
	created, updated uint64
}

type mPolicy struct {
	spiffe, path     string
	perms            []string
	created, updated uint64
}

type model struct {
	paths    map[string]*mPath
	policies map[string]*mPolicy
	// removed is the highest version of each path a metadata delete
	// removed: a new version of it is numbered above.
	removed map[string]int
}

func newModel() *model {
	return &model{paths: map[string]*mPath{}, policies: map[string]*mPolicy{}, removed: map[string]int{}}
}

func (m *model) clone() *model {
	c := newModel()
	maps.Copy(c.removed, m.removed)
	for name, p := range m.paths {
		cp := *p
		cp.versions = make(map[int]*mVersion, len(p.versions))
		for v, row := range p.versions {
			r := *row
			cp.versions[v] = &r
		}
		cp.custom = maps.Clone(p.custom)
		c.paths[name] = &cp
	}
	for name, p := range m.policies {
		cp := *p
		cp.perms = slices.Clone(p.perms)
		c.policies[name] = &cp
	}
	return c
}

func (p *mPath) sortedVersions() []int {
	return slices.Sorted(maps.Keys(p.versions))
}

// readable is what apply.go's current and oldest versions range over:
// neither deleted nor destroyed. A version whose value key was destroyed
// by a later event still counts: at this point it had not been destroyed.
func (r *mVersion) readable() bool { return r.deleted == 0 && !r.destroyed }

func (p *mPath) current() int {
	best := 0
	for v, r := range p.versions {
		if r.readable() && v > best {
			best = v
		}
	}
	return best
}

func (p *mPath) oldest() int {
	best := 0
	for v, r := range p.versions {
		if r.readable() && (best == 0 || v < best) {
			best = v
		}
	}
	return best
}

// gen appends a random workload to a fixture's log and runs the model
// alongside: snaps[s] is the model after event s.
type gen struct {
	t   testing.TB
	f   *fixture
	rng *rand.Rand
	m   *model
	seq uint64

	snaps []*model
	times []time.Time // times[s] is event s's time; times[0] is unused
	// shredded holds the versions ("path\x00version") whose value key has
	// been destroyed (by destroy or pruning) by the end of the log so far.
	shredded map[string]bool
	// highest is the highest version each path ever had.
	highest map[string]int

	pending     []eventlog.Event
	pendingKeys map[eventlog.ValueKeyID]bool
	batch       int
	// onAppend, if set, sees the records of every append (live applies).
	onAppend func([]eventlog.Record)
}

var (
	genPaths    = []string{"app/db", "app/api", "web/a", "web/b", "ops/root", "x"}
	genPolicies = []string{"admins", "readers", "web", "ops"}
	genPerms    = []string{"read", "write", "list", "super"}
	genActors   = []string{"spiffe://spike.ist/workload/alice", "spiffe://spike.ist/workload/bob", "spiffe://spike.ist/spike/pilot/role/superuser"}
)

func newGen(t testing.TB, f *fixture, seed uint64) *gen {
	return &gen{
		t: t, f: f, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), m: newModel(),
		snaps: []*model{newModel()}, times: []time.Time{{}},
		shredded: map[string]bool{}, highest: map[string]int{},
		pendingKeys: map[eventlog.ValueKeyID]bool{}, batch: 1,
	}
}

// emit queues ev and applies mutate to the model as event seq.
func (g *gen) emit(ev eventlog.Event, mutate func(m *model, seq uint64)) {
	for _, id := range ev.DestroyValueKeys {
		if g.pendingKeys[id] {
			// The log cannot create and destroy a key in one append.
			g.flush()
			break
		}
	}
	g.pending = append(g.pending, ev)
	for _, k := range ev.NewValueKeys {
		g.pendingKeys[k.ID()] = true
	}
	g.seq++
	if mutate != nil {
		mutate(g.m, g.seq)
	}
	g.snaps = append(g.snaps, g.m.clone())
	if len(g.pending) >= g.batch {
		g.flush()
	}
}

// flush appends the queued events in one append.
func (g *gen) flush() {
	if len(g.pending) == 0 {
		return
	}
	recs := g.f.append(g.pending...)
	for _, r := range recs {
		if r.Seq != uint64(len(g.times)) {
			g.t.Fatalf("append returned seq %d, model expects %d", r.Seq, len(g.times))
		}
		g.times = append(g.times, r.Time)
	}
	if g.onAppend != nil {
		g.onAppend(recs)
	}
	g.pending = g.pending[:0]
	clear(g.pendingKeys)
	g.batch = 1 + g.rng.IntN(4)
}

func (g *gen) actor() events.Meta {
	return events.Meta{Actor: genActors[g.rng.IntN(len(genActors))], RequestID: fmt.Sprintf("req-%d", g.rng.IntN(1000))}
}

func (g *gen) path() string { return genPaths[g.rng.IntN(len(genPaths))] }

// someVersions picks one or two versions of path, now and then one it
// does not hold.
func (g *gen) someVersions(path string) []int {
	var vs []int
	if p := g.m.paths[path]; p != nil && len(p.versions) > 0 {
		all := p.sortedVersions()
		for range 1 + g.rng.IntN(2) {
			if v := all[g.rng.IntN(len(all))]; !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
		}
	}
	if len(vs) == 0 || g.rng.IntN(10) == 0 {
		vs = append(vs, g.highest[path]+1+g.rng.IntN(3))
	}
	return vs
}

// run generates n events and appends them all.
func (g *gen) run(n int) {
	g.t.Helper()
	// Some steps emit nothing or several events: count events, not steps.
	for end := g.seq + uint64(n); g.seq < end; {
		switch r := g.rng.IntN(100); {
		case r < 30:
			g.write("")
		case r < 40:
			g.versionsOp(&events.SecretVersionsDeleted{})
		case r < 47:
			g.versionsOp(&events.SecretVersionsUndeleted{})
		case r < 53:
			g.versionsOp(&events.SecretVersionsDestroyed{})
		case r < 60:
			g.metadata()
		case r < 75:
			g.read()
		case r < 80:
			path := g.path()
			g.emit(g.f.event(&events.AccessDenied{Meta: g.actor(), Path: path, Action: "write", Reason: "no policy"}), nil)
		case r < 82:
			g.refused()
		case r < 85:
			g.removePath()
		case r < 87:
			g.restoreRecord(int(end - g.seq))
		case r < 92:
			g.policyPut()
		default:
			name := genPolicies[g.rng.IntN(len(genPolicies))]
			g.emit(g.f.event(&events.PolicyDeleted{Meta: g.actor(), Name: name}), func(m *model, _ uint64) {
				delete(m.policies, name)
			})
		}
	}
	g.flush()
}

// write emits a new version of a random path, as a put (via "") or
// another operation that writes one (patch, rollback, restore), and
// returns the path; writeTo does it for a given path.
func (g *gen) write(via string) string { return g.writeTo(g.path(), via) }

func (g *gen) writeTo(path, via string) string {
	p := g.m.paths[path]
	v := g.m.removed[path] + 1
	var existing []int
	if p != nil {
		existing = p.sortedVersions()
		if len(existing) > 0 {
			v = existing[len(existing)-1] + 1
		}
	}
	if via == "" && g.rng.IntN(5) == 0 {
		via = []string{"patch", "rollback"}[g.rng.IntN(2)]
	}
	from := 0
	if via == "rollback" {
		from = max(1, v-1)
	}
	payloadMax, eff := 0, 0
	if p == nil {
		payloadMax = []int{0, 0, 2, 3, 4, 5}[g.rng.IntN(6)]
		eff = payloadMax
		if eff == 0 {
			eff = DefaultMaxVersions
		}
	} else {
		eff = p.maxVersions
	}
	var pruned []int
	if n := len(existing) + 1 - eff; n > 0 {
		pruned = existing[:n]
	}
	var cas *int
	if p != nil && g.rng.IntN(4) == 0 {
		c := p.current()
		cas = &c
	}
	data := fmt.Sprintf("%s#%d#%d", path, v, g.rng.IntN(1e6))
	ev := g.writtenEvent(&events.SecretVersionWritten{Meta: g.actor(), Path: path, Version: v, MaxVersions: payloadMax, CAS: cas, Pruned: pruned, Via: via, From: from},
		map[string]string{"value": data, "path": path})
	g.highest[path] = max(g.highest[path], v)
	for _, pv := range pruned {
		g.shredded[vk(path, pv)] = true
	}
	g.emit(ev, func(m *model, seq uint64) {
		mp := m.paths[path]
		if mp == nil {
			mp = &mPath{versions: map[int]*mVersion{}, maxVersions: eff, created: seq}
			m.paths[path] = mp
		}
		mp.versions[v] = &mVersion{created: seq, data: data}
		for _, pv := range pruned {
			delete(mp.versions, pv)
		}
		mp.updated = seq
	})
	return path
}

// refused emits a refused write: a record that changes nothing.
func (g *gen) refused() {
	path := g.path()
	outcome, reason := events.OutcomeConflict, "cas_mismatch"
	if g.rng.IntN(2) == 0 {
		outcome, reason = events.OutcomeNotFound, "no_such_version"
	}
	g.emit(g.f.event(&events.RequestRefused{Meta: g.actor(), Path: path, Action: "secret.rollback", Outcome: outcome, Reason: reason,
		Versions: g.someVersions(path)}), nil)
}

// removePath emits a metadata delete of a random path: every version's
// data destroyed, the path gone, its highest version remembered.
func (g *gen) removePath() {
	path := g.path()
	p := g.m.paths[path]
	if p == nil {
		return // Nexus refuses to remove what is not there
	}
	var live []int
	for _, v := range p.sortedVersions() {
		if !p.versions[v].destroyed {
			live = append(live, v)
			g.shredded[vk(path, v)] = true
		}
	}
	last := max(g.highest[path], g.m.removed[path])
	g.emit(g.f.event(&events.SecretMetadataDeleted{Meta: g.actor(), Path: path, Versions: live, LastVersion: last}), func(m *model, _ uint64) {
		delete(m.paths, path)
		m.removed[path] = max(m.removed[path], last)
	})
}

// restoreRecord emits a restore's record followed by what it changed:
// one or two paths written (as a restore writes them) or deleted, at
// most budget events in all.
func (g *gen) restoreRecord(budget int) {
	ev := &events.RestorePointApplied{Meta: g.actor(), AsOfSeq: 1 + uint64(g.rng.IntN(int(g.seq+1))), AsOfTime: time.Unix(1700000000, int64(g.rng.IntN(1e9))).UTC()}
	if g.rng.IntN(3) == 0 {
		ev.Paths = []string{g.path()}
	}
	idx := len(g.pending)
	g.emit(g.f.event(ev), nil)
	changed := map[string]bool{}
	for range min(g.rng.IntN(3), budget-1) {
		path := g.path()
		if changed[path] {
			continue // a restore changes a path once
		}
		changed[path] = true
		if g.rng.IntN(2) == 0 {
			g.writeTo(path, "restore")
			ev.Changes = append(ev.Changes, events.RestoreChange{Path: path, Written: g.highest[path]})
		} else {
			vs := g.someVersions(path)
			g.versionsOpOn(&events.SecretVersionsDeleted{}, path, vs)
			ev.Changes = append(ev.Changes, events.RestoreChange{Path: path, Deleted: vs})
		}
	}
	// The record names its changes: re-encode it where it waits (or was
	// already appended, when a batch filled: then it keeps none).
	if idx < len(g.pending) && g.pending[idx].Type == ev.Type() {
		b, err := events.Encode(ev)
		if err != nil {
			g.t.Fatal(err)
		}
		g.pending[idx].Payload = b
	}
}

// writtenEvent is fixture.written for a whole payload (max versions, CAS):
// it seals data under a new value key and keeps the fixture's books.
func (g *gen) writtenEvent(e *events.SecretVersionWritten, data map[string]string) eventlog.Event {
	g.t.Helper()
	k := eventlog.NewValueKey()
	plain, err := json.Marshal(data)
	if err != nil {
		g.t.Fatal(err)
	}
	if e.Sealed, err = k.Seal(plain, events.ValueAAD(e.Path, e.Version)); err != nil {
		g.t.Fatal(err)
	}
	e.ValueKey = k.ID().String()
	ev := g.f.event(e)
	ev.NewValueKeys = []*eventlog.ValueKey{k}
	g.f.vkey[vk(e.Path, e.Version)] = k.ID()
	return ev
}

// versionsOp emits a delete, undelete or destroy of some versions; now
// and then a delete of none (one that found nothing to delete).
func (g *gen) versionsOp(kind events.Payload) {
	path := g.path()
	vs := g.someVersions(path)
	if _, ok := kind.(*events.SecretVersionsDeleted); ok && g.rng.IntN(8) == 0 {
		vs = nil
	}
	g.versionsOpOn(kind, path, vs)
}

func (g *gen) versionsOpOn(kind events.Payload, path string, vs []int) {
	var mutate func(r *mVersion, seq uint64)
	switch e := kind.(type) {
	case *events.SecretVersionsDeleted:
		e.Meta, e.Path, e.Versions = g.actor(), path, vs
		mutate = func(r *mVersion, seq uint64) {
			if !r.destroyed {
				r.deleted = seq
			}
		}
	case *events.SecretVersionsUndeleted:
		e.Meta, e.Path, e.Versions = g.actor(), path, vs
		mutate = func(r *mVersion, _ uint64) {
			if !r.destroyed {
				r.deleted = 0
			}
		}
	case *events.SecretVersionsDestroyed:
		e.Meta, e.Path, e.Versions = g.actor(), path, vs
		mutate = func(r *mVersion, _ uint64) { r.destroyed = true }
		if p := g.m.paths[path]; p != nil {
			for _, v := range vs {
				if p.versions[v] != nil {
					g.shredded[vk(path, v)] = true
				}
			}
		}
	}
	g.emit(g.f.event(kind), func(m *model, seq uint64) {
		mp := m.paths[path]
		if mp == nil || len(vs) == 0 {
			return
		}
		for _, v := range vs {
			if r := mp.versions[v]; r != nil {
				mutate(r, seq)
			}
		}
		mp.updated = seq
	})
}

func (g *gen) metadata() {
	path := g.path()
	e := &events.SecretMetadataUpdated{Meta: g.actor(), Path: path}
	if g.rng.IntN(2) == 0 {
		n := 1 + g.rng.IntN(6)
		e.MaxVersions = &n
		if p := g.m.paths[path]; p != nil {
			if vs := p.sortedVersions(); len(vs) > n {
				e.Pruned = vs[:len(vs)-n]
			}
		}
	}
	if g.rng.IntN(2) == 0 {
		b := g.rng.IntN(2) == 0
		e.CASRequired = &b
	}
	if g.rng.IntN(2) == 0 {
		cm := map[string]string{}
		for i := range g.rng.IntN(3) {
			cm[fmt.Sprintf("k%d", i)] = fmt.Sprint(g.rng.IntN(100))
		}
		e.CustomMetadata = &cm
	}
	if g.rng.IntN(3) == 0 {
		d := []time.Duration{0, time.Hour, 90 * time.Minute}[g.rng.IntN(3)]
		e.DeleteVersionAfter = &d
	}
	for _, pv := range e.Pruned {
		g.shredded[vk(path, pv)] = true
	}
	g.emit(g.f.event(e), func(m *model, seq uint64) {
		mp := m.paths[path]
		if mp == nil {
			mp = &mPath{versions: map[int]*mVersion{}, maxVersions: DefaultMaxVersions, created: seq}
			m.paths[path] = mp
		}
		if e.MaxVersions != nil {
			mp.maxVersions = *e.MaxVersions
		}
		if e.CASRequired != nil {
			mp.cas = *e.CASRequired
		}
		if e.CustomMetadata != nil {
			mp.custom = maps.Clone(*e.CustomMetadata)
		}
		if e.DeleteVersionAfter != nil {
			mp.after = *e.DeleteVersionAfter
		}
		for _, pv := range e.Pruned {
			delete(mp.versions, pv)
		}
		mp.updated = seq
	})
}

func (g *gen) read() {
	path := g.path()
	v, outcome, reason := 0, events.OutcomeNotFound, "no_such_path"
	if p := g.m.paths[path]; p != nil && p.current() != 0 {
		v, outcome, reason = p.current(), events.OutcomeOK, ""
	}
	g.emit(g.f.event(&events.SecretRead{Meta: g.actor(), Path: path, Version: v, Outcome: outcome, Reason: reason}), nil)
}

func (g *gen) policyPut() {
	name := genPolicies[g.rng.IntN(len(genPolicies))]
	var perms []string
	for _, p := range genPerms {
		if g.rng.IntN(2) == 0 {
			perms = append(perms, p)
		}
	}
	if len(perms) == 0 {
		perms = []string{"read"}
	}
	spiffe := fmt.Sprintf("^spiffe://spike.ist/workload/%d$", g.rng.IntN(50))
	pathPat := fmt.Sprintf("^%s/.*$", g.path())
	g.emit(g.f.event(&events.PolicyPut{Meta: g.actor(), Name: name, SpiffeIDPattern: spiffe, PathPattern: pathPat, Permissions: perms}),
		func(m *model, seq uint64) {
			pol := m.policies[name]
			if pol == nil {
				pol = &mPolicy{created: seq}
				m.policies[name] = pol
			}
			pol.spiffe, pol.path, pol.perms, pol.updated = spiffe, pathPat, slices.Clone(perms), seq
		})
}

// secretWant is what Secret(path, v) must return at a snapshot: data, or
// the error kind. A version whose value key was destroyed later in the
// log (shredded) cannot be read even in a view from before: its data is
// gone for good.
func (g *gen) secretWant(mp *mPath, path string, v int) (string, error) {
	if mp == nil {
		return "", ErrNotFound
	}
	if v == 0 {
		if v = mp.current(); v == 0 {
			return "", ErrNotFound
		}
	}
	r := mp.versions[v]
	switch {
	case r == nil:
		return "", ErrNotFound
	case r.destroyed || g.shredded[vk(path, v)]:
		return "", ErrVersionDestroyed
	case r.deleted != 0:
		return "", ErrVersionDeleted
	}
	return r.data, nil
}

func (g *gen) at(seq uint64) time.Time {
	if seq == 0 {
		return time.Time{}
	}
	return g.times[seq]
}

// checkStats counts what a comparison exercised.
type checkStats struct {
	readable, deleted, destroyed, shreddedLater, notFound int
}

// check compares projection p against the model after event s: every
// path's metadata, every version's data or error, the path list and the
// policies.
func (g *gen) check(t testing.TB, p *Projection, s uint64, st *checkStats) {
	t.Helper()
	ctx := g.f.ctx
	want := g.snaps[s]
	if got := p.LastApplied(); got != s {
		t.Fatalf("as of %d: last applied %d", s, got)
	}
	paths, err := p.Paths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wantPaths := slices.Sorted(maps.Keys(want.paths)); !slices.Equal(paths, wantPaths) {
		t.Errorf("as of %d: paths %q, want %q", s, paths, wantPaths)
	}
	for _, path := range append(slices.Clone(genPaths), "never/written") {
		mp := want.paths[path]
		if floor, err := p.VersionFloor(ctx, path); err != nil || floor != want.removed[path] {
			t.Errorf("as of %d: version floor of %q = %d, %v; want %d", s, path, floor, err, want.removed[path])
		}
		md, err := p.Metadata(ctx, path)
		if mp == nil {
			if !errors.Is(err, ErrNotFound) {
				t.Errorf("as of %d: metadata of absent %q: %+v, %v", s, path, md, err)
			}
		} else if err != nil {
			t.Errorf("as of %d: metadata %q: %v", s, path, err)
		} else {
			g.checkMetadata(t, s, path, mp, md)
		}
		for v := 0; v <= g.highest[path]+1; v++ {
			wantData, wantErr := g.secretWant(mp, path, v)
			got, err := p.Secret(ctx, path, v)
			switch {
			case wantErr != nil:
				if !errors.Is(err, wantErr) {
					t.Errorf("as of %d: Secret(%q, %d) = %v, %v; want %v", s, path, v, got.Data, err, wantErr)
				}
			case err != nil:
				t.Errorf("as of %d: Secret(%q, %d): %v, want %q", s, path, v, err, wantData)
			case got.Data["value"] != wantData || got.Data["path"] != path || len(got.Data) != 2:
				t.Errorf("as of %d: Secret(%q, %d) = %v, want value %q", s, path, v, got.Data, wantData)
			case v != 0 && got.Version != v, v == 0 && got.Version != mp.current():
				t.Errorf("as of %d: Secret(%q, %d) served version %d", s, path, v, got.Version)
			case !got.Created.Equal(g.at(mp.versions[got.Version].created)):
				t.Errorf("as of %d: Secret(%q, %d) created %v, want %v", s, path, v, got.Created, g.at(mp.versions[got.Version].created))
			}
			if v == 0 || mp == nil || mp.versions[v] == nil {
				if v != 0 {
					st.notFound++
				}
				continue
			}
			r := mp.versions[v]
			switch {
			case r.deleted != 0:
				st.deleted++
			case r.destroyed:
				st.destroyed++
			case g.shredded[vk(path, v)]:
				st.shreddedLater++
			default:
				st.readable++
			}
		}
	}
	pols, err := p.Policies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotNames []string
	for _, pol := range pols {
		gotNames = append(gotNames, pol.Name)
		w := want.policies[pol.Name]
		if w == nil {
			continue
		}
		if pol.SpiffeIDPattern != w.spiffe || pol.PathPattern != w.path || !slices.Equal(pol.Permissions, w.perms) ||
			!pol.Created.Equal(g.at(w.created)) || !pol.Updated.Equal(g.at(w.updated)) {
			t.Errorf("as of %d: policy %q = %+v, want %+v (created %v, updated %v)", s, pol.Name, pol, *w, g.at(w.created), g.at(w.updated))
		}
		one, err := p.Policy(ctx, pol.Name)
		if err != nil || !slices.Equal(one.Permissions, pol.Permissions) {
			t.Errorf("as of %d: Policy(%q) = %+v, %v", s, pol.Name, one, err)
		}
	}
	if wantNames := slices.Sorted(maps.Keys(want.policies)); !slices.Equal(gotNames, wantNames) {
		t.Errorf("as of %d: policies %q, want %q", s, gotNames, wantNames)
	}
}

func (g *gen) checkMetadata(t testing.TB, s uint64, path string, mp *mPath, md SecretMetadata) {
	t.Helper()
	if md.CurrentVersion != mp.current() || md.OldestVersion != mp.oldest() {
		t.Errorf("as of %d: %q current/oldest = %d/%d, want %d/%d", s, path, md.CurrentVersion, md.OldestVersion, mp.current(), mp.oldest())
	}
	if md.MaxVersions != mp.maxVersions || md.CASRequired != mp.cas || md.DeleteVersionAfter != mp.after || !maps.Equal(md.CustomMetadata, mp.custom) {
		t.Errorf("as of %d: %q settings = max %d cas %v after %v custom %v; want max %d cas %v after %v custom %v", s, path,
			md.MaxVersions, md.CASRequired, md.DeleteVersionAfter, md.CustomMetadata, mp.maxVersions, mp.cas, mp.after, mp.custom)
	}
	if !md.Created.Equal(g.at(mp.created)) || !md.Updated.Equal(g.at(mp.updated)) {
		t.Errorf("as of %d: %q created/updated = %v/%v, want %v/%v", s, path, md.Created, md.Updated, g.at(mp.created), g.at(mp.updated))
	}
	var wantVs []VersionInfo
	for _, v := range mp.sortedVersions() {
		r := mp.versions[v]
		vi := VersionInfo{Version: v, Created: g.at(r.created), Destroyed: r.destroyed}
		if r.deleted != 0 {
			d := g.at(r.deleted)
			vi.Deleted = &d
		}
		wantVs = append(wantVs, vi)
	}
	if !slices.EqualFunc(md.Versions, wantVs, sameVersionInfo) {
		t.Errorf("as of %d: %q versions\n got %s\nwant %s", s, path, fmtVersions(md.Versions), fmtVersions(wantVs))
	}
}

func sameVersionInfo(a, b VersionInfo) bool {
	if a.Version != b.Version || !a.Created.Equal(b.Created) || a.Destroyed != b.Destroyed || (a.Deleted == nil) != (b.Deleted == nil) {
		return false
	}
	return a.Deleted == nil || a.Deleted.Equal(*b.Deleted)
}

func fmtVersions(vs []VersionInfo) string {
	var b bytes.Buffer
	for _, v := range vs {
		fmt.Fprintf(&b, "[v%d created %d", v.Version, v.Created.UnixNano())
		if v.Deleted != nil {
			fmt.Fprintf(&b, " deleted %d", v.Deleted.UnixNano())
		}
		if v.Destroyed {
			b.WriteString(" destroyed")
		}
		b.WriteString("] ")
	}
	return b.String()
}

func (g *gen) buildAsOf(t testing.TB, at AsOf) *Projection {
	t.Helper()
	p, err := BuildAsOf(g.f.ctx, g.f.log, at, Options{Memory: true, Key: g.f.key})
	if err != nil {
		t.Fatalf("BuildAsOf(%+v): %v", at, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestAsOfMatchesModel: as-of views at random points of random workloads
// answer exactly as the model does at that point.
func TestAsOfMatchesModel(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 3, 0xC0FFEE, 20260101} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			t.Logf("seed %d", seed)
			clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Millisecond)
			f := newFixtureWith(t, eventlog.Options{Now: clock.Now})
			g := newGen(t, f, seed)
			n := 300 + g.rng.IntN(301)
			g.run(n)
			end := f.log.Size()
			if end != uint64(n) || g.seq != end {
				t.Fatalf("log has %d events, generated %d", end, n)
			}
			for s := 2; s < len(g.times); s++ {
				if !g.times[s].After(g.times[s-1]) {
					t.Fatalf("event times not increasing at %d: %v, %v", s, g.times[s-1], g.times[s])
				}
			}

			seqs := []uint64{1, end}
			for range 8 {
				seqs = append(seqs, 1+g.rng.Uint64N(end))
			}
			var st checkStats
			for _, s := range seqs {
				p := g.buildAsOf(t, AsOf{Seq: s})
				g.check(t, p, s, &st)
				// An as-of view stays where it was built.
				if err := p.CatchUp(f.ctx); err != nil || p.LastApplied() != s {
					t.Fatalf("CatchUp on an as-of view: %d, %v", p.LastApplied(), err)
				}
			}
			t.Logf("%d events; versions checked: %+v", n, st)
			// The workload must exercise every case, crypto-shredding
			// included: versions readable at a point whose data was
			// destroyed later read as destroyed.
			if st.readable == 0 || st.deleted == 0 || st.destroyed == 0 || st.shreddedLater == 0 || st.notFound == 0 {
				t.Fatalf("workload too narrow: %+v", st)
			}

			// The view of the end is the projection itself.
			whole := g.buildAsOf(t, AsOf{})
			if whole.LastApplied() != end {
				t.Fatalf("AsOf{} built to %d, want %d", whole.LastApplied(), end)
			}
			if f.digest(whole) != f.digest(f.open("")) {
				t.Fatal("as-of view of the end differs from the projection")
			}

			// A time resolves to the last event at or before it.
			for range 4 {
				s := 1 + g.rng.Uint64N(end-1)
				byTime := g.buildAsOf(t, AsOf{Time: g.times[s]})
				justBefore := g.buildAsOf(t, AsOf{Time: g.times[s+1].Add(-time.Nanosecond)})
				bySeq := g.buildAsOf(t, AsOf{Seq: s})
				if byTime.LastApplied() != s || justBefore.LastApplied() != s {
					t.Fatalf("AsOf time of event %d built to %d, just before event %d to %d", s, byTime.LastApplied(), s+1, justBefore.LastApplied())
				}
				if d := f.digest(bySeq); f.digest(byTime) != d || f.digest(justBefore) != d {
					t.Fatalf("as of event %d: by time and by seq differ", s)
				}
				g.check(t, byTime, s, &st)
			}
			before := g.buildAsOf(t, AsOf{Time: g.times[1].Add(-time.Nanosecond)})
			if before.LastApplied() != 0 {
				t.Fatalf("as of before the first event: built to %d", before.LastApplied())
			}
			g.check(t, before, 0, &st)
			after := g.buildAsOf(t, AsOf{Time: g.times[end].Add(time.Hour)})
			if after.LastApplied() != end {
				t.Fatalf("as of after the last event: built to %d", after.LastApplied())
			}

			for _, bad := range []AsOf{{Seq: end + 1}, {Seq: 1, Time: g.times[1]}} {
				if p, err := BuildAsOf(f.ctx, f.log, bad, Options{Memory: true, Key: f.key}); err == nil {
					p.Close()
					t.Errorf("BuildAsOf(%+v) succeeded", bad)
				}
			}
		})
	}
}

// TestAsOfShreddedValue pins down crypto-shredding in the past: once a
// version is destroyed, a view from before the destroy still shows the
// version as it was (live, current), but its data is unreadable.
func TestAsOfShreddedValue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.append(f.written(alice, "db", 1, map[string]string{"pw": "one"}))
	f.append(f.written(alice, "db", 2, map[string]string{"pw": "two"}))
	asOf := func(s uint64) *Projection {
		p, err := BuildAsOf(f.ctx, f.log, AsOf{Seq: s}, Options{Memory: true, Key: f.key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	if s, err := asOf(1).Secret(f.ctx, "db", 0); err != nil || s.Data["pw"] != "one" {
		t.Fatalf("before destroy: %+v, %v", s, err)
	}
	f.append(f.event(&events.SecretVersionsDestroyed{Path: "db", Versions: []int{1}}))
	p := asOf(1)
	if _, err := p.Secret(f.ctx, "db", 1); !errors.Is(err, ErrVersionDestroyed) {
		t.Fatalf("shredded v1 as of 1: %v, want ErrVersionDestroyed", err)
	}
	if _, err := p.Secret(f.ctx, "db", 0); !errors.Is(err, ErrVersionDestroyed) {
		t.Fatalf("current (shredded v1) as of 1: %v, want ErrVersionDestroyed", err)
	}
	md, err := p.Metadata(f.ctx, "db")
	if err != nil {
		t.Fatal(err)
	}
	if md.CurrentVersion != 1 || md.OldestVersion != 1 || len(md.Versions) != 1 || md.Versions[0].Destroyed || md.Versions[0].Deleted != nil {
		t.Fatalf("metadata as of 1 = %+v: the version was live then", md)
	}
	if s, err := asOf(2).Secret(f.ctx, "db", 2); err != nil || s.Data["pw"] != "two" {
		t.Fatalf("v2 as of 2: %+v, %v", s, err)
	}
	// Pruning shreds too.
	f.append(f.written(alice, "db", 3, map[string]string{"pw": "three"}, 2))
	if _, err := asOf(2).Secret(f.ctx, "db", 2); !errors.Is(err, ErrVersionDestroyed) {
		t.Fatalf("pruned v2 as of 2: %v, want ErrVersionDestroyed", err)
	}
	if _, err := asOf(4).Secret(f.ctx, "db", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned v2 as of 4: %v, want ErrNotFound", err)
	}
}
