package projections

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/migrations"
)

// rebuildLog records the reasons of "rebuilding projection" warnings.
type rebuildLog struct {
	mu      sync.Mutex
	reasons []string
}

func (r *rebuildLog) Enabled(context.Context, slog.Level) bool { return true }
func (r *rebuildLog) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *rebuildLog) WithGroup(string) slog.Handler            { return r }

func (r *rebuildLog) Handle(_ context.Context, rec slog.Record) error {
	if !strings.Contains(rec.Message, "rebuilding projection") {
		return nil
	}
	reason := "(no reason given)"
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			reason = a.Value.String()
		}
		return true
	})
	r.mu.Lock()
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
	return nil
}

func (r *rebuildLog) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reasons
	r.reasons = nil
	return out
}

// openLogged opens a disk projection of f's log at path with key,
// recording rebuilds.
func (f *fixture) openLogged(path string, key []byte) (*Projection, *rebuildLog) {
	f.t.Helper()
	rl := &rebuildLog{}
	p, err := Open(f.ctx, f.log, Options{Path: path, Key: key, Logger: slog.New(rl)})
	if err != nil {
		f.t.Fatalf("open %s: %v", path, err)
	}
	f.t.Cleanup(func() { p.Close() })
	return p, rl
}

func copyFile(t testing.TB, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestDigestLiveEqualsRebuilds: one log, many ways to a projection of it
// — live applies, full rebuilds on disk and in memory, catch-up after a
// reopen, catch-up from crash images — and one digest.
func TestDigestLiveEqualsRebuilds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newGen(t, f, 42)
	live := f.open("")
	g.onAppend = func(recs []eventlog.Record) {
		if err := live.Apply(f.ctx, recs); err != nil {
			t.Fatalf("live apply: %v", err)
		}
	}
	disk := filepath.Join(f.dir, "disk", "projections.db")
	crash := func(name string) string { return filepath.Join(f.dir, name, "projections.db") }

	g.run(200)
	p, rl := f.openLogged(disk, f.key) // full rebuild of 200 events
	if r := rl.take(); len(r) != 1 {
		t.Fatalf("first open of %s: rebuilds %q, want one", disk, r)
	}
	// Crash images right after the rebuild: the file alone.
	copyFile(t, disk, crash("after-rebuild"))
	g.onAppend = func(recs []eventlog.Record) {
		if err := live.Apply(f.ctx, recs); err != nil {
			t.Fatalf("live apply: %v", err)
		}
		if err := p.CatchUp(f.ctx); err != nil {
			t.Fatalf("disk catch-up: %v", err)
		}
	}
	g.run(100)
	// Crash images in the middle of live catch-up: the database with its
	// write-ahead log, as a killed process leaves them, and without it, as
	// a lost WAL leaves them (the state at the last checkpoint).
	if !exists(disk + "-wal") {
		t.Fatal("no WAL beside a projection with live applies")
	}
	// Not while the background checkpointer copies pages into the file:
	// the file alone would be half old, half new, which no crash leaves
	// without the WAL that completes it.
	p.ckpt.mu.Lock()
	copyFile(t, disk, crash("with-wal"))
	copyFile(t, disk+"-wal", crash("with-wal")+"-wal")
	copyFile(t, disk, crash("without-wal"))
	// An interrupted rebuild left its scratch file behind, next to a
	// good database and next to none.
	copyFile(t, disk, crash("stale-scratch"))
	p.ckpt.mu.Unlock()
	if err := os.WriteFile(crash("stale-scratch")+".rebuild-0badc0ffee00", []byte("half a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(crash("only-scratch")), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crash("only-scratch")+".rebuild-0badc0ffee00", bytes.Repeat([]byte{0xA5}, 8192), 0o600); err != nil {
		t.Fatal(err)
	}
	g.run(100)
	mid := p.LastApplied()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	g.onAppend = func(recs []eventlog.Record) {
		if err := live.Apply(f.ctx, recs); err != nil {
			t.Fatalf("live apply: %v", err)
		}
	}
	g.run(100) // the closed disk projection falls behind

	end := f.log.Size()
	if live.LastApplied() != end || mid >= end {
		t.Fatalf("live at %d, disk closed at %d, log at %d", live.LastApplied(), mid, end)
	}
	want := f.digest(live)
	g.check(t, live, end, &checkStats{})

	for _, tc := range []struct {
		name    string
		path    string
		rebuild bool // a full rebuild is expected, not a catch-up
	}{
		{"reopen after more appends", disk, false},
		{"fresh file", filepath.Join(f.dir, "fresh", "projections.db"), true},
		{"crash image after rebuild", crash("after-rebuild"), false},
		{"crash image with WAL", crash("with-wal"), false},
		{"crash image without WAL", crash("without-wal"), false},
		{"stale scratch file", crash("stale-scratch"), false},
		{"only a stale scratch file", crash("only-scratch"), true},
	} {
		p, rl := f.openLogged(tc.path, f.key)
		reasons := rl.take()
		if tc.rebuild != (len(reasons) > 0) {
			t.Errorf("%s: rebuilds %q, want rebuild %v", tc.name, reasons, tc.rebuild)
		}
		if p.LastApplied() != end {
			t.Errorf("%s: at %d, want %d", tc.name, p.LastApplied(), end)
		}
		if d := f.digest(p); d != want {
			t.Errorf("%s: digest differs from live", tc.name)
		}
		if stale, _ := filepath.Glob(tc.path + ".rebuild-*"); len(stale) > 0 {
			t.Errorf("%s: scratch files left: %q", tc.name, stale)
		}
		p.Close()
	}
	if d := f.digest(f.open("")); d != want {
		t.Error("memory rebuild: digest differs from live")
	}
	asOf, err := BuildAsOf(f.ctx, f.log, AsOf{}, Options{Path: filepath.Join(f.dir, "asof.db"), Key: f.key})
	if err != nil {
		t.Fatal(err)
	}
	defer asOf.Close()
	if d := f.digest(asOf); d != want {
		t.Error("as-of rebuild on disk: digest differs from live")
	}
}

// TestBuildAsOfOnDisk: an as-of view written to a file, like Open, creates
// the file's directory, and stays at its point.
func TestBuildAsOfOnDisk(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newGen(t, f, 5)
	g.run(60)
	path := filepath.Join(f.dir, "exports", "2026", "asof.db")
	p, err := BuildAsOf(f.ctx, f.log, AsOf{Seq: 30}, Options{Path: path, Key: f.key})
	if err != nil {
		t.Fatalf("BuildAsOf into a new directory: %v", err)
	}
	defer p.Close()
	f.append(f.event(&events.PolicyDeleted{Name: "web"}))
	if err := p.CatchUp(f.ctx); err != nil {
		t.Fatal(err)
	}
	g.check(t, p, 30, &checkStats{})
	if !exists(path) {
		t.Fatalf("%s not created", path)
	}
}

// TestDigestSeesDifferences: the digest is not blind — projections of
// different logs, or at different points, differ.
func TestDigestSeesDifferences(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := newGen(t, f, 7)
	g.run(50)
	at50 := f.digest(f.open(""))
	f.append(f.event(&events.SecretRead{Path: "a", Outcome: events.OutcomeNotFound}))
	if f.digest(f.open("")) == at50 {
		t.Fatal("digest unchanged by a new event")
	}
	other := newFixture(t)
	newGen(t, other, 7).run(50)
	if other.digest(other.open("")) == at50 {
		t.Fatal("same digest for two different logs")
	}
}

// builtProjection is a log with a workload and a closed disk projection
// of it, plus the reference answers of a clean rebuild.
type builtProjection struct {
	f    *fixture
	g    *gen
	path string
	want [32]byte
}

func buildProjection(t *testing.T, seed uint64) *builtProjection {
	t.Helper()
	f := newFixture(t)
	g := newGen(t, f, seed)
	g.run(150)
	b := &builtProjection{f: f, g: g, path: filepath.Join(f.dir, "p", "projections.db")}
	p := f.open(b.path)
	b.want = f.digest(p)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if exists(b.path + "-wal") {
		t.Fatalf("WAL left after close")
	}
	if d := f.digest(f.open("")); d != b.want {
		t.Fatal("disk and memory rebuilds differ")
	}
	return b
}

// sqlExec changes a closed projection database behind its back.
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestRebuildTriggers: a projection file that cannot be trusted is
// rebuilt at Open, and the rebuilt projection answers exactly as a clean
// one: never a wrong answer from the damaged file.
func TestRebuildTriggers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// damage alters the closed projection at b.path.
		damage func(t *testing.T, b *builtProjection)
		// reason must appear in the rebuild's logged reason.
		reason string
		// key, if set, is the projection key to reopen with.
		key func(t *testing.T) []byte
	}{
		{name: "garbage in the middle", reason: "", damage: func(t *testing.T, b *builtProjection) {
			overwrite(t, b.path, 0.5, 6000)
		}},
		{name: "garbage over the first pages", reason: "", damage: func(t *testing.T, b *builtProjection) {
			overwrite(t, b.path, 0, 9000)
		}},
		{name: "garbage over the last pages", reason: "", damage: func(t *testing.T, b *builtProjection) {
			overwrite(t, b.path, 1, 9000)
		}},
		{name: "truncated", reason: "", damage: func(t *testing.T, b *builtProjection) {
			fi, err := os.Stat(b.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(b.path, fi.Size()/2); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "not a database", reason: "", damage: func(t *testing.T, b *builtProjection) {
			if err := os.WriteFile(b.path, bytes.Repeat([]byte("not sqlite "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "empty file", reason: "new database", damage: func(t *testing.T, b *builtProjection) {
			if err := os.WriteFile(b.path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "last leaf altered", reason: "differs", damage: func(t *testing.T, b *builtProjection) {
			sqlExec(t, b.path, "UPDATE projection_state SET last_leaf = zeroblob(32)")
		}},
		{name: "last leaf of another event", reason: "differs", damage: func(t *testing.T, b *builtProjection) {
			rec, err := b.f.log.GetSealed(b.f.ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			sqlExec(t, b.path, fmt.Sprintf("UPDATE projection_state SET last_leaf = x'%x'", rec.Leaf[:]))
		}},
		{name: "last leaf truncated", reason: "state", damage: func(t *testing.T, b *builtProjection) {
			sqlExec(t, b.path, "UPDATE projection_state SET last_leaf = x'00'")
		}},
		{name: "last seq beyond the log", reason: "beyond", damage: func(t *testing.T, b *builtProjection) {
			sqlExec(t, b.path, "UPDATE projection_state SET last_seq = last_seq + 1000")
		}},
		{name: "state row missing", reason: "new database", damage: func(t *testing.T, b *builtProjection) {
			sqlExec(t, b.path, "DELETE FROM projection_state")
		}},
		{name: "built for another log", reason: "follows log", damage: func(t *testing.T, b *builtProjection) {
			// Same root key, same workload, another log.
			other := newFixture(t)
			newGen(t, other, 1).run(150)
			p := other.open(filepath.Join(other.dir, "projections.db"))
			p.Close()
			copyFile(t, filepath.Join(other.dir, "projections.db"), b.path)
		}},
		{name: "built with another projection key", reason: "root key", damage: func(t *testing.T, b *builtProjection) {
			otherKey, err := KeyFromRoot(bytes.Repeat([]byte{9}, 32))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(b.path); err != nil {
				t.Fatal(err)
			}
			p, err := Open(b.f.ctx, b.f.log, Options{Path: b.path, Key: otherKey, Logger: quiet})
			if err != nil {
				t.Fatal(err)
			}
			p.Close()
		}},
		{name: "reopened with another projection key", reason: "root key", key: func(t *testing.T) []byte {
			k, err := KeyFromRoot(bytes.Repeat([]byte{9}, 32))
			if err != nil {
				t.Fatal(err)
			}
			return k
		}},
		{name: "newer schema", reason: "newer", damage: func(t *testing.T, b *builtProjection) {
			sqlExec(t, b.path, "PRAGMA user_version = 999")
		}},
		{name: "rows derived by an older build", reason: fmt.Sprintf("upgraded from version %d", migrations.Rederive-1), damage: func(t *testing.T, b *builtProjection) {
			// As the schema before Rederive left it: the upgrade cannot
			// fill in what an older build's applies did not record.
			sqlExec(t, b.path, "ALTER TABLE access_history DROP COLUMN versions")
			sqlExec(t, b.path, "DROP TABLE access_history_paths")
			sqlExec(t, b.path, "DROP TABLE removed_paths")
			sqlExec(t, b.path, "DROP INDEX access_history_target_epoch")
			sqlExec(t, b.path, "DROP INDEX access_history_actor_epoch")
			sqlExec(t, b.path, "CREATE INDEX access_history_target ON access_history (target)")
			sqlExec(t, b.path, "CREATE INDEX access_history_actor ON access_history (actor)")
			sqlExec(t, b.path, fmt.Sprintf("PRAGMA user_version = %d", migrations.Rederive-1))
		}},
	} {
		// Each damage is tried on a file as Close left it, and on one
		// left by an unclean stop, without whatever Close adds to vouch
		// for the file (a MAC beside it): there, the checks against the
		// log must find the damage by themselves, for the stated reason.
		for _, unclean := range []bool{false, true} {
			name := tc.name
			if unclean {
				name += "/unclean"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				b := buildProjection(t, 1)
				if unclean {
					simulateUncleanStop(t, b.path)
				}
				if tc.damage != nil {
					tc.damage(t, b)
				}
				if unclean {
					simulateUncleanStop(t, b.path)
				}
				key := b.f.key
				if tc.key != nil {
					key = tc.key(t)
				}
				p, rl := b.f.openLogged(b.path, key)
				reasons := rl.take()
				if len(reasons) != 1 {
					t.Fatalf("rebuilds %q, want one", reasons)
				}
				if unclean && !strings.Contains(reasons[0], tc.reason) {
					t.Fatalf("rebuilt because %q, want a reason mentioning %q", reasons[0], tc.reason)
				}
				t.Logf("rebuilt: %s", reasons[0])
				// The digest hashes content in clear: the same under any key.
				if d := b.f.digest(p); d != b.want {
					t.Error("digest after rebuild differs from a clean rebuild")
				}
				b.g.check(t, p, b.f.log.Size(), &checkStats{})
				// The rebuilt file is trusted at the next open.
				p.Close()
				p, rl = b.f.openLogged(b.path, key)
				if r := rl.take(); len(r) != 0 {
					t.Errorf("reopen after the rebuild rebuilt again: %q", r)
				}
				b.g.check(t, p, b.f.log.Size(), &checkStats{})
			})
		}
	}
}

// simulateUncleanStop removes what a clean Close leaves beside a
// projection file to vouch for it, as a crash (or an older build) would
// leave the file: the database itself, nothing else.
func simulateUncleanStop(t *testing.T, path string) {
	t.Helper()
	others, err := filepath.Glob(path + ".*")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		if err := os.Remove(o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBitRotInClearColumn: a few bytes of the file changed in place, in a
// column that is not sealed (here an access-history request id), leave
// SQLite's page structure intact, so PRAGMA quick_check passes, the state
// row still matches the log, and Open serves the altered row as truth. A
// projection must rebuild or refuse, never answer wrongly.
func TestBitRotInClearColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const rid = "request-0123456789abcdef"
	f.append(
		f.written(alice, "a", 1, map[string]string{"pw": "1"}),
		f.event(&events.SecretRead{Meta: events.Meta{Actor: alice, RequestID: rid}, Path: "a", Version: 1, Outcome: events.OutcomeOK}),
	)
	path := filepath.Join(f.dir, "projections.db")
	f.open(path).Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(b, []byte(rid)) != 1 {
		t.Fatalf("request id stored %d times", bytes.Count(b, []byte(rid)))
	}
	b = bytes.Replace(b, []byte(rid), []byte("request-0123456789abcdeX"), 1)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	p, rl := f.openLogged(path, f.key)
	reasons := rl.take()
	h, _, err := p.History(f.ctx, HistoryQuery{Type: "secret.read"})
	if err != nil {
		return // refusing to answer is fine
	}
	if len(h) != 1 {
		t.Fatalf("history = %+v", h)
	}
	if h[0].RequestID != rid {
		t.Errorf("after a byte of the file changed: rebuilds %q, history serves request id %q, want %q", reasons, h[0].RequestID, rid)
	}
}

// overwrite writes n bytes of garbage into the file at path, starting at
// fraction at of its length (clamped so the garbage stays in the file).
func overwrite(t *testing.T, path string, at float64, n int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	size := fi.Size()
	if size < int64(3*n) {
		t.Fatalf("%s is only %d bytes", path, size)
	}
	off := min(max(int64(float64(size)*at)-int64(n)/2, 0), size-int64(n))
	garbage := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(off), 3))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	fh, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteAt(garbage, off); err != nil {
		t.Fatal(err)
	}
}

// TestTamperedSealedValue: sealed columns altered in place, with the
// state row untouched. Whether Open notices (a file closed cleanly is
// vouched for) and rebuilds, or cannot tell (after an unclean stop) and
// serves the file, a tampered value is never served as data: reads give
// the truth or ErrCorrupt.
func TestTamperedSealedValue(t *testing.T) {
	t.Parallel()
	for _, unclean := range []bool{false, true} {
		t.Run(fmt.Sprintf("unclean=%v", unclean), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.append(
				f.written(alice, "a", 1, map[string]string{"pw": "a1"}),
				f.written(alice, "b", 1, map[string]string{"pw": "b1"}),
				f.written(alice, "c", 1, map[string]string{"pw": "c1"}),
				f.event(&events.PolicyPut{Name: "web", SpiffeIDPattern: "^x$", PathPattern: "^a$", Permissions: []string{"read"}}),
				f.event(&events.PolicyPut{Name: "ops", SpiffeIDPattern: "^y$", PathPattern: "^b$", Permissions: []string{"super"}}),
			)
			path := filepath.Join(f.dir, "projections.db")
			f.open(path).Close()
			if unclean {
				simulateUncleanStop(t, path)
			}
			// a: one bit of the ciphertext flipped.
			flipByte(t, path, "SELECT value FROM secrets WHERE path = 'a'", "UPDATE secrets SET value = ? WHERE path = 'a'")
			sqlExec(t, path,
				// b: c's genuine ciphertext, sealed for another path.
				"UPDATE secrets SET value = (SELECT value FROM secrets WHERE path = 'c') WHERE path = 'b'",
				// ops: web's genuine details.
				"UPDATE policies SET details = (SELECT details FROM policies WHERE name = 'web') WHERE name = 'ops'",
			)
			if unclean {
				simulateUncleanStop(t, path)
			}
			p, rl := f.openLogged(path, f.key)
			rebuilt := len(rl.take()) > 0
			t.Logf("rebuilt: %v", rebuilt)
			corrupt := 0
			for _, c := range []struct {
				path string
				v    int
				want string
			}{{"a", 0, "a1"}, {"a", 1, "a1"}, {"b", 0, "b1"}, {"b", 1, "b1"}, {"c", 1, "c1"}} {
				s, err := p.Secret(f.ctx, c.path, c.v)
				switch {
				case errors.Is(err, ErrCorrupt) && c.path != "c":
					corrupt++
				case err != nil || s.Data["pw"] != c.want || len(s.Data) != 1:
					t.Errorf("%s v%d: %v, %v; want %q or ErrCorrupt", c.path, c.v, s.Data, err, c.want)
				}
			}
			pol, err := p.Policy(f.ctx, "ops")
			switch {
			case errors.Is(err, ErrCorrupt):
				corrupt++
			case err != nil || pol.PathPattern != "^b$" || !slices.Equal(pol.Permissions, []string{"super"}):
				t.Errorf("tampered policy: %+v, %v; want the truth or ErrCorrupt", pol, err)
			}
			if pols, err := p.Policies(f.ctx); (err != nil && !errors.Is(err, ErrCorrupt)) || (err == nil && len(pols) != 2) {
				t.Errorf("policies: %+v, %v", pols, err)
			}
			if pol, err := p.Policy(f.ctx, "web"); err != nil || pol.PathPattern != "^a$" {
				t.Errorf("untouched policy: %+v, %v", pol, err)
			}
			_, derr := p.Digest(f.ctx)
			if rebuilt {
				if corrupt != 0 || derr != nil {
					t.Errorf("rebuilt, yet %d reads corrupt, digest %v", corrupt, derr)
				}
			} else if corrupt != 5 || !errors.Is(derr, ErrCorrupt) {
				t.Errorf("not rebuilt: %d of 5 tampered reads failed with ErrCorrupt, digest %v", corrupt, derr)
			}
			// Deleting the file, as ErrCorrupt advises, brings the truth back.
			p.Close()
			for _, ext := range []string{"", "-wal", "-shm"} {
				os.Remove(path + ext)
			}
			simulateUncleanStop(t, path)
			p, _ = f.openLogged(path, f.key)
			if s, err := p.Secret(f.ctx, "b", 0); err != nil || s.Data["pw"] != "b1" {
				t.Errorf("b after rebuild: %+v, %v", s.Data, err)
			}
		})
	}
}

// flipByte flips one bit in the middle of the blob query selects, and
// stores it back with update.
func flipByte(t *testing.T, path, query, update string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b []byte
	if err := db.QueryRow(query).Scan(&b); err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s: empty", query)
	}
	b[len(b)/2] ^= 1
	if _, err := db.Exec(update, b); err != nil {
		t.Fatal(err)
	}
}

// TestOpenSealedLog: no projection of a log without its keys; an existing
// projection file is left as it was.
func TestOpenSealedLog(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.append(f.written(alice, "a", 1, map[string]string{"pw": "1"}))
	path := filepath.Join(f.dir, "projections.db")
	f.open(path).Close()
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.log.Lock(f.ctx); err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{f.opts(""), f.opts(path), f.opts(filepath.Join(f.dir, "new.db"))} {
		if p, err := Open(f.ctx, f.log, opts); !errors.Is(err, eventlog.ErrSealed) {
			if p != nil {
				p.Close()
			}
			t.Errorf("Open(%+v) on a sealed log: %v, want ErrSealed", opts.Path, err)
		}
	}
	if p, err := BuildAsOf(f.ctx, f.log, AsOf{}, f.opts("")); !errors.Is(err, eventlog.ErrSealed) {
		if p != nil {
			p.Close()
		}
		t.Errorf("BuildAsOf on a sealed log: %v, want ErrSealed", err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("failed Open changed the projection file")
	}
	if exists(filepath.Join(f.dir, "new.db")) {
		t.Error("failed Open created a projection file")
	}

	// A log never unlocked.
	l, err := eventlog.Open(f.ctx, filepath.Join(t.TempDir(), "events.db"), eventlog.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if p, err := Open(f.ctx, l, f.opts("")); !errors.Is(err, eventlog.ErrSealed) {
		if p != nil {
			p.Close()
		}
		t.Errorf("Open on a never-unlocked log: %v, want ErrSealed", err)
	}
}
