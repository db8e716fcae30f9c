package eventlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// backupOf backs l up into memory.
func backupOf(t *testing.T, l *Log) ([]byte, BackupInfo) {
	t.Helper()
	var buf bytes.Buffer
	info, err := l.Backup(context.Background(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	if info.Bytes != int64(buf.Len()) || info.SHA256 != sha256.Sum256(buf.Bytes()) {
		t.Fatalf("info says %d bytes %x, the copy is %d bytes %x", info.Bytes, info.SHA256, buf.Len(), sha256.Sum256(buf.Bytes()))
	}
	return buf.Bytes(), info
}

func vkeyOf(t *testing.T, l *Log) string {
	t.Helper()
	vkey, err := l.VerifierKey(context.Background())
	if err != nil || vkey == "" {
		t.Fatalf("verifier key %q: %v", vkey, err)
	}
	return vkey
}

// installAndOpen installs data into a fresh directory and opens it
// unlocked with testKey(1).
func installAndOpen(t *testing.T, data []byte, vkey string, info BackupInfo) (*Log, Report) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "restored", "events.db")
	rep, err := InstallBackup(ctx, bytes.NewReader(data), path, vkey, info)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	return l, rep
}

// TestBackupWhileAppending: a copy taken while appenders run holds every
// event acknowledged before Backup was called, with its payload, ends
// exactly at its checkpoint, and the live log goes on working.
func TestBackupWhileAppending(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"journal", Options{}},
		{"no journal", Options{JournalSize: -1}},
		{"small mapping", Options{mmapSize: 1 << 16}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := openTest(t, tc.opts)
			const appenders = 4
			var (
				mu    sync.Mutex
				acked = map[uint64][32]byte{}
				stop  atomic.Bool
				wg    sync.WaitGroup
			)
			for g := range appenders {
				wg.Go(func() {
					for i := 0; !stop.Load(); i++ {
						p := fmt.Appendf(nil, "appender %d event %d", g, i)
						recs, err := l.Append(ctx, Event{Type: "test.event", Schema: 1, Payload: p})
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						acked[recs[0].Seq] = sha256.Sum256(p)
						mu.Unlock()
					}
				})
			}
			waitSize(t, l, 500)
			mu.Lock()
			before := maps.Clone(acked)
			mu.Unlock()
			data, info := backupOf(t, l)
			waitSize(t, l, info.Size+200)
			stop.Store(true)
			wg.Wait()

			vkey := vkeyOf(t, l)
			cp, err := OpenCheckpoint(info.Checkpoint, vkey)
			if err != nil || cp.Size != info.Size {
				t.Fatalf("checkpoint at %d for a copy of %d events: %v", cp.Size, info.Size, err)
			}
			restored, rep := installAndOpen(t, data, vkey, info)
			if rep.Size != info.Size || rep.Latest.Size != info.Size {
				t.Fatalf("installed copy verified to %d events, checkpoint %d; want %d", rep.Size, rep.Latest.Size, info.Size)
			}
			for seq, sum := range before {
				if seq > info.Size {
					t.Fatalf("event %d was acknowledged before the backup, which ends at %d", seq, info.Size)
				}
				rec, err := restored.Get(ctx, seq)
				if err != nil {
					t.Fatalf("event %d: %v", seq, err)
				}
				if sha256.Sum256(rec.Payload) != sum {
					t.Fatalf("event %d: payload differs in the copy", seq)
				}
			}
			if _, err := l.Append(ctx, ev("test.after", "x")); err != nil {
				t.Fatal(err)
			}
			if rep, err := l.Verify(ctx, vkey, VerifyOptions{Trusted: [][]byte{info.Checkpoint}}); err != nil || rep.Size <= info.Size {
				t.Fatalf("live log after the backup: %+v, %v", rep, err)
			}
		})
	}
}

// waitSize waits for l to hold n events, failing after 30 s.
func waitSize(t *testing.T, l *Log, n uint64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for l.Size() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the log holds %d events after 30 s, want %d", l.Size(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestBackupIncludesJournalTail: events acknowledged but only in the
// journal (the flusher waits an hour) are in the copy.
func TestBackupIncludesJournalTail(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{FlushDelay: time.Hour, FlushEvents: 1 << 20, CheckpointInterval: time.Hour, CheckpointEvery: 1 << 40})
	var want [][]byte
	for i := range 50 {
		p := fmt.Appendf(nil, "tail event %d", i)
		want = append(want, p)
		if _, err := l.Append(ctx, Event{Type: "test.event", Schema: 1, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	// The test means something only if the events are not in bbolt yet.
	if s := l.takeTail(); len(s.envs) == 0 {
		t.Fatal("the tail is empty: the events were flushed before the backup")
	}
	data, info := backupOf(t, l)
	if info.Size != 50 {
		t.Fatalf("copy holds %d events, want 50", info.Size)
	}
	restored, _ := installAndOpen(t, data, vkeyOf(t, l), info)
	for i, p := range want {
		rec, err := restored.Get(ctx, uint64(i)+1)
		if err != nil || !bytes.Equal(rec.Payload, p) {
			t.Fatalf("event %d: %q, %v; want %q", i+1, rec.Payload, err, p)
		}
	}
}

// TestInstallRoundTrip: an installed copy opens, unlocks with the same
// root key, reads back every event and verifies, and takes new appends.
func TestInstallRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{CheckpointEvery: 7})
	for i := range 100 {
		if _, err := l.Append(ctx, ev("test.event", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	data, info := backupOf(t, l)
	vkey := vkeyOf(t, l)
	restored, _ := installAndOpen(t, data, vkey, info)
	n := 0
	err := restored.Scan(ctx, 1, info.Size, func(r Record) error {
		if string(r.Payload) != fmt.Sprint(n) {
			return fmt.Errorf("event %d: %q, want %q", r.Seq, r.Payload, fmt.Sprint(n))
		}
		n++
		return nil
	})
	if err != nil || n != 100 {
		t.Fatalf("read %d events: %v", n, err)
	}
	if _, err := restored.Append(ctx, ev("test.event", "after")); err != nil {
		t.Fatal(err)
	}
	if got := vkeyOf(t, restored); got != vkey {
		t.Fatalf("restored verifier key %q, want %q", got, vkey)
	}
	if rep, err := restored.Verify(ctx, vkey, VerifyOptions{Trusted: [][]byte{info.Checkpoint}}); err != nil || rep.Size != 101 {
		t.Fatalf("verify restored log: %+v, %v", rep, err)
	}
}

// TestInstallRefuses: every bad copy or expectation is refused with an
// error saying what is wrong, and leaves no file behind.
func TestInstallRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{CheckpointEvery: 10})
	for i := range 40 {
		if _, err := l.Append(ctx, ev("test.event", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	older, ok, err := l.CheckpointAt(ctx, 30)
	if err != nil || !ok {
		t.Fatalf("checkpoint at 30: %v, %v", ok, err)
	}
	// Offset of event 20's envelope in the file, to damage its bytes.
	var env []byte
	l.db.View(func(tx *bolt.Tx) error {
		env = bytes.Clone(tx.Bucket(bucketEvents).Get(u64key(20)))
		return nil
	})
	data, info := backupOf(t, l)
	vkey := vkeyOf(t, l)
	if env == nil || !bytes.Contains(data, env) {
		t.Fatal("event 20's envelope is not in the copy")
	}
	other := openTest(t, Options{})
	if _, err := other.Append(ctx, ev("test.event", "other")); err != nil {
		t.Fatal(err)
	}
	otherKey := vkeyOf(t, other)
	_, otherInfo := backupOf(t, other)

	flipped := bytes.Clone(data)
	// Every copy of the envelope is damaged: a page bbolt freed may
	// still hold an old one, and damaging only that would go unnoticed.
	for off := 0; ; {
		i := bytes.Index(flipped[off:], env)
		if i < 0 {
			break
		}
		flipped[off+i+len(env)-5] ^= 0x40
		off += i + len(env)
	}
	noSum := info
	noSum.SHA256, noSum.Bytes = [32]byte{}, 0
	otherRecorded := withRecordedKey(t, data, otherKey)
	badSum := info
	badSum.SHA256[0] ^= 1
	olderCP := noSum
	olderCP.Size, olderCP.Checkpoint = 0, older.Note

	for _, tc := range []struct {
		name   string
		data   []byte
		vkey   string
		want   BackupInfo
		exists string // a file already in place
		errHas string
	}{
		{"destination exists", data, vkey, info, "events.db", "exists"},
		{"journal exists", data, vkey, info, "events.db.journal", "exists"},
		{"truncated", data[:len(data)/2], vkey, info, "", "truncated"},
		{"truncated, no length given", data[:len(data)/2], vkey, noSum, "", "damaged"},
		{"flipped byte", flipped, vkey, noSum, "", "damaged"},
		{"flipped byte, checksum given", flipped, vkey, info, "", "checksum mismatch"},
		{"wrong verifier key", data, otherKey, info, "", "checkpoint"},
		{"checkpoint mismatch", data, vkey, olderCP, "", "the copy ends at 40 events, its checkpoint says 30"},
		{"checksum mismatch", data, vkey, badSum, "", "checksum mismatch"},
		{"another log's key and checkpoint", data, otherKey, BackupInfo{Checkpoint: otherInfo.Checkpoint}, "", "verifier key is for"},
		{"no checkpoint", data, vkey, BackupInfo{}, "", "checkpoint is missing"},
		{"another recorded verifier key", otherRecorded, vkey, noSum, "", "records another verifier key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var before []os.DirEntry
			if tc.exists != "" {
				if err := os.WriteFile(filepath.Join(dir, tc.exists), []byte("keep"), 0o600); err != nil {
					t.Fatal(err)
				}
				before, _ = os.ReadDir(dir)
			}
			_, err := InstallBackup(ctx, bytes.NewReader(tc.data), filepath.Join(dir, "events.db"), tc.vkey, tc.want)
			t.Log(err)
			if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tc.errHas)) {
				t.Fatalf("InstallBackup: %v; want an error saying %q", err, tc.errHas)
			}
			after, _ := os.ReadDir(dir)
			if len(after) != len(before) {
				t.Fatalf("left behind %v (before: %v)", names(after), names(before))
			}
			if tc.exists != "" {
				if b, _ := os.ReadFile(filepath.Join(dir, tc.exists)); string(b) != "keep" {
					t.Fatalf("%s was changed", tc.exists)
				}
			}
		})
	}
}

// withRecordedKey returns a copy of data in which the log records vkey
// as its verifier key.
func withRecordedKey(t *testing.T, data []byte, vkey string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaVerifier, []byte(vkey)) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStartBackupDescribesCopy: what a copy says before it is written is
// what it writes.
func TestStartBackupDescribesCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	for i := range 25 {
		if _, err := l.Append(ctx, ev("test.event", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := l.StartBackup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := c.Info()
	if _, err := l.Append(ctx, ev("test.event", "after")); err != nil {
		t.Fatal(err)
	}
	if c.VerifierKey() != vkeyOf(t, l) {
		t.Fatalf("verifier key %q, the log's is %q", c.VerifierKey(), vkeyOf(t, l))
	}
	var buf bytes.Buffer
	info, err := c.WriteTo(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if before.Size != 25 || info.Size != 25 || before.Bytes != int64(buf.Len()) || info.Bytes != before.Bytes ||
		!bytes.Equal(before.Checkpoint, info.Checkpoint) || info.SHA256 != sha256.Sum256(buf.Bytes()) {
		t.Fatalf("before %+v, after %+v, wrote %d bytes", before, info, buf.Len())
	}
	if _, err := c.WriteTo(ctx, io.Discard); err == nil {
		t.Fatal("a copy was written twice")
	}
	installAndOpen(t, buf.Bytes(), c.VerifierKey(), info)
}

// failingReader fails after the bytes it holds.
type failingReader struct{ r io.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		err = errors.New("the source broke")
	}
	return n, err
}

// TestInstallRemovesTempOnReadError: a reader that fails leaves nothing
// behind.
func TestInstallRemovesTempOnReadError(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{})
	if _, err := l.Append(context.Background(), ev("test.event", "x")); err != nil {
		t.Fatal(err)
	}
	data, info := backupOf(t, l)
	dir := t.TempDir()
	_, err := InstallBackup(context.Background(), failingReader{bytes.NewReader(data)}, filepath.Join(dir, "events.db"), vkeyOf(t, l), info)
	if err == nil || !strings.Contains(err.Error(), "the source broke") {
		t.Fatalf("InstallBackup: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("left behind %v", names(left))
	}
}

func names(es []os.DirEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestBackupRefuses: a log that cannot sign a checkpoint, or holds no
// event to sign, is not backed up, and nothing is written.
func TestBackupRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		open   func(t *testing.T) *Log
		is     error
		saying string
	}{
		{"sealed", func(t *testing.T) *Log {
			l := openTest(t, Options{})
			if _, err := l.Append(ctx, ev("test.event", "x")); err != nil {
				t.Fatal(err)
			}
			if err := l.Lock(ctx); err != nil {
				t.Fatal(err)
			}
			return l
		}, ErrSealed, "sealed"},
		{"read-only", func(t *testing.T) *Log {
			path := filepath.Join(t.TempDir(), "events.db")
			l, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Unlock(ctx, testKey(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(ctx, ev("test.event", "x")); err != nil {
				t.Fatal(err)
			}
			l.Close()
			ro, err := OpenReadOnly(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ro.Close() })
			if err := ro.Unlock(ctx, testKey(1)); err != nil {
				t.Fatal(err)
			}
			return ro
		}, ErrReadOnly, "read-only"},
		{"empty", func(t *testing.T) *Log { return openTest(t, Options{}) }, nil, "empty"},
		{"closed", func(t *testing.T) *Log {
			l := openTest(t, Options{})
			l.Close()
			return l
		}, ErrClosed, "closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := tc.open(t)
			var buf bytes.Buffer
			_, err := l.Backup(ctx, &buf)
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !bytes.Contains([]byte(err.Error()), []byte(tc.saying)) {
				t.Fatalf("Backup: %v; want %v saying %q", err, tc.is, tc.saying)
			}
			if buf.Len() != 0 {
				t.Fatalf("Backup wrote %d bytes before refusing", buf.Len())
			}
		})
	}
}

// TestBackupStopsWithContext: a cancelled copy fails instead of writing on.
func TestBackupStopsWithContext(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{})
	if _, err := l.Append(context.Background(), ev("test.event", "x")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{n: 1, cancel: cancel}
	if _, err := l.Backup(ctx, w); !errors.Is(err, context.Canceled) {
		t.Fatalf("Backup: %v; want context.Canceled", err)
	}
	if w.n > 0 {
		t.Fatal("the copy never reached the writer")
	}
}

// cancelAfter cancels its context after n writes.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	if c.n--; c.n <= 0 {
		c.cancel()
	}
	return len(p), nil
}

// BenchmarkBackup copies a log of 200k 256-byte events to io.Discard.
func BenchmarkBackup(b *testing.B) {
	l := benchLog(b)
	fill(b, l, 200_000)
	ctx := context.Background()
	var info BackupInfo
	for b.Loop() {
		var err error
		if info, err = l.Backup(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(info.Bytes)
	b.ReportMetric(float64(info.Bytes)/(1<<20), "MiB/copy")
}

// BenchmarkInstallBackup installs a copy of a log of 200k 256-byte
// events: write, fsync, VerifyFile, link into place.
func BenchmarkInstallBackup(b *testing.B) {
	l := benchLog(b)
	fill(b, l, 200_000)
	ctx := context.Background()
	var buf bytes.Buffer
	info, err := l.Backup(ctx, &buf)
	if err != nil {
		b.Fatal(err)
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		i++
		path := filepath.Join(dir, fmt.Sprint(i), "events.db")
		if _, err := InstallBackup(ctx, bytes.NewReader(buf.Bytes()), path, vkey, info); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(filepath.Dir(path))
		b.StartTimer()
	}
	b.SetBytes(info.Bytes)
}

// TestInstallRebuildsTypeIndex: the type index is outside what the
// checkpoints sign, so a copy whose index was edited (an entry removed,
// say, to hide a custody record from ScanBack) verifies all the same.
// The installed log must not trust it: it is rebuilt from the verified
// events when the log is next opened.
func TestInstallRebuildsTypeIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rare = "custody.x"
	l := openTest(t, Options{IndexTypes: []string{rare}})
	for i := range 20 {
		typ := "test.event"
		if i == 5 {
			typ = rare
		}
		if _, err := l.Append(ctx, ev(typ, fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	data, info := backupOf(t, l)
	vkey := vkeyOf(t, l)

	// Edit the copy: its index forgets the rare event.
	edited := filepath.Join(t.TempDir(), "edited.db")
	if err := os.WriteFile(edited, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(edited, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		idx := tx.Bucket(bucketTypeIndex)
		if idx.Stats().KeyN != 1 {
			return fmt.Errorf("the copy's index holds %d entries, want 1", idx.Stats().KeyN)
		}
		k, _ := idx.Cursor().First()
		return idx.Delete(k)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(edited)
	if err != nil {
		t.Fatal(err)
	}

	path := filepath.Join(t.TempDir(), "events.db")
	if _, err := InstallBackup(ctx, bytes.NewReader(data), path, vkey, BackupInfo{Size: info.Size, Checkpoint: info.Checkpoint}); err != nil {
		t.Fatal(err)
	}
	restored, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler), IndexTypes: []string{rare}})
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	var found []uint64
	if err := restored.ScanBack(ctx, func(r Record) bool { found = append(found, r.Seq); return true }, rare); err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0] != 6 {
		t.Fatalf("ScanBack(%s) on the restored log found events %v, want [6]: the edited index was trusted", rare, found)
	}
}
