package spikedb

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spikeDDL is SPIKE v0.8's schema as the reference documents it, kept apart
// from the package's copy so the tests check the package against it.
const spikeDDL = `
CREATE TABLE IF NOT EXISTS policies (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    encrypted_spiffe_id_pattern BLOB NOT NULL,
    encrypted_path_pattern BLOB NOT NULL,
    encrypted_permissions BLOB NOT NULL,
    created_time INTEGER NOT NULL,
    updated_time INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS secrets (
    path TEXT NOT NULL,
    version INTEGER NOT NULL,
    nonce BLOB NOT NULL,
    encrypted_data BLOB NOT NULL,
    created_time DATETIME NOT NULL,
    deleted_time DATETIME,
    PRIMARY KEY (path, version)
);
CREATE TABLE IF NOT EXISTS secret_metadata (
    path TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    encrypted_current_version BLOB NOT NULL,
    encrypted_oldest_version BLOB NOT NULL,
    encrypted_created_time BLOB NOT NULL,
    encrypted_updated_time BLOB NOT NULL,
    encrypted_max_versions BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_secrets_path ON secrets(path);
CREATE INDEX IF NOT EXISTS idx_secrets_created_time ON secrets(created_time);
`

func randomKey(t testing.TB) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func gcm(t testing.TB, key []byte) cipher.AEAD {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return aead
}

func ptr(t time.Time) *time.Time { return &t }

// sampleSnapshot has secrets with live, deleted and fully deleted versions,
// times in several zones with nanoseconds, and policies.
func sampleSnapshot() Snapshot {
	east := time.FixedZone("east", 5*3600+1800)
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	return Snapshot{
		Secrets: []Secret{
			{
				Path: "apps/db/creds",
				Metadata: Metadata{
					CurrentVersion: 3, OldestVersion: 1, MaxVersions: 10,
					Created: t0, Updated: t0.Add(2*time.Hour + 500*time.Millisecond),
				},
				Versions: []Version{
					{Version: 1, Data: map[string]string{"user": "admin", "pass": "hunter2"}, Created: t0},
					{Version: 2, Data: map[string]string{"pass": "ünïcødé <&>\"\n"}, Created: t0.Add(time.Hour).In(east),
						Deleted: ptr(t0.Add(90 * time.Minute).In(east))},
					{Version: 3, Data: map[string]string{}, Created: t0.Add(2 * time.Hour)},
				},
			},
			{
				Path: "gone",
				Metadata: Metadata{
					CurrentVersion: 0, OldestVersion: 0, MaxVersions: 3,
					Created: time.Unix(1, 0), Updated: time.Unix(2, 0),
				},
				Versions: []Version{
					{Version: 4, Data: map[string]string{"k": "v"}, Created: time.Unix(1, 999), Deleted: ptr(time.Unix(2, 1))},
				},
			},
		},
		Policies: []Policy{
			{
				Name: "db-readers", SpiffeIDPattern: `^spiffe://example\.org/app/.*$`,
				PathPattern: `^apps/db/.*$`, Permissions: []string{"read", "list"},
				Created: t0, Updated: t0.Add(time.Minute),
			},
			{Name: "nothing", SpiffeIDPattern: "x", PathPattern: "y", Created: time.Unix(0, 0), Updated: time.Unix(0, 0)},
		},
	}
}

// normalize turns s into what Read returns for it: UTC times, whole seconds
// where SPIKE keeps seconds, non-nil values.
func normalize(s Snapshot) Snapshot {
	var out Snapshot
	for _, sec := range s.Secrets {
		m := sec.Metadata
		m.Created = time.Unix(m.Created.Unix(), 0).UTC()
		m.Updated = time.Unix(m.Updated.Unix(), 0).UTC()
		n := Secret{Path: sec.Path, Metadata: m}
		for _, v := range sec.Versions {
			nv := Version{Version: v.Version, Data: map[string]string{}, Created: v.Created.UTC()}
			for k, val := range v.Data {
				nv.Data[k] = val
			}
			if v.Deleted != nil {
				nv.Deleted = ptr(v.Deleted.UTC())
			}
			n.Versions = append(n.Versions, nv)
		}
		out.Secrets = append(out.Secrets, n)
	}
	for _, p := range s.Policies {
		p.Created = time.Unix(p.Created.Unix(), 0).UTC()
		p.Updated = time.Unix(p.Updated.Unix(), 0).UTC()
		if len(p.Permissions) == 0 {
			p.Permissions = nil
		}
		out.Policies = append(out.Policies, p)
	}
	return out
}

func writeSample(t *testing.T, key []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spike.db")
	if err := Write(context.Background(), path, key, sampleSnapshot()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return path
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	sample := sampleSnapshot()
	tests := []struct {
		name string
		snap Snapshot
	}{
		{"empty", Snapshot{}},
		{"sample", sample},
		{"policies only", Snapshot{Policies: sample.Policies}},
		{"nil values", Snapshot{Secrets: []Secret{{
			Path:     "p",
			Metadata: Metadata{CurrentVersion: 1, OldestVersion: 1},
			Versions: []Version{{Version: 1, Created: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}},
		}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := randomKey(t)
			path := filepath.Join(t.TempDir(), "spike.db")
			if err := Write(context.Background(), path, key, tt.snap); err != nil {
				t.Fatalf("Write: %v", err)
			}
			got, err := Read(context.Background(), path, key)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if want := normalize(tt.snap); !reflect.DeepEqual(got, want) {
				t.Errorf("Read after Write:\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestWriteFileMode(t *testing.T) {
	t.Parallel()
	path := writeSample(t, randomKey(t))
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode = %v, want 0600", mode)
	}
	for _, p := range sidecars(path) {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}

// openRaw opens a database file directly, as SPIKE would, outside the
// package's own code.
func openRaw(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// tableInfo is one row of PRAGMA table_info.
type tableInfo struct {
	Name    string
	Type    string
	NotNull bool
	PK      int
}

func TestFormatMatchesSpike(t *testing.T) {
	t.Parallel()
	want := map[string][]tableInfo{
		"policies": {
			{"name", "TEXT", false, 1},
			{"nonce", "BLOB", true, 0},
			{"encrypted_spiffe_id_pattern", "BLOB", true, 0},
			{"encrypted_path_pattern", "BLOB", true, 0},
			{"encrypted_permissions", "BLOB", true, 0},
			{"created_time", "INTEGER", true, 0},
			{"updated_time", "INTEGER", true, 0},
		},
		"secrets": {
			{"path", "TEXT", true, 1},
			{"version", "INTEGER", true, 2},
			{"nonce", "BLOB", true, 0},
			{"encrypted_data", "BLOB", true, 0},
			{"created_time", "DATETIME", true, 0},
			{"deleted_time", "DATETIME", false, 0},
		},
		"secret_metadata": {
			{"path", "TEXT", false, 1},
			{"nonce", "BLOB", true, 0},
			{"encrypted_current_version", "BLOB", true, 0},
			{"encrypted_oldest_version", "BLOB", true, 0},
			{"encrypted_created_time", "BLOB", true, 0},
			{"encrypted_updated_time", "BLOB", true, 0},
			{"encrypted_max_versions", "BLOB", true, 0},
		},
	}
	key := randomKey(t)
	db := openRaw(t, writeSample(t, key))
	for table, cols := range want {
		t.Run(table, func(t *testing.T) {
			t.Parallel()
			if got := pragmaTableInfo(t, db, table); !reflect.DeepEqual(got, cols) {
				t.Errorf("table_info(%s):\n got %+v\nwant %+v", table, got, cols)
			}
		})
	}
	t.Run("indexes", func(t *testing.T) {
		t.Parallel()
		for idx, col := range map[string]string{"idx_secrets_path": "path", "idx_secrets_created_time": "created_time"} {
			var tbl, got string
			q := `SELECT m.tbl_name, i.name FROM sqlite_master m, pragma_index_info(m.name) i WHERE m.type = 'index' AND m.name = ?`
			if err := db.QueryRow(q, idx).Scan(&tbl, &got); err != nil || tbl != "secrets" || got != col {
				t.Errorf("index %s: on %s(%s), %v; want secrets(%s)", idx, tbl, got, err, col)
			}
		}
	})
	t.Run("secret row", func(t *testing.T) { t.Parallel(); checkSecretRow(t, db, key) })
	t.Run("metadata row", func(t *testing.T) { t.Parallel(); checkMetadataRow(t, db, key) })
	t.Run("policy row", func(t *testing.T) { t.Parallel(); checkPolicyRow(t, db, key) })
}

func pragmaTableInfo(t *testing.T, db *sql.DB, table string) []tableInfo {
	t.Helper()
	rows, err := db.Query(`SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []tableInfo
	for rows.Next() {
		var c tableInfo
		if err := rows.Scan(&c.Name, &c.Type, &c.NotNull, &c.PK); err != nil {
			t.Fatal(err)
		}
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// checkSecretRow decrypts version 2 of apps/db/creds by hand: AES-GCM under
// the root key, the row's nonce, no AAD, JSON inside; times as go-sqlite3
// DATETIME text.
func checkSecretRow(t *testing.T, db *sql.DB, key []byte) {
	var nonce, sealed []byte
	var ctype, created, dtype, deleted string
	q := `SELECT nonce, encrypted_data, typeof(created_time), CAST(created_time AS TEXT),
		typeof(deleted_time), CAST(deleted_time AS TEXT)
		FROM secrets WHERE path = 'apps/db/creds' AND version = 2`
	if err := db.QueryRow(q).Scan(&nonce, &sealed, &ctype, &created, &dtype, &deleted); err != nil {
		t.Fatal(err)
	}
	if len(nonce) != 12 {
		t.Errorf("nonce is %d bytes", len(nonce))
	}
	plain, err := gcm(t, key).Open(nil, nonce, sealed, nil)
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil || data["pass"] != "ünïcødé <&>\"\n" || len(data) != 1 {
		t.Errorf("data = %v, %v", data, err)
	}
	if ctype != "text" || created != "2024-05-06 08:08:09.123456789+00:00" {
		t.Errorf("created_time = %s %q", ctype, created)
	}
	if dtype != "text" || deleted != "2024-05-06 08:38:09.123456789+00:00" {
		t.Errorf("deleted_time = %s %q", dtype, deleted)
	}
	var nulls int
	if err := db.QueryRow(`SELECT count(*) FROM secrets WHERE deleted_time IS NULL`).Scan(&nulls); err != nil || nulls != 2 {
		t.Errorf("rows with NULL deleted_time = %d, %v; want 2", nulls, err)
	}
}

// checkMetadataRow decrypts apps/db/creds's metadata by hand: decimal text
// under the base nonce XOR a per-field salt.
func checkMetadataRow(t *testing.T, db *sql.DB, key []byte) {
	var base []byte
	fields := []struct {
		column, salt, want string
		sealed             []byte
	}{
		{"encrypted_current_version", "current_ver_", "3", nil},
		{"encrypted_oldest_version", "oldest_ver__", "1", nil},
		{"encrypted_max_versions", "max_versions", "10", nil},
		{"encrypted_created_time", "created_tim_", strconv.FormatInt(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC).Unix(), 10), nil},
		{"encrypted_updated_time", "updated_tim_", strconv.FormatInt(time.Date(2024, 5, 6, 9, 8, 9, 0, time.UTC).Unix(), 10), nil},
	}
	dest := []any{&base}
	cols := []string{"nonce"}
	for i := range fields {
		dest = append(dest, &fields[i].sealed)
		cols = append(cols, fields[i].column)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM secret_metadata WHERE path = 'apps/db/creds'"
	if err := db.QueryRow(q).Scan(dest...); err != nil {
		t.Fatal(err)
	}
	aead := gcm(t, key)
	for _, f := range fields {
		nonce := make([]byte, 12)
		for i := range nonce {
			nonce[i] = base[i] ^ f.salt[i]
		}
		plain, err := aead.Open(nil, nonce, f.sealed, nil)
		if err != nil || string(plain) != f.want {
			t.Errorf("%s = %q, %v; want %q", f.column, plain, err, f.want)
		}
	}
}

// checkPolicyRow decrypts db-readers by hand: one nonce for all three
// fields, permissions joined with ",", times as integer Unix seconds.
func checkPolicyRow(t *testing.T, db *sql.DB, key []byte) {
	var nonce, id, path, perms []byte
	var created, updated int64
	var ctype string
	q := `SELECT nonce, encrypted_spiffe_id_pattern, encrypted_path_pattern,
		encrypted_permissions, created_time, updated_time, typeof(created_time)
		FROM policies WHERE name = 'db-readers'`
	if err := db.QueryRow(q).Scan(&nonce, &id, &path, &perms, &created, &updated, &ctype); err != nil {
		t.Fatal(err)
	}
	aead := gcm(t, key)
	for _, f := range []struct {
		sealed []byte
		want   string
	}{{id, `^spiffe://example\.org/app/.*$`}, {path, `^apps/db/.*$`}, {perms, "read,list"}} {
		plain, err := aead.Open(nil, nonce, f.sealed, nil)
		if err != nil || string(plain) != f.want {
			t.Errorf("policy field = %q, %v; want %q", plain, err, f.want)
		}
	}
	t0 := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	if ctype != "integer" || created != t0.Unix() || updated != t0.Add(time.Minute).Unix() {
		t.Errorf("times = %s %d %d", ctype, created, updated)
	}
}

// spikeDB builds a database as SPIKE v0.8 would have written it: its DDL,
// WAL mode, DATETIME values in the forms go-sqlite3 writes or accepts.
type spikeDB struct {
	t    *testing.T
	db   *sql.DB
	aead cipher.AEAD
}

func newSpikeDB(t *testing.T, path string, key []byte) *spikeDB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(spikeDDL); err != nil {
		t.Fatal(err)
	}
	return &spikeDB{t: t, db: db, aead: gcm(t, key)}
}

func (s *spikeDB) seal(nonce []byte, plain string) []byte {
	return s.aead.Seal(nil, nonce, []byte(plain), nil)
}

func (s *spikeDB) nonce() []byte {
	n := make([]byte, 12)
	if _, err := rand.Read(n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

func (s *spikeDB) exec(q string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(q, args...); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
}

func (s *spikeDB) metadata(path string, cur, old, maxv int, created, updated int64) {
	base := s.nonce()
	field := func(salt, v string) []byte {
		n := make([]byte, 12)
		for i := range n {
			n[i] = base[i] ^ salt[i]
		}
		return s.seal(n, v)
	}
	s.exec(`INSERT INTO secret_metadata (path, nonce, encrypted_current_version, encrypted_oldest_version,
		encrypted_created_time, encrypted_updated_time, encrypted_max_versions) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		path, base,
		field("current_ver_", strconv.Itoa(cur)), field("oldest_ver__", strconv.Itoa(old)),
		field("created_tim_", strconv.FormatInt(created, 10)), field("updated_tim_", strconv.FormatInt(updated, 10)),
		field("max_versions", strconv.Itoa(maxv)))
}

func (s *spikeDB) version(path string, v int, data string, created, deleted any) {
	n := s.nonce()
	s.exec(`INSERT INTO secrets (path, version, nonce, encrypted_data, created_time, deleted_time)
		VALUES (?, ?, ?, ?, ?, ?)`, path, v, n, s.seal(n, data), created, deleted)
}

func (s *spikeDB) policy(name, id, path, perms string, created, updated int64) {
	n := s.nonce()
	s.exec(`INSERT INTO policies (name, nonce, encrypted_spiffe_id_pattern, encrypted_path_pattern,
		encrypted_permissions, created_time, updated_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		name, n, s.seal(n, id), s.seal(n, path), s.seal(n, perms), created, updated)
}

func (s *spikeDB) close() {
	if err := s.db.Close(); err != nil {
		s.t.Fatal(err)
	}
}

func TestReadSpikeWrittenDB(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	path := filepath.Join(t.TempDir(), "spike.db")
	s := newSpikeDB(t, path, key)
	s.metadata("a/b", 2, 1, 10, 1700000000, 1700000100)
	s.version("a/b", 1, `{"k":"v1"}`, "2024-03-01 10:20:30.123456789-07:00", "2024-03-02T08:00:00Z")
	s.version("a/b", 2, `{"k":"v2","x":"y"}`, "2024-03-03 09:00:00", nil)
	s.metadata("c", 1, 1, 5, 1600000000, 1600000000)
	s.version("c", 1, `{}`, int64(1709500000), []byte("2024-03-04 12:00:00.5+02:00"))
	s.version("c", 2, `null`, "2024-03-05T01:02:03.000000004+00:00", nil) // pruned by SPIKE, still stored
	s.policy("p1", "^spiffe://x/.*$", ".*", "read, write,super", 1700000000, 1700000001)
	s.policy("p0", "a", "b", "", 1, 2)
	s.close()

	got, err := Read(context.Background(), path, key)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	want := Snapshot{
		Secrets: []Secret{
			{
				Path: "a/b",
				Metadata: Metadata{CurrentVersion: 2, OldestVersion: 1, MaxVersions: 10,
					Created: time.Unix(1700000000, 0).UTC(), Updated: time.Unix(1700000100, 0).UTC()},
				Versions: []Version{
					{Version: 1, Data: map[string]string{"k": "v1"},
						Created: time.Date(2024, 3, 1, 17, 20, 30, 123456789, time.UTC),
						Deleted: ptr(time.Date(2024, 3, 2, 8, 0, 0, 0, time.UTC))},
					{Version: 2, Data: map[string]string{"k": "v2", "x": "y"},
						Created: time.Date(2024, 3, 3, 9, 0, 0, 0, time.UTC)},
				},
			},
			{
				Path: "c",
				Metadata: Metadata{CurrentVersion: 1, OldestVersion: 1, MaxVersions: 5,
					Created: time.Unix(1600000000, 0).UTC(), Updated: time.Unix(1600000000, 0).UTC()},
				Versions: []Version{
					{Version: 1, Data: map[string]string{}, Created: time.Unix(1709500000, 0).UTC(),
						Deleted: ptr(time.Date(2024, 3, 4, 10, 0, 0, 500000000, time.UTC))},
					{Version: 2, Data: map[string]string{}, Created: time.Date(2024, 3, 5, 1, 2, 3, 4, time.UTC)},
				},
			},
		},
		Policies: []Policy{
			{Name: "p0", SpiffeIDPattern: "a", PathPattern: "b",
				Created: time.Unix(1, 0).UTC(), Updated: time.Unix(2, 0).UTC()},
			{Name: "p1", SpiffeIDPattern: "^spiffe://x/.*$", PathPattern: ".*",
				Permissions: []string{"read", "write", "super"},
				Created:     time.Unix(1700000000, 0).UTC(), Updated: time.Unix(1700000001, 0).UTC()},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Read:\n got %+v\nwant %+v", got, want)
	}
}

// tamper runs statements against a written database.
func tamper(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// sealedJunk is SQL for a valid ciphertext of plain under key, bound as a
// hex blob literal, with nonce.
func sealedJunk(t *testing.T, key, nonce []byte, plain string) string {
	return "x'" + hexString(gcm(t, key).Seal(nil, nonce, []byte(plain), nil)) + "'"
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	nonce := bytes.Repeat([]byte{7}, 12)
	tests := []struct {
		name    string
		prepare func(t *testing.T, key []byte) string // returns the file to read
		wantErr error                                 // nil: any error
	}{
		{"wrong key", func(t *testing.T, _ []byte) string { return writeSample(t, randomKey(t)) }, ErrWrongKey},
		{"wrong key, policies only", func(t *testing.T, _ []byte) string {
			path := filepath.Join(t.TempDir(), "spike.db")
			if err := Write(context.Background(), path, randomKey(t), Snapshot{Policies: sampleSnapshot().Policies}); err != nil {
				t.Fatal(err)
			}
			return path
		}, ErrWrongKey},
		{"other sqlite database", func(t *testing.T, _ []byte) string {
			path := filepath.Join(t.TempDir(), "other.db")
			tamper(t, path, "CREATE TABLE secrets (x)")
			return path
		}, ErrNotSpikeDB},
		{"missing column", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "ALTER TABLE policies DROP COLUMN updated_time")
			return path
		}, ErrNotSpikeDB},
		{"empty file", func(t *testing.T, _ []byte) string {
			return writeFile(t, nil)
		}, ErrNotSpikeDB},
		{"garbage", func(t *testing.T, _ []byte) string {
			return writeFile(t, bytes.Repeat([]byte("not a database "), 500))
		}, ErrNotSpikeDB},
		{"truncated", func(t *testing.T, key []byte) string {
			b, err := os.ReadFile(writeSample(t, key))
			if err != nil {
				t.Fatal(err)
			}
			return writeFile(t, b[:len(b)/2])
		}, nil},
		{"header only", func(t *testing.T, key []byte) string {
			b, err := os.ReadFile(writeSample(t, key))
			if err != nil {
				t.Fatal(err)
			}
			return writeFile(t, b[:100])
		}, nil},
		{"missing file", func(t *testing.T, _ []byte) string {
			return filepath.Join(t.TempDir(), "absent.db")
		}, os.ErrNotExist},
		{"directory", func(t *testing.T, _ []byte) string { return t.TempDir() }, ErrNotSpikeDB},
		{"bad JSON", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET nonce = x'"+hexString(nonce)+"', encrypted_data = "+
				sealedJunk(t, key, nonce, `{"pass": 12345-topsecret}`)+" WHERE version = 3")
			return path
		}, ErrCorrupt},
		{"JSON of numbers", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET nonce = x'"+hexString(nonce)+"', encrypted_data = "+
				sealedJunk(t, key, nonce, `{"pass": 12345}`)+" WHERE version = 3")
			return path
		}, ErrCorrupt},
		{"damaged ciphertext", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET encrypted_data = x'00' || encrypted_data WHERE version = 3")
			return path
		}, ErrCorrupt},
		{"short nonce", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET nonce = x'0102' WHERE version = 1")
			return path
		}, ErrCorrupt},
		{"long metadata nonce", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secret_metadata SET nonce = zeroblob(13)")
			return path
		}, ErrCorrupt},
		{"current version missing", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "DELETE FROM secrets WHERE path = 'apps/db/creds' AND version = 3")
			return path
		}, ErrCorrupt},
		{"metadata without versions", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "DELETE FROM secrets WHERE path = 'gone'")
			return path
		}, ErrCorrupt},
		{"versions without metadata", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "DELETE FROM secret_metadata WHERE path = 'gone'")
			return path
		}, ErrCorrupt},
		{"version zero", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET version = 0 WHERE path = 'gone'")
			return path
		}, ErrCorrupt},
		{"bad DATETIME text", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET created_time = 'yesterday' WHERE version = 1")
			return path
		}, ErrCorrupt},
		{"REAL DATETIME", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET deleted_time = 2460000.5 WHERE version = 1")
			return path
		}, ErrCorrupt},
		{"oversized data", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secrets SET encrypted_data = zeroblob(64*1024*1024 + 1) WHERE version = 1")
			return path
		}, ErrCorrupt},
		{"oversized metadata field", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE secret_metadata SET encrypted_max_versions = zeroblob(65)")
			return path
		}, ErrCorrupt},
		{"oversized policy field", func(t *testing.T, key []byte) string {
			path := writeSample(t, key)
			tamper(t, path, "UPDATE policies SET encrypted_permissions = zeroblob(1024*1024 + 1)")
			return path
		}, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := randomKey(t)
			path := tt.prepare(t, key)
			_, err := Read(context.Background(), path, key)
			if err == nil {
				t.Fatal("Read succeeded")
			}
			t.Logf("error: %v", err)
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Read error = %v, want %v", err, tt.wantErr)
			}
			for _, secret := range []string{"hunter2", "topsecret", "12345", "ünïcødé"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q reveals a secret value", err)
				}
			}
		})
	}
}

func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "spike.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadEmptyDatabaseAnyKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "spike.db")
	if err := Write(context.Background(), path, randomKey(t), Snapshot{}); err != nil {
		t.Fatal(err)
	}
	got, err := Read(context.Background(), path, randomKey(t))
	if err != nil || len(got.Secrets) != 0 || len(got.Policies) != 0 {
		t.Errorf("Read = %+v, %v; want empty", got, err)
	}
}

func TestReadDoesNotModify(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	path := writeSample(t, key)
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read(context.Background(), path, key); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("Read changed the file")
	}
}

func TestWriteRefusesExisting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		existing string // relative to the database path
	}{
		{"database", ""},
		{"journal", "-journal"},
		{"wal", "-wal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "spike.db")
			if err := os.WriteFile(path+tt.existing, []byte("keep me"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Write(context.Background(), path, randomKey(t), sampleSnapshot()); err == nil {
				t.Fatal("Write succeeded over an existing file")
			}
			if b, err := os.ReadFile(path + tt.existing); err != nil || string(b) != "keep me" {
				t.Errorf("existing file = %q, %v", b, err)
			}
			if tt.existing != "" {
				if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("database created: %v", err)
				}
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	t.Parallel()
	one := func(mutate func(*Secret)) Snapshot {
		s := sampleSnapshot()
		mutate(&s.Secrets[0])
		return s
	}
	withPolicy := func(mutate func(*Policy)) Snapshot {
		s := sampleSnapshot()
		mutate(&s.Policies[0])
		return s
	}
	tests := []struct {
		name    string
		key     []byte
		snap    Snapshot
		wantErr error
	}{
		{"short key", make([]byte, 16), sampleSnapshot(), nil},
		{"duplicate path", nil, func() Snapshot {
			s := sampleSnapshot()
			s.Secrets = append(s.Secrets, s.Secrets[0])
			return s
		}(), ErrInvalidSnapshot},
		{"duplicate policy", nil, func() Snapshot {
			s := sampleSnapshot()
			s.Policies = append(s.Policies, s.Policies[0])
			return s
		}(), ErrInvalidSnapshot},
		{"empty path", nil, one(func(s *Secret) { s.Path = "" }), ErrInvalidSnapshot},
		{"no versions", nil, one(func(s *Secret) { s.Versions = nil }), ErrInvalidSnapshot},
		{"versions out of order", nil, one(func(s *Secret) {
			s.Versions[0], s.Versions[1] = s.Versions[1], s.Versions[0]
		}), ErrInvalidSnapshot},
		{"duplicate version", nil, one(func(s *Secret) { s.Versions[1].Version = 1 }), ErrInvalidSnapshot},
		{"version zero", nil, one(func(s *Secret) { s.Versions[0].Version = 0 }), ErrInvalidSnapshot},
		{"current missing", nil, one(func(s *Secret) { s.Metadata.CurrentVersion = 7 }), ErrInvalidSnapshot},
		{"oldest after current", nil, one(func(s *Secret) { s.Metadata.OldestVersion = 4 }), ErrInvalidSnapshot},
		{"negative max", nil, one(func(s *Secret) { s.Metadata.MaxVersions = -1 }), ErrInvalidSnapshot},
		{"invalid UTF-8", nil, one(func(s *Secret) { s.Versions[0].Data["k"] = "\xff" }), ErrInvalidSnapshot},
		{"year 10000", nil, one(func(s *Secret) {
			s.Versions[0].Created = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		}), ErrInvalidSnapshot},
		{"comma in permission", nil, withPolicy(func(p *Policy) { p.Permissions = []string{"read,write"} }), ErrInvalidSnapshot},
		{"spaced permission", nil, withPolicy(func(p *Policy) { p.Permissions = []string{" read"} }), ErrInvalidSnapshot},
		{"empty permission", nil, withPolicy(func(p *Policy) { p.Permissions = []string{""} }), ErrInvalidSnapshot},
		{"empty policy name", nil, withPolicy(func(p *Policy) { p.Name = "" }), ErrInvalidSnapshot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := tt.key
			if key == nil {
				key = randomKey(t)
			}
			path := filepath.Join(t.TempDir(), "spike.db")
			err := Write(context.Background(), path, key, tt.snap)
			if err == nil {
				t.Fatal("Write succeeded")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Write error = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q reveals a secret value", err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("file left behind: %v", err)
			}
		})
	}
}

func TestWriteRemovesPartialFile(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	path := filepath.Join(dir, "spike.db")
	if err := Write(ctx, path, randomKey(t), sampleSnapshot()); err == nil {
		t.Fatal("Write succeeded with a canceled context")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

// TestReadLiveWAL reads a database whose last commits are still only in its
// -wal file, as a copy of a running Nexus's data directory would be.
func TestReadLiveWAL(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	path := filepath.Join(t.TempDir(), "spike.db")
	s := newSpikeDB(t, path, key)
	defer s.close()
	s.db.SetMaxOpenConns(1)
	s.exec("PRAGMA wal_autocheckpoint = 0")
	s.metadata("live", 1, 1, 10, 100, 200)
	s.version("live", 1, `{"a":"b"}`, "2025-01-02 03:04:05+00:00", nil)
	if info, err := os.Stat(path + "-wal"); err != nil || info.Size() == 0 {
		t.Fatalf("no WAL content: %v", err)
	}
	got, err := Read(context.Background(), path, key)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(got.Secrets) != 1 || got.Secrets[0].Versions[0].Data["a"] != "b" {
		t.Errorf("Read = %+v, want the secret committed to the WAL", got)
	}
}

// TestOddPath writes and reads a file whose name needs escaping in a SQLite
// URI.
func TestOddPath(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	dir := filepath.Join(t.TempDir(), "a dir?x=1#frag%20")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "spike ?.db")
	if err := Write(context.Background(), path, key, sampleSnapshot()); err != nil {
		t.Fatalf("Write: %v", err)
	}
	got, err := Read(context.Background(), path, key)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if want := normalize(sampleSnapshot()); !reflect.DeepEqual(got, want) {
		t.Errorf("Read = %+v, want %+v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v, %v; want only the database", entries, err)
	}
}
