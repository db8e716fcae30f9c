package projections

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// testdata/policy-v1.eventlog is a log written the way an earlier release
// wrote it: policy.put at schema 1, permissions comma-joined. It is
// committed, not generated at test time, so that the test reads bytes an
// old build produced. Regenerate it (only if the eventlog file format
// changes) with
//
//	SPIKE_UPDATE_FIXTURES=1 go test ./projections -run TestWritePolicyV1Fixture
const policyV1Fixture = "testdata/policy-v1.eventlog"

// policyV1Root is the fixture log's root key.
var policyV1Root = bytes.Repeat([]byte{0x42}, 32)

// policyV1Events are the fixture's events, as raw payloads at the schema
// they were written with.
var policyV1Events = []struct {
	typ     string
	schema  uint32
	payload string
}{
	{"policy.put", 1, `{"actor":"spiffe://spike.ist/spike/pilot/role/superuser","request_id":"r1","name":"web",` +
		`"spiffe_id_pattern":"^spiffe://spike\\.ist/workload/web$","path_pattern":"^secrets/web/.*$","permissions":"read,write"}`},
	{"policy.put", 1, `{"actor":"spiffe://spike.ist/spike/pilot/role/superuser","name":"ops",` +
		`"spiffe_id_pattern":".*","path_pattern":".*","permissions":" super , list ,","legacy_note":"from v0.8"}`},
	{"policy.put", 2, `{"actor":"spiffe://spike.ist/spike/pilot/role/superuser","name":"audit",` +
		`"spiffe_id_pattern":"^spiffe://spike\\.ist/auditor$","path_pattern":"^.*$","permissions":["read","list"]}`},
	{"policy.put", 1, `{"name":"tmp","spiffe_id_pattern":"^x$","path_pattern":"^y$","permissions":"read"}`},
	{"policy.deleted", 1, `{"name":"tmp"}`},
}

// TestWritePolicyV1Fixture regenerates the fixture. It is not parallel, so
// with SPIKE_UPDATE_FIXTURES set it finishes before the parallel tests
// that read the file start.
func TestWritePolicyV1Fixture(t *testing.T) {
	if os.Getenv("SPIKE_UPDATE_FIXTURES") == "" {
		t.Skip("set SPIKE_UPDATE_FIXTURES=1 to regenerate " + policyV1Fixture)
	}
	ctx := t.Context()
	dir := t.TempDir()
	clock := newFakeClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), time.Second)
	l, err := eventlog.Open(ctx, filepath.Join(dir, "events.db"), eventlog.Options{Logger: quiet, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx, policyV1Root); err != nil {
		t.Fatal(err)
	}
	for _, e := range policyV1Events {
		if _, err := l.Append(ctx, eventlog.Event{Type: e.typ, Schema: e.schema, Payload: []byte(e.payload)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The log preallocates megabytes; a compacted copy holds the same
	// buckets and keys in a few pages.
	src, err := bolt.Open(filepath.Join(dir, "events.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := bolt.Open(filepath.Join(dir, "compact.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bolt.Compact(dst, src, 0); err != nil {
		t.Fatal(err)
	}
	var used int64 // the high-water mark: pages past it are preallocation
	if err := dst.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, "compact.db"), used); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "compact.db"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := policyV1Fixture + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, policyV1Fixture); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", policyV1Fixture, len(b))
}

// openPolicyV1Fixture opens and unlocks a copy of the fixture (the log
// writes to its file even to unlock).
func openPolicyV1Fixture(t *testing.T) *fixture {
	t.Helper()
	b, err := os.ReadFile(policyV1Fixture)
	if err != nil {
		t.Fatalf("fixture missing: %v", err)
	}
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Open(ctx, path, eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Unlock(ctx, policyV1Root); err != nil {
		t.Fatal(err)
	}
	key, err := KeyFromRoot(policyV1Root)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, ctx: ctx, dir: dir, log: l, root: policyV1Root, key: key, vkey: map[string]eventlog.ValueKeyID{}}
}

// TestReplayPolicyV1Log: a log with schema-1 policies replays into the
// current model, permissions as lists.
func TestReplayPolicyV1Log(t *testing.T) {
	t.Parallel()
	f := openPolicyV1Fixture(t)
	if got := f.log.Size(); got != uint64(len(policyV1Events)) {
		t.Fatalf("fixture holds %d events, want %d", got, len(policyV1Events))
	}
	// The stored headers still say schema 1: the log is never rewritten.
	var i int
	err := f.log.ScanSealed(f.ctx, 1, 0, func(r eventlog.Record) error {
		if e := policyV1Events[i]; r.Type != e.typ || r.Schema != e.schema {
			t.Errorf("event %d is %s/%d, want %s/%d", r.Seq, r.Type, r.Schema, e.typ, e.schema)
		}
		i++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The fixture is an intact, verifiable log.
	vkey, err := f.log.VerifierKey(f.ctx)
	if err != nil || vkey == "" {
		t.Fatalf("verifier key %q, %v", vkey, err)
	}
	if rep, err := f.log.Verify(f.ctx, vkey, eventlog.VerifyOptions{}); err != nil || rep.Size != f.log.Size() {
		t.Fatalf("verify fixture: %+v, %v", rep, err)
	}

	// Decode upcasts each record.
	rec, err := f.log.Get(f.ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if pp, ok := pl.(*events.PolicyPut); !ok || pp.Name != "ops" || !slices.Equal(pp.Permissions, []string{"super", "list"}) ||
		pp.Actor != "spiffe://spike.ist/spike/pilot/role/superuser" || !pp.Time.Equal(rec.Time) {
		t.Fatalf("decoded seq 2 = %#v", pl)
	}

	want := []Policy{
		{Name: "audit", SpiffeIDPattern: `^spiffe://spike\.ist/auditor$`, PathPattern: "^.*$", Permissions: []string{"read", "list"}},
		{Name: "ops", SpiffeIDPattern: ".*", PathPattern: ".*", Permissions: []string{"super", "list"}},
		{Name: "web", SpiffeIDPattern: `^spiffe://spike\.ist/workload/web$`, PathPattern: "^secrets/web/.*$", Permissions: []string{"read", "write"}},
	}
	for _, path := range []string{"", filepath.Join(f.dir, "projections.db")} {
		p := f.open(path)
		got, err := p.Policies(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("projection %q: policies %+v", path, got)
		}
		for i, w := range want {
			g := got[i]
			if g.Name != w.Name || g.SpiffeIDPattern != w.SpiffeIDPattern || g.PathPattern != w.PathPattern || !slices.Equal(g.Permissions, w.Permissions) {
				t.Errorf("projection %q: policy %d = %+v, want %+v", path, i, g, w)
			}
		}
		h, _, err := p.History(f.ctx, HistoryQuery{Type: "policy.put"})
		if err != nil || len(h) != 4 || h[0].Target != "web" || h[0].RequestID != "r1" {
			t.Errorf("projection %q: policy.put history %+v, %v", path, h, err)
		}
	}

	// New events at the current schema follow the old ones.
	f.append(f.event(&events.PolicyPut{Name: "web", SpiffeIDPattern: "^x$", PathPattern: "^y$", Permissions: []string{"read"}}))
	p := f.open("")
	if pol, err := p.Policy(f.ctx, "web"); err != nil || !slices.Equal(pol.Permissions, []string{"read"}) || !pol.Created.Before(pol.Updated) {
		t.Fatalf("web after a schema-2 put: %+v, %v", pol, err)
	}
}
