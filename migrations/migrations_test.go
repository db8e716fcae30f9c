package migrations

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver

	"github.com/spikeledger/spike/events"
)

// openDB opens a fresh, empty SQLite file in a temporary directory.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	return db
}

func userVersion(t *testing.T, db *sql.DB) int {
	t.Helper()
	var v int
	if err := db.QueryRow("PRAGMA user_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// schemaOf returns every schema object's SQL, sorted, for comparing a
// database's shape before and after an operation.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// noPanic runs f and turns a panic into a test failure, so one panicking
// case does not take the rest of the package's tests down with it.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s panicked: %v", what, r)
		}
	}()
	f()
}

// TestMigrationsNumbered: the numbering All relies on and documents.
func TestMigrationsNumbered(t *testing.T) {
	t.Parallel()
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no migrations embedded")
	}
	if Latest() != len(all) {
		t.Fatalf("Latest() = %d, want %d", Latest(), len(all))
	}
	name := regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)
	for i, m := range all {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d", i, m.Version)
		}
		sm := name.FindStringSubmatch(m.Name)
		if sm == nil {
			t.Errorf("migration %q is not named NNNN_name.sql", m.Name)
		} else if sm[1] != fmt.Sprintf("%04d", m.Version) {
			t.Errorf("migration %q numbered %d", m.Name, m.Version)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %s is empty", m.Name)
		}
	}
	// Every file in sql/ is embedded: a migration saved with another
	// extension would silently never run.
	ents, err := os.ReadDir("sql")
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(all) {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("sql/ holds %v, but %d migrations are embedded", names, len(all))
	}
}

// pinnedMigrations holds the SHA-256 of every migration. A migration that
// has run against someone's database must never change: that database is
// already at its version and would keep the old layout under the new
// number. Change the schema with a new migration, and pin it here.
var pinnedMigrations = map[string]string{
	"0001_core.sql":             "8d27eb281b725f1173ae0a80ec2d011f5439ce739e6f06676be2c79bb22f0a93",
	"0002_access_history.sql":   "31ff7854f3da82ea18886dd984a03e997f740979995a818a67800b08a4f600cd",
	"0003_kv_metadata.sql":      "d60af46e8b0987b927621791f08596d54a60d91732c4082539d99f5b56a4e031",
	"0004_value_key.sql":        "17e321ae2c8172d41e67c0ba64f3763889de3b62c59333c666fc1997744e6f3d",
	"0005_history_filters.sql":  "2551c2e426cce8b14375b28910eb546866c5ca5494c521a7f02f876185e7e44a",
	"0006_history_versions.sql": "f20c2d16c05f1358a9895c5d06850623d56166a07c3d3bd83a9f87e885ff3ef4",
	"0007_history_epochs.sql":   "e2290073d708357a81edfaa357b2ce768689e1ca82283a07195855f728e07fa0",
}

func TestMigrationsNeverEdited(t *testing.T) {
	t.Parallel()
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range all {
		seen[m.Name] = true
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(m.SQL)))
		switch want, ok := pinnedMigrations[m.Name]; {
		case !ok:
			t.Errorf("new migration %s: pin it in pinnedMigrations as %q", m.Name, sum)
		case sum != want:
			t.Errorf("migration %s was edited (sha256 %s, pinned %s): databases already at version %d would never see the change; add a new migration instead",
				m.Name, sum, want, m.Version)
		}
	}
	for name := range pinnedMigrations {
		if !seen[name] {
			t.Errorf("pinned migration %s is gone", name)
		}
	}
}

// fixtureRow is a row an earlier release could have left behind: inserted
// once the schema is at version since, and expected, unchanged or with the
// defaults later migrations add, once the database is at the latest.
type fixtureRow struct {
	name   string
	since  int
	insert string
	args   []any
	// check selects the row at the latest schema; want is the result.
	check string
	want  []any
}

var fixtureRows = []fixtureRow{
	{name: "state", since: 1,
		insert: "INSERT INTO projection_state (id, log_origin, last_seq, last_leaf, key_check) VALUES (1, ?, ?, ?, ?)",
		args:   []any{"spike.ist/eventlog/00", 42, make([]byte, 32), []byte{1, 2, 3}},
		check:  "SELECT log_origin, last_seq, last_leaf, key_check FROM projection_state WHERE id = 1",
		want:   []any{"spike.ist/eventlog/00", int64(42), make([]byte, 32), []byte{1, 2, 3}}},
	{name: "secret version", since: 1,
		insert: "INSERT INTO secrets (path, version, value, created_time, deleted_time, destroyed, seq) VALUES ('a/b', 3, ?, 100, 200, 0, 7)",
		args:   []any{[]byte("sealed")},
		check:  "SELECT value, created_time, deleted_time, destroyed, seq FROM secrets WHERE path = 'a/b' AND version = 3",
		want:   []any{[]byte("sealed"), int64(100), int64(200), int64(0), int64(7)}},
	{name: "destroyed version", since: 1,
		insert: "INSERT INTO secrets (path, version, value, created_time, destroyed, seq) VALUES ('a/b', 1, NULL, 50, 1, 2)",
		check:  "SELECT value, deleted_time, destroyed FROM secrets WHERE path = 'a/b' AND version = 1",
		want:   []any{nil, nil, int64(1)}},
	{name: "metadata from before kv settings", since: 1,
		insert: "INSERT INTO secret_metadata (path, current_version, oldest_version, max_versions, created_time, updated_time) VALUES ('a/b', 3, 1, 10, 50, 200)",
		check: `SELECT current_version, oldest_version, max_versions, created_time, updated_time,
			cas_required, delete_version_after, custom_metadata FROM secret_metadata WHERE path = 'a/b'`,
		// The columns migration 3 adds take their defaults.
		want: []any{int64(3), int64(1), int64(10), int64(50), int64(200), int64(0), int64(0), "{}"}},
	{name: "policy", since: 1,
		insert: "INSERT INTO policies (name, details, created_time, updated_time, seq) VALUES ('web', ?, 1, 2, 3)",
		args:   []any{[]byte("sealed details")},
		check:  "SELECT details, created_time, updated_time, seq FROM policies WHERE name = 'web'",
		want:   []any{[]byte("sealed details"), int64(1), int64(2), int64(3)}},
	{name: "interned names", since: 2,
		insert: "INSERT INTO names (id, name) VALUES (1, 'spiffe://x/a'), (2, 'secret.read'), (3, 'a/b'), (4, 'ok')",
		check:  "SELECT group_concat(id || '=' || name, ' ') FROM (SELECT id, name FROM names ORDER BY id)",
		want:   []any{"1=spiffe://x/a 2=secret.read 3=a/b 4=ok"}},
	{name: "access history", since: 2,
		insert: `INSERT INTO access_history (seq, time, actor, request_id, type, target, version, outcome, detail)
			VALUES (7, 100, 1, 'r1', 2, 3, 3, 4, 'versions=3')`,
		check: "SELECT time, actor, request_id, type, target, version, outcome, detail, versions FROM access_history WHERE seq = 7",
		// The column migration 6 adds takes its default.
		want: []any{int64(100), int64(1), "r1", int64(2), int64(3), int64(3), int64(4), "versions=3", ""}},
	{name: "metadata with kv settings", since: 3,
		insert: `INSERT INTO secret_metadata (path, current_version, oldest_version, max_versions, created_time, updated_time,
			cas_required, delete_version_after, custom_metadata) VALUES ('c', 1, 1, 4, 5, 6, 1, 3600000000000, '{"team":"db"}')`,
		check: "SELECT max_versions, cas_required, delete_version_after, custom_metadata FROM secret_metadata WHERE path = 'c'",
		want:  []any{int64(4), int64(1), int64(3600000000000), `{"team":"db"}`}},
	{name: "access history with versions", since: 6,
		insert: `INSERT INTO access_history (seq, time, actor, request_id, type, target, version, outcome, detail, versions)
			VALUES (8, 101, 1, 'r2', 2, 3, 1, 4, 'versions=1,2', '1,2')`,
		check: "SELECT version, versions FROM access_history WHERE seq = 8",
		want:  []any{int64(1), "1,2"}},
	{name: "history row of one path of an event", since: 6,
		insert: "INSERT INTO access_history_paths (target, seq, version, versions, detail) VALUES (3, 8, 5, '5', 'wrote version 5')",
		check:  "SELECT version, versions, detail FROM access_history_paths WHERE target = 3 AND seq = 8",
		want:   []any{int64(5), "5", "wrote version 5"}},
	{name: "removed path", since: 6,
		insert: "INSERT INTO removed_paths (path, last_version) VALUES ('gone', 7)",
		check:  "SELECT last_version FROM removed_paths WHERE path = 'gone'",
		want:   []any{int64(7)}},
}

func scanRow(t *testing.T, db *sql.DB, query string, n int) []any {
	t.Helper()
	got := make([]any, n)
	ptrs := make([]any, n)
	for i := range got {
		ptrs[i] = &got[i]
	}
	if err := db.QueryRow(query).Scan(ptrs...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return got
}

// TestApplyFromEveryVersion builds a database as each earlier release left
// it, with rows in it, and upgrades it to the latest schema.
func TestApplyFromEveryVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	latest := Latest()
	for _, r := range fixtureRows {
		if r.since < 1 || r.since > latest {
			t.Fatalf("fixture row %q is for version %d of %d", r.name, r.since, latest)
		}
	}
	for k := 0; k <= latest; k++ {
		t.Run(fmt.Sprintf("from_%d", k), func(t *testing.T) {
			t.Parallel()
			db := openDB(t)
			from, to, err := ApplyUpTo(ctx, db, k)
			if err != nil || from != 0 || to != k {
				t.Fatalf("ApplyUpTo(%d) = %d, %d, %v", k, from, to, err)
			}
			if v := userVersion(t, db); v != k {
				t.Fatalf("user_version = %d after ApplyUpTo(%d)", v, k)
			}
			var inserted []fixtureRow
			for _, r := range fixtureRows {
				if r.since > k {
					continue
				}
				if _, err := db.Exec(r.insert, r.args...); err != nil {
					t.Fatalf("insert %s at version %d: %v", r.name, k, err)
				}
				inserted = append(inserted, r)
			}
			from, to, err = Apply(ctx, db)
			if err != nil || from != k || to != latest {
				t.Fatalf("Apply from %d = %d, %d, %v", k, from, to, err)
			}
			if v := userVersion(t, db); v != latest {
				t.Fatalf("user_version = %d, want %d", v, latest)
			}
			for _, r := range inserted {
				if got := scanRow(t, db, r.check, len(r.want)); !reflect.DeepEqual(got, r.want) {
					t.Errorf("%s after upgrade from %d:\n got %#v\nwant %#v", r.name, k, got, r.want)
				}
			}
			// The upgraded database has the same shape as a fresh one.
			fresh := openDB(t)
			if _, _, err := Apply(ctx, fresh); err != nil {
				t.Fatal(err)
			}
			if got, want := schemaOf(t, db), schemaOf(t, fresh); !reflect.DeepEqual(got, want) {
				t.Errorf("schema after upgrade from %d differs from a fresh database:\n got %q\nwant %q", k, got, want)
			}
		})
	}
}

func TestApplyTwiceIsNoOp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	if from, to, err := Apply(ctx, db); err != nil || from != 0 || to != Latest() {
		t.Fatalf("first Apply = %d, %d, %v", from, to, err)
	}
	before := schemaOf(t, db)
	if from, to, err := Apply(ctx, db); err != nil || from != Latest() || to != Latest() {
		t.Fatalf("second Apply = %d, %d, %v", from, to, err)
	}
	if after := schemaOf(t, db); !reflect.DeepEqual(before, after) {
		t.Fatalf("second Apply changed the schema:\n%q\n%q", before, after)
	}
	if v := userVersion(t, db); v != Latest() {
		t.Fatalf("user_version = %d", v)
	}
}

func TestApplyRefusesNewerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	if _, _, err := Apply(ctx, db); err != nil {
		t.Fatal(err)
	}
	newer := Latest() + 1
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", newer)); err != nil {
		t.Fatal(err)
	}
	before := schemaOf(t, db)
	from, _, err := Apply(ctx, db)
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Apply on a version %d database: %v, want an error mentioning \"newer\"", newer, err)
	}
	if from != newer {
		t.Errorf("from = %d, want %d", from, newer)
	}
	if v := userVersion(t, db); v != newer {
		t.Errorf("user_version changed to %d", v)
	}
	if after := schemaOf(t, db); !reflect.DeepEqual(before, after) {
		t.Errorf("refused Apply changed the schema")
	}
}

// TestApplyUpToBelowCurrent: asking for a version the database is already
// past changes nothing (a migration is never undone) and must not panic.
func TestApplyUpToBelowCurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	if _, _, err := Apply(ctx, db); err != nil {
		t.Fatal(err)
	}
	before := schemaOf(t, db)
	noPanic(t, "ApplyUpTo(1) on a database at the latest version", func() {
		from, to, err := ApplyUpTo(ctx, db, 1)
		if err == nil && (from != Latest() || to != Latest()) {
			t.Errorf("ApplyUpTo(1) = %d, %d, nil; want %d, %d", from, to, Latest(), Latest())
		}
	})
	if v := userVersion(t, db); v != Latest() {
		t.Errorf("user_version = %d, want %d", v, Latest())
	}
	if after := schemaOf(t, db); !reflect.DeepEqual(before, after) {
		t.Errorf("schema changed")
	}
}

// TestFailedMigrationLeavesWholeVersion: a migration that fails part-way
// is rolled back with its version, so the database stays at the last
// whole version and a later Apply can retry.
func TestFailedMigrationLeavesWholeVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	if _, _, err := ApplyUpTo(ctx, db, 1); err != nil {
		t.Fatal(err)
	}
	// Migration 2 creates access_history, then two indexes on it; an index
	// of that name already on another table makes its last statement fail.
	if _, err := db.Exec("CREATE INDEX access_history_actor ON policies (seq)"); err != nil {
		t.Fatal(err)
	}
	from, to, err := Apply(ctx, db)
	if err == nil || !strings.Contains(err.Error(), "0002") {
		t.Fatalf("Apply = %d, %d, %v; want migration 0002 to fail", from, to, err)
	}
	if to != 1 {
		t.Errorf("to = %d, want 1", to)
	}
	if v := userVersion(t, db); v != 1 {
		t.Fatalf("user_version = %d after a failed migration 2", v)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name IN ('access_history', 'access_history_target')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("failed migration 2 left %d of its objects behind", n)
	}
	if _, err := db.Exec("DROP INDEX access_history_actor"); err != nil {
		t.Fatal(err)
	}
	if from, to, err := Apply(ctx, db); err != nil || from != 1 || to != Latest() {
		t.Fatalf("retry = %d, %d, %v", from, to, err)
	}
}

func TestUpcast(t *testing.T) {
	t.Parallel()
	policyCur, _ := events.CurrentSchema("policy.put")
	for _, tc := range []struct {
		name    string
		typ     string
		schema  uint32
		payload string
		// want is the upcast payload, compared as JSON; "" expects an
		// error mentioning wantErr.
		want    string
		wantErr string
	}{
		{name: "v1 permissions split", typ: "policy.put", schema: 1,
			payload: `{"name":"web","spiffe_id_pattern":"^a$","path_pattern":"^b$","permissions":"read,write"}`,
			want:    `{"name":"web","spiffe_id_pattern":"^a$","path_pattern":"^b$","permissions":["read","write"]}`},
		{name: "v1 spaces and empties dropped", typ: "policy.put", schema: 1,
			payload: `{"name":"p","permissions":" read , ,write,"}`,
			want:    `{"name":"p","permissions":["read","write"]}`},
		{name: "v1 single permission", typ: "policy.put", schema: 1,
			payload: `{"name":"p","permissions":"super"}`,
			want:    `{"name":"p","permissions":["super"]}`},
		{name: "v1 empty permissions", typ: "policy.put", schema: 1,
			payload: `{"name":"p","permissions":""}`,
			want:    `{"name":"p","permissions":null}`},
		{name: "v1 without permissions", typ: "policy.put", schema: 1,
			payload: `{"name":"p"}`,
			want:    `{"name":"p","permissions":null}`},
		{name: "v1 unknown fields carried over", typ: "policy.put", schema: 1,
			payload: `{"name":"p","permissions":"read","actor":"spiffe://x/admin","request_id":"r9","legacy":{"n":[1,2]},"z":null}`,
			want:    `{"name":"p","permissions":["read"],"actor":"spiffe://x/admin","request_id":"r9","legacy":{"n":[1,2]},"z":null}`},
		{name: "current schema untouched", typ: "policy.put", schema: policyCur,
			payload: `{"name":"p","permissions":["read"]}`,
			want:    `{"name":"p","permissions":["read"]}`},
		{name: "type without upcasters", typ: "secret.read", schema: 1,
			payload: `{"path":"a","outcome":"ok"}`,
			want:    `{"path":"a","outcome":"ok"}`},
		{name: "unknown type", typ: "no.such.type", schema: 1, payload: `{}`, wantErr: "unknown event type"},
		{name: "newer schema", typ: "policy.put", schema: policyCur + 1, payload: `{"name":"p"}`, wantErr: "newer"},
		{name: "newer schema of another type", typ: "secret.read", schema: 2, payload: `{"path":"a"}`, wantErr: "newer"},
		{name: "no upcaster from schema 0", typ: "policy.put", schema: 0, payload: `{"name":"p"}`, wantErr: "no upcaster"},
		{name: "v1 not json", typ: "policy.put", schema: 1, payload: `{"name":`, wantErr: "from schema 1"},
		{name: "v1 not an object", typ: "policy.put", schema: 1, payload: `["read"]`, wantErr: "from schema 1"},
		{name: "v1 permissions already a list", typ: "policy.put", schema: 1, payload: `{"name":"p","permissions":["read"]}`, wantErr: "comma-joined"},
		{name: "v1 permissions a number", typ: "policy.put", schema: 1, payload: `{"name":"p","permissions":7}`, wantErr: "comma-joined"},
		{name: "v1 null payload", typ: "policy.put", schema: 1, payload: `null`, wantErr: "from schema 1"},
		{name: "v1 empty payload", typ: "policy.put", schema: 1, payload: ``, wantErr: "from schema 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			noPanic(t, "Upcast", func() {
				schema, out, err := Upcast(tc.typ, tc.schema, []byte(tc.payload))
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("Upcast = %s, %v; want an error mentioning %q", out, err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if cur, _ := events.CurrentSchema(tc.typ); schema != cur {
					t.Errorf("schema = %d, want %d", schema, cur)
				}
				var got, want any
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatalf("upcast payload %s: %v", out, err)
				}
				if err := json.Unmarshal([]byte(tc.want), &want); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Upcast = %s, want %s", out, tc.want)
				}
				// What comes out decodes at the current schema.
				if _, err := events.Decode(tc.typ, schema, out); err != nil {
					t.Errorf("decode upcast payload: %v", err)
				}
			})
		})
	}
}

// TestUpcastChainsComplete: every known type reaches its current schema
// from every schema it ever had (all start at 1), and no upcaster starts at or past the
// current schema (it could never run).
func TestUpcastChainsComplete(t *testing.T) {
	t.Parallel()
	for _, typ := range events.Types() {
		cur, _ := events.CurrentSchema(typ)
		for s := uint32(1); s < cur; s++ {
			if _, ok := upcasters[upcastKey{typ, s}]; !ok {
				t.Errorf("%s: no upcaster from schema %d to %d", typ, s, s+1)
			}
		}
	}
	for k := range upcasters {
		cur, ok := events.CurrentSchema(k.typ)
		if !ok {
			t.Errorf("upcaster for unknown type %q", k.typ)
		} else if k.from >= cur {
			t.Errorf("upcaster %s from %d never runs: current schema is %d", k.typ, k.from, cur)
		}
	}
}
