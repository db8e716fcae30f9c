package eventlog

import (
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// dirState is what a read-only open must leave unchanged: every file in
// dir, by name, with a hash of its content and its mode.
func dirState(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		sum := sha256.Sum256(b)
		out[e.Name()] = fi.Mode().String() + " " + string(sum[:])
	}
	return out
}

func openRO(t *testing.T, path string) (*Log, error) {
	t.Helper()
	l, err := OpenReadOnly(context.Background(), path, Options{Logger: quietLogger, LockTimeout: 100 * time.Millisecond})
	if err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return l, err
}

// TestReadOnlyReadsWhatWasWritten opens copies of a log, with and
// without its journal holding unflushed events, and reads back every
// event and value, verifies it, and leaves every file as it was.
func TestReadOnlyReadsWhatWasWritten(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		flushAll bool // everything in bbolt, journal empty
		flushMid bool // half in bbolt, half in the journal
		journal  bool // copy the journal beside the file
	}{
		{name: "file only, journal empty", flushAll: true, journal: true},
		{name: "everything in the journal", journal: true},
		{name: "half flushed, half in the journal", flushMid: true, journal: true},
		{name: "file without its journal", flushAll: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := openTest(t, idle)
			want, values, destroyed := journalEvents(t, l, 30)
			if tt.flushMid {
				if err := l.f.flush(true); err != nil {
					t.Fatal(err)
				}
			}
			w2, v2, d2 := journalEvents(t, l, 30)
			for k, v := range w2 {
				want[k] = v
			}
			for k, v := range v2 {
				values[k] = v
			}
			for k, v := range d2 {
				destroyed[k] = v
			}
			if tt.flushAll {
				if err := l.f.flush(true); err != nil {
					t.Fatal(err)
				}
			}
			vkey, _ := l.VerifierKey(ctx)
			path := crashImage(t, l)
			if !tt.journal {
				os.Remove(journalPath(path))
			}
			before := dirState(t, filepath.Dir(path))

			ro, err := openRO(t, path)
			if err != nil {
				t.Fatal(err)
			}
			if ro.Size() != 60 || !ro.ReadOnly() || !ro.Sealed() {
				t.Fatalf("size %d, read-only %v, sealed %v; want 60, true, true", ro.Size(), ro.ReadOnly(), ro.Sealed())
			}
			if err := ro.Unlock(ctx, testKey(1)); err != nil {
				t.Fatal(err)
			}
			checkContent(t, ro, want, values, destroyed)
			rep, err := ro.Verify(ctx, vkey, VerifyOptions{})
			if err != nil || rep.Size != 60 {
				t.Fatalf("verify: %+v, %v", rep, err)
			}
			if _, err := ro.Append(ctx, ev("t", "x")); !errors.Is(err, ErrReadOnly) {
				t.Fatalf("Append: %v, want ErrReadOnly", err)
			}
			for name, op := range map[string]func() error{
				"RotateDataKey": func() error { return ro.RotateDataKey(ctx) },
				"Rewrap":        func() error { return ro.Rewrap(ctx, testKey(2)) },
			} {
				if err := op(); !errors.Is(err, ErrReadOnly) {
					t.Fatalf("%s: %v, want ErrReadOnly", name, err)
				}
			}
			if err := ro.Close(); err != nil {
				t.Fatal(err)
			}
			if after := dirState(t, filepath.Dir(path)); !mapsEqual(before, after) {
				t.Fatalf("read-only open changed the directory:\nbefore %v\nafter  %v", keys(before), keys(after))
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestReadOnlyRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// A log with events in its journal, and a crash image of it.
	l := openTest(t, idle)
	journalEvents(t, l, 10)
	image := crashImage(t, l)

	// Another log's journal, to put beside the first one's file.
	other := openTest(t, idle)
	journalEvents(t, other, 3)
	otherImage := crashImage(t, other)

	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the path to open
		want  string                    // in the error
		is    error
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "events.db") }, "no such file", os.ErrNotExist},
		{"a directory", func(t *testing.T) string { return t.TempDir() }, "not a regular file", nil},
		{"not a bbolt file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "events.db")
			os.WriteFile(p, []byte(strings.Repeat("not a log ", 1000)), 0o600)
			return p
		}, "read-only", nil},
		{"the live file", func(t *testing.T) string { return l.Path() }, "open a copy", ErrInUse},
		{"another log's journal", func(t *testing.T) string {
			dir := t.TempDir()
			copyFile(t, image, filepath.Join(dir, "events.db"))
			copyFile(t, journalPath(otherImage), journalPath(filepath.Join(dir, "events.db")))
			return filepath.Join(dir, "events.db")
		}, "another event log", ErrTampered},
		{"a journal that starts after the file ends", func(t *testing.T) string {
			// The file from before any flush (empty) with a journal
			// whose older records were overwritten: simulated by a
			// journal holding only events 6.. of this log.
			dir := t.TempDir()
			p := filepath.Join(dir, "events.db")
			copyFile(t, image, p)
			b, err := os.ReadFile(journalPath(image))
			if err != nil {
				t.Fatal(err)
			}
			j := b[:journalHeaderLen]
			rest := b[journalHeaderLen:]
			for len(rest) > 0 {
				first, _, size, err := decodeJournalRecord(rest)
				if err != nil {
					break
				}
				if first >= 6 {
					j = append(j, rest[:size]...)
				}
				rest = rest[size:]
			}
			j = append(j, make([]byte, 64)...)
			os.WriteFile(journalPath(p), j, 0o600)
			return p
		}, "older than its journal", ErrTampered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := tt.setup(t)
			dir := filepath.Dir(path)
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				dir = path
			}
			before := map[string]string{}
			if _, err := os.Stat(dir); err == nil && path != l.Path() {
				before = dirState(t, dir)
			}
			_, err := openRO(t, path)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenReadOnly: %v, want an error containing %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Fatalf("OpenReadOnly: %v, want errors.Is %v", err, tt.is)
			}
			if path != l.Path() {
				if after := dirState(t, dir); !mapsEqual(before, after) {
					t.Fatalf("a refused read-only open changed the directory: %v → %v", keys(before), keys(after))
				}
			}
		})
	}

	t.Run("wrong root key", func(t *testing.T) {
		t.Parallel()
		ro, err := openRO(t, image)
		if err != nil {
			t.Fatal(err)
		}
		if err := ro.Unlock(ctx, testKey(9)); !errors.Is(err, ErrWrongRootKey) {
			t.Fatalf("Unlock with a wrong key: %v, want ErrWrongRootKey", err)
		}
		if !ro.Sealed() {
			t.Fatal("a wrong key unsealed the log")
		}
	})
	t.Run("never unlocked", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "events.db")
		fresh, err := Open(ctx, p, Options{Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		fresh.Close()
		ro, err := openRO(t, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := ro.Unlock(ctx, testKey(1)); err == nil || !strings.Contains(err.Error(), "never unlocked") {
			t.Fatalf("Unlock of a never-unlocked log: %v", err)
		}
	})
}

// TestReadOnlyVerifyFindsTamperedJournal alters an event the journal
// alone holds: the read-only log verifies its header chain.
func TestReadOnlyVerifyFindsTamperedJournal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, idle)
	journalEvents(t, l, 5)
	if err := l.f.flush(true); err != nil {
		t.Fatal(err)
	}
	journalEvents(t, l, 5)
	vkey, _ := l.VerifierKey(ctx)
	image := crashImage(t, l)
	ro, err := openRO(t, image)
	if err != nil {
		t.Fatal(err)
	}
	// Swap two journalled events' places in memory: their seqs no
	// longer match their positions (readJournal refuses that on disk,
	// so alter what it read).
	ro.tail.envs[1], ro.tail.envs[2] = ro.tail.envs[2], ro.tail.envs[1]
	_, err = ro.Verify(ctx, vkey, VerifyOptions{})
	var ie *IntegrityError
	if !errors.As(err, &ie) || ie.Seq != 7 {
		t.Fatalf("Verify: %v, want an integrity error at seq 7", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
