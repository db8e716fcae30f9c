package projections

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

const alice = "spiffe://spike.ist/workload/alice"

func TestSecretLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open("")
	step := func(evs ...events.Payload) {
		t.Helper()
		var les []eventlogEvent
		for _, e := range evs {
			les = append(les, f.event(e))
		}
		if err := p.Apply(f.ctx, f.append(les...)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(v int, val string, pruned ...int) {
		t.Helper()
		if err := p.Apply(f.ctx, f.append(f.written(alice, "db/creds", v, map[string]string{"pw": val}, pruned...))); err != nil {
			t.Fatal(err)
		}
	}
	get := func(v int) (string, error) {
		s, err := p.Secret(f.ctx, "db/creds", v)
		return s.Data["pw"], err
	}
	write(1, "one")
	write(2, "two")
	if got, err := get(0); got != "two" || err != nil {
		t.Fatalf("current = %q, %v", got, err)
	}
	if got, err := get(1); got != "one" || err != nil {
		t.Fatalf("v1 = %q, %v", got, err)
	}
	step(&events.SecretVersionsDeleted{Path: "db/creds", Versions: []int{2}})
	if got, err := get(0); got != "one" || err != nil {
		t.Fatalf("after delete current = %q, %v", got, err)
	}
	if _, err := get(2); !errors.Is(err, ErrVersionDeleted) {
		t.Fatalf("deleted v2: %v", err)
	}
	step(&events.SecretVersionsUndeleted{Path: "db/creds", Versions: []int{2}})
	if got, _ := get(0); got != "two" {
		t.Fatalf("after undelete current = %q", got)
	}
	step(&events.SecretVersionsDestroyed{Path: "db/creds", Versions: []int{1}})
	if _, err := get(1); !errors.Is(err, ErrVersionDestroyed) {
		t.Fatalf("destroyed v1: %v", err)
	}
	// Retention of 2: writing v3 prunes v1 for real.
	write(3, "three", 1)
	if _, err := get(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("pruned v1: %v", err)
	}
	m, err := p.Metadata(f.ctx, "db/creds")
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, v := range m.Versions {
		vs = append(vs, v.Version)
	}
	if m.CurrentVersion != 3 || m.OldestVersion != 2 || m.MaxVersions != DefaultMaxVersions || !reflect.DeepEqual(vs, []int{2, 3}) {
		t.Fatalf("metadata = %+v (versions %v)", m, vs)
	}
	// Deleting everything leaves no current version, but the path is listed.
	step(&events.SecretVersionsDeleted{Path: "db/creds", Versions: []int{2, 3}})
	if _, err := get(0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("all deleted: %v", err)
	}
	paths, err := p.Paths(f.ctx)
	if err != nil || !reflect.DeepEqual(paths, []string{"db/creds"}) {
		t.Fatalf("paths = %v, %v", paths, err)
	}
	five, yes, hour := 5, true, time.Hour
	step(&events.SecretMetadataUpdated{Path: "db/creds", MaxVersions: &five, CASRequired: &yes, DeleteVersionAfter: &hour,
		CustomMetadata: &map[string]string{"owner": "dba"}})
	m, _ = p.Metadata(f.ctx, "db/creds")
	if m.MaxVersions != 5 || !m.CASRequired || m.DeleteVersionAfter != time.Hour || m.CustomMetadata["owner"] != "dba" {
		t.Fatalf("metadata after update = %+v", m)
	}
	if _, err := p.Secret(f.ctx, "nope", 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing path: %v", err)
	}
}

func TestPoliciesAndHistory(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open("")
	admin := "spiffe://spike.ist/spike/pilot/role/admin"
	evs := []eventlogEvent{
		f.event(&events.PolicyPut{Meta: events.Meta{Actor: admin}, Name: "web", SpiffeIDPattern: "^spiffe://x/web$", PathPattern: "^web/.*$", Permissions: []string{"read"}}),
		f.written(alice, "web/a", 1, map[string]string{"k": "v"}),
		f.event(&events.SecretRead{Meta: events.Meta{Actor: alice}, Path: "web/a", Version: 1, Outcome: events.OutcomeOK}),
		f.event(&events.AccessDenied{Meta: events.Meta{Actor: "spiffe://x/evil"}, Path: "web/a", Action: "read", Reason: "no policy"}),
		f.event(&events.PolicyPut{Meta: events.Meta{Actor: admin}, Name: "web", SpiffeIDPattern: "^spiffe://x/web$", PathPattern: "^web/.*$", Permissions: []string{"read", "write"}}),
		f.event(&events.PolicyPut{Meta: events.Meta{Actor: admin}, Name: "ops", SpiffeIDPattern: ".*", PathPattern: ".*", Permissions: []string{"super"}}),
		f.event(&events.PolicyDeleted{Meta: events.Meta{Actor: admin}, Name: "ops"}),
	}
	for range 5 {
		evs = append(evs, f.event(&events.SecretRead{Meta: events.Meta{Actor: alice}, Path: "web/a", Version: 1, Outcome: events.OutcomeOK}))
	}
	if err := p.Apply(f.ctx, f.append(evs...)); err != nil {
		t.Fatal(err)
	}
	pols, err := p.Policies(f.ctx)
	if err != nil || len(pols) != 1 || pols[0].Name != "web" || !reflect.DeepEqual(pols[0].Permissions, []string{"read", "write"}) {
		t.Fatalf("policies = %+v, %v", pols, err)
	}
	if pols[0].Created.After(pols[0].Updated) {
		t.Fatalf("policy times %v > %v", pols[0].Created, pols[0].Updated)
	}
	if _, err := p.Policy(f.ctx, "ops"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted policy: %v", err)
	}
	reads, _, err := p.History(f.ctx, HistoryQuery{Target: "web/a", Type: "secret.read"})
	if err != nil || len(reads) != 6 {
		t.Fatalf("reads of web/a = %d, %v", len(reads), err)
	}
	denied, _, _ := p.History(f.ctx, HistoryQuery{Outcome: events.OutcomeDenied})
	if len(denied) != 1 || denied[0].Actor != "spiffe://x/evil" || denied[0].Detail != "read no policy" {
		t.Fatalf("denied = %+v", denied)
	}
	for _, tc := range []struct {
		q    HistoryQuery
		want int
	}{
		{HistoryQuery{Types: []string{"secret.read", "access.denied"}, Target: "web/a"}, 7},
		{HistoryQuery{Types: []string{"access.denied", "never.recorded"}}, 1},
		{HistoryQuery{Types: []string{"never.recorded"}}, 0},
		{HistoryQuery{Type: "access.denied", Types: []string{"secret.read"}, Target: "web/a"}, 7},
	} {
		got, _, err := p.History(f.ctx, tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("History(%+v) = %d rows, %v; want %d", tc.q, len(got), err, tc.want)
		}
	}
	// Pagination walks every event exactly once.
	var seqs []uint64
	for cursor := uint64(0); ; {
		page, next, err := p.History(f.ctx, HistoryQuery{After: cursor, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			seqs = append(seqs, a.Seq)
		}
		if next == 0 {
			break
		}
		cursor = next
	}
	if len(seqs) != len(evs) || seqs[0] != 1 || seqs[len(seqs)-1] != uint64(len(evs)) {
		t.Fatalf("paged seqs = %v", seqs)
	}
	if _, _, err := p.History(f.ctx, HistoryQuery{Limit: MaxHistoryPage + 1}); err == nil {
		t.Fatal("oversized page accepted")
	}
}

// TestHistoryRowsOfManyVersionsAndPaths: a change of several versions
// lists them all; a restore is in the history of every path it changed,
// with what it did there; a refused write and a removed path are rows of
// their own.
func TestHistoryRowsOfManyVersionsAndPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open("")
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	evs := []eventlogEvent{
		f.written(alice, "a", 1, map[string]string{"k": "1"}),
		f.written(alice, "a", 2, map[string]string{"k": "2"}),
		f.written(alice, "a", 3, map[string]string{"k": "3"}),
		f.written(alice, "b", 1, map[string]string{"k": "1"}),
		f.event(&events.SecretVersionsDeleted{Meta: events.Meta{Actor: alice}, Path: "a", Versions: []int{1, 2, 3}}),
		f.event(&events.SecretVersionsUndeleted{Meta: events.Meta{Actor: alice}, Path: "a", Versions: []int{2, 3}}),
		f.event(&events.RestorePointApplied{Meta: events.Meta{Actor: alice}, AsOfSeq: 2, AsOfTime: at,
			Changes: []events.RestoreChange{{Path: "a", Written: 4}, {Path: "b", Deleted: []int{1}}}}),
		f.written(alice, "a", 4, map[string]string{"k": "2"}),
		f.event(&events.SecretVersionsDeleted{Meta: events.Meta{Actor: alice}, Path: "b", Versions: []int{1}}),
		f.event(&events.RestorePointApplied{Meta: events.Meta{Actor: alice}, Paths: []string{"b"}, AsOfSeq: 4, AsOfTime: at}),
		f.event(&events.RequestRefused{Meta: events.Meta{Actor: alice}, Path: "a", Action: "secret.put", Outcome: events.OutcomeConflict, Reason: "cas_mismatch", Versions: []int{2}}),
		f.event(&events.SecretVersionsDeleted{Meta: events.Meta{Actor: alice}, Path: "a"}),
		f.event(&events.SecretMetadataDeleted{Meta: events.Meta{Actor: alice}, Path: "b", LastVersion: 1}),
	}
	if err := p.Apply(f.ctx, f.append(evs...)); err != nil {
		t.Fatal(err)
	}
	type row struct {
		seq      uint64
		typ      string
		versions []int
		outcome  string
		detail   string
	}
	for _, tc := range []struct {
		target string
		want   []row
	}{
		{"a", []row{
			{1, "secret.version.written", []int{1}, "ok", ""},
			{2, "secret.version.written", []int{2}, "ok", ""},
			{3, "secret.version.written", []int{3}, "ok", ""},
			{5, "secret.versions.deleted", []int{1, 2, 3}, "ok", "versions=1,2,3"},
			{6, "secret.versions.undeleted", []int{2, 3}, "ok", "versions=2,3"},
			{7, "restore.applied", []int{4}, "ok", "to seq 2 (2026-05-06T07:08:09Z); wrote version 4"},
			{8, "secret.version.written", []int{4}, "ok", ""},
			{11, "request.refused", []int{2}, "conflict", "secret.put cas_mismatch"},
			{12, "secret.versions.deleted", nil, "ok", "nothing to delete"},
		}},
		{"b", []row{
			{4, "secret.version.written", []int{1}, "ok", ""},
			{7, "restore.applied", []int{1}, "ok", "to seq 2 (2026-05-06T07:08:09Z); deleted versions=1"},
			{9, "secret.versions.deleted", []int{1}, "ok", "versions=1"},
			{10, "restore.applied", nil, "ok", "to seq 4 (2026-05-06T07:08:09Z); for b"},
			{13, "secret.metadata.deleted", nil, "ok", "last_version=1"},
		}},
	} {
		got, _, err := p.History(f.ctx, HistoryQuery{Target: tc.target})
		if err != nil {
			t.Fatal(err)
		}
		var rows []row
		for _, a := range got {
			if a.Target != tc.target {
				t.Errorf("history of %s: row %d has target %q", tc.target, a.Seq, a.Target)
			}
			rows = append(rows, row{a.Seq, a.Type, a.Versions, a.Outcome, a.Detail})
		}
		if !reflect.DeepEqual(rows, tc.want) {
			t.Errorf("history of %s:\n got %+v\nwant %+v", tc.target, rows, tc.want)
		}
		// Paging one row at a time walks the same rows.
		var paged []uint64
		for after := uint64(0); ; {
			page, next, err := p.History(f.ctx, HistoryQuery{Target: tc.target, After: after, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				paged = append(paged, a.Seq)
			}
			if next == 0 {
				break
			}
			after = next
		}
		if len(paged) != len(tc.want) {
			t.Errorf("history of %s paged: %v", tc.target, paged)
		}
	}
	// The whole log lists the restore of two paths once, naming both.
	all, _, err := p.History(f.ctx, HistoryQuery{Type: "restore.applied"})
	if err != nil || len(all) != 2 || all[0].Target != "" || all[0].Detail != "to seq 2 (2026-05-06T07:08:09Z); a: wrote version 4; b: deleted versions=1" {
		t.Fatalf("restores = %+v, %v", all, err)
	}
	// b is gone, and remembers its last version.
	if _, err := p.Metadata(f.ctx, "b"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("metadata of a removed path: %v", err)
	}
	if floor, err := p.VersionFloor(f.ctx, "b"); err != nil || floor != 1 {
		t.Fatalf("floor of b = %d, %v", floor, err)
	}
	if paths, err := p.Paths(f.ctx); err != nil || !reflect.DeepEqual(paths, []string{"a"}) {
		t.Fatalf("paths = %v, %v", paths, err)
	}
}

func TestApplyRejectsOutOfOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := f.open("")
	recs := f.append(f.event(&events.PolicyDeleted{Name: "a"}), f.event(&events.PolicyDeleted{Name: "b"}))
	if err := p.Apply(f.ctx, recs[1:]); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("skipping: %v", err)
	}
	if err := p.Apply(f.ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(f.ctx, recs[:1]); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("re-applying: %v", err)
	}
	if p.LastApplied() != 2 {
		t.Fatalf("last applied %d", p.LastApplied())
	}
}

func TestDiskCatchUpAndRebuild(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	path := filepath.Join(f.dir, "projections.db")
	f.append(f.written(alice, "a", 1, map[string]string{"x": "1"}), f.written(alice, "b", 1, map[string]string{"y": "2"}))
	p := f.open(path)
	if p.LastApplied() != 2 {
		t.Fatalf("after open: %d", p.LastApplied())
	}
	f.append(f.written(alice, "a", 2, map[string]string{"x": "3"}))
	if err := p.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	live := f.digest(p)
	p.Close()

	mem := f.open("") // full replay in memory
	if d := f.digest(mem); d != live {
		t.Fatal("memory rebuild digest differs from live")
	}
	f.append(f.event(&events.SecretVersionsDestroyed{Path: "a", Versions: []int{1}}))
	p2 := f.open(path) // reopen: catches up one event
	if p2.LastApplied() != 4 {
		t.Fatalf("reopen caught up to %d", p2.LastApplied())
	}
	s, err := p2.Secret(f.ctx, "a", 0)
	if err != nil || s.Data["x"] != "3" {
		t.Fatalf("a = %+v, %v", s, err)
	}
}

type eventlogEvent = eventlog.Event
