package spikedb

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/projections"
)

// store is an unlocked log and its projection in a temp dir.
type store struct {
	log  *eventlog.Log
	proj *projections.Projection
	root []byte
}

func newStore(t *testing.T, rootByte byte) *store {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	l, err := eventlog.Open(ctx, filepath.Join(t.TempDir(), "events.db"), eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	root := bytes.Repeat([]byte{rootByte}, 32)
	if err := l.Unlock(ctx, root); err != nil {
		t.Fatal(err)
	}
	key, _ := projections.KeyFromRoot(root)
	p, err := projections.Open(ctx, l, projections.Options{Memory: true, Key: key, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return &store{log: l, proj: p, root: root}
}

func (s *store) put(t *testing.T, path string, version int, data map[string]string, pruned ...int) {
	t.Helper()
	k := eventlog.NewValueKey()
	plain, _ := json.Marshal(data)
	sealed, _ := k.Seal(plain, events.ValueAAD(path, version))
	ev := mustEvent(&events.SecretVersionWritten{Path: path, Version: version, ValueKey: k.ID().String(), Sealed: sealed, Pruned: pruned})
	ev.NewValueKeys = []*eventlog.ValueKey{k}
	s.append(t, ev)
}

func (s *store) append(t *testing.T, evs ...eventlog.Event) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.log.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := s.proj.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestExportThenImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := newStore(t, 1)
	src.put(t, "db/creds", 1, map[string]string{"pw": "one"})
	src.put(t, "db/creds", 2, map[string]string{"pw": "two"})
	src.put(t, "db/creds", 3, map[string]string{"pw": "three"})
	src.put(t, "web/key", 1, map[string]string{"k": "v"})
	src.put(t, "gone", 1, map[string]string{"x": "y"})
	src.append(t,
		mustEvent(&events.SecretVersionsDeleted{Path: "db/creds", Versions: []int{3}}),
		mustEvent(&events.SecretVersionsDestroyed{Path: "db/creds", Versions: []int{1}}),
		mustEvent(&events.SecretVersionsDestroyed{Path: "gone", Versions: []int{1}}),
		mustEvent(&events.PolicyPut{Name: "web", SpiffeIDPattern: "^spiffe://spike\\.ist/web$", PathPattern: "^web/.*$", Permissions: []string{"read", "list"}}),
	)
	file := filepath.Join(t.TempDir(), "spike.db")
	if err := Export(ctx, src.proj, file, src.root); err != nil {
		t.Fatal(err)
	}
	exported, err := Read(ctx, file, src.root)
	if err != nil {
		t.Fatal(err)
	}
	// Destroyed versions have no place in SPIKE's format; a path left with
	// none is left out.
	if len(exported.Secrets) != 2 || exported.Secrets[0].Path != "db/creds" || exported.Secrets[1].Path != "web/key" {
		t.Fatalf("exported secrets = %+v", exported.Secrets)
	}
	db := exported.Secrets[0]
	if len(db.Versions) != 2 || db.Versions[0].Version != 2 || db.Versions[1].Deleted == nil || db.Metadata.CurrentVersion != 2 {
		t.Fatalf("db/creds exported as %+v", db)
	}
	if db.Versions[0].Data["pw"] != "two" || db.Versions[1].Data["pw"] != "three" {
		t.Fatal("exported data differs")
	}

	dst := newStore(t, 9)
	imp, err := Import(ctx, dst.log, dst.proj, file, src.root, "spiffe://spike.ist/spike/pilot/role/superuser")
	if err != nil {
		t.Fatal(err)
	}
	if imp.Secrets != 2 || imp.Versions != 3 || imp.Policies != 1 {
		t.Fatalf("imported %+v", imp)
	}
	first, err := dst.log.Get(ctx, 1)
	if err != nil || first.Type != "system.imported" {
		t.Fatalf("first event = %s, %v", first.Type, err)
	}
	if err := dst.proj.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	again, err := SnapshotOf(ctx, dst.proj)
	if err != nil {
		t.Fatal(err)
	}
	// Versions, data and original times survive; metadata times are the
	// import's own.
	for i := range again.Secrets {
		again.Secrets[i].Metadata.Created, again.Secrets[i].Metadata.Updated = exported.Secrets[i].Metadata.Created, exported.Secrets[i].Metadata.Updated
	}
	for i := range again.Policies {
		again.Policies[i].Created, again.Policies[i].Updated = exported.Policies[i].Created, exported.Policies[i].Updated
	}
	if !reflect.DeepEqual(again, exported) {
		t.Fatalf("after import:\n%+v\nwant\n%+v", again, exported)
	}

	// A second import would overwrite: refused, nothing appended.
	size := dst.log.Size()
	if _, err := Import(ctx, dst.log, dst.proj, file, src.root, "x"); err == nil {
		t.Fatal("conflicting import accepted")
	}
	other := newStore(t, 3)
	if _, err := Import(ctx, other.log, other.proj, file, bytes.Repeat([]byte{2}, 32), "x"); err == nil {
		t.Fatal("import with the wrong root key accepted")
	}
	if dst.log.Size() != size {
		t.Fatalf("refused import appended %d events", dst.log.Size()-size)
	}
}

// TestImportRefusesUnnameablePaths: SPIKE v0.8 stores "/a/b" as written,
// spike's API refuses it; the import says which path and what to do, and
// appends nothing.
func TestImportRefusesUnnameablePaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct{ path, want string }{
		{"/db/creds", `secret "/db/creds": spike cannot store this path (path: must not start with '/' (did you mean "db/creds"?))`},
		{"db//creds", `did you mean "db/creds"?`},
		{"db/creds/", `must not end with '/'`},
	} {
		key := bytes.Repeat([]byte{4}, 32)
		file := filepath.Join(t.TempDir(), "spike.db")
		snap := Snapshot{Secrets: []Secret{
			{Path: "fine", Metadata: Metadata{CurrentVersion: 1, OldestVersion: 1}, Versions: []Version{{Version: 1, Data: map[string]string{"k": "v"}, Created: time.Unix(1, 0).UTC()}}},
			{Path: tc.path, Metadata: Metadata{CurrentVersion: 1, OldestVersion: 1}, Versions: []Version{{Version: 1, Data: map[string]string{"k": "v"}, Created: time.Unix(1, 0).UTC()}}},
		}}
		if err := Write(ctx, file, key, snap); err != nil {
			t.Fatal(err)
		}
		dst := newStore(t, 5)
		_, err := Import(ctx, dst.log, dst.proj, file, key, "x")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "rename it in SPIKE first") {
			t.Errorf("import of %q: %v, want an error containing %q", tc.path, err, tc.want)
		}
		if dst.log.Size() != 0 {
			t.Errorf("import of %q appended %d events", tc.path, dst.log.Size())
		}
	}
}
