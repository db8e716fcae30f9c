package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// idle keeps everything in the journal: nothing flushes or checkpoints
// on its own while a test looks.
var idle = Options{FlushDelay: time.Hour, FlushEvents: 1 << 30, CheckpointInterval: time.Hour, CheckpointEvery: 1 << 40}

// crashImage copies the log's two files as a crash right now would leave
// them: everything the journal made durable, nothing flushed since.
func crashImage(t *testing.T, l *Log) string {
	t.Helper()
	dir := t.TempDir()
	dst := filepath.Join(dir, "events.db")
	for _, p := range []string{l.Path(), journalPath(l.Path())} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func openPath(t *testing.T, path string, opts Options) (*Log, error) {
	t.Helper()
	opts.Logger = quietLogger
	l, err := Open(context.Background(), path, opts)
	if err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return l, err
}

// journalEvents appends n events, every third creating a value key and
// every fifth destroying the key created just before it, and returns
// the payloads and values by seq.
func journalEvents(t *testing.T, l *Log, n int) (map[uint64]string, map[ValueKeyID]sealedValue, map[ValueKeyID]bool) {
	t.Helper()
	ctx := context.Background()
	want := map[uint64]string{}
	values := map[ValueKeyID]sealedValue{}
	destroyed := map[ValueKeyID]bool{}
	var last ValueKeyID
	for i := range n {
		e := ev("journal.test", fmt.Sprintf("event %d", i))
		if i%3 == 0 {
			k, v := newSealedValue(t, fmt.Sprintf("value %d", i))
			e.NewValueKeys = []*ValueKey{k}
			values[v.id] = v
			last = v.id
		} else if i%5 == 0 && !destroyed[last] && last != (ValueKeyID{}) {
			e.DestroyValueKeys = []ValueKeyID{last}
			destroyed[last] = true
		}
		recs, err := l.Append(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		want[recs[0].Seq] = string(e.Payload)
	}
	return want, values, destroyed
}

// checkContent reads every event and value back from l.
func checkContent(t *testing.T, l *Log, want map[uint64]string, values map[ValueKeyID]sealedValue, destroyed map[ValueKeyID]bool) {
	t.Helper()
	ctx := context.Background()
	got, _ := payloads(t, l)
	if len(got) != len(want) {
		t.Fatalf("log holds %d events, want %d", len(got), len(want))
	}
	for seq, p := range want {
		if got[seq] != p {
			t.Fatalf("event %d = %q, want %q", seq, got[seq], p)
		}
	}
	for id, v := range values {
		plain, err := l.OpenValue(ctx, id, v.sealed, v.aad)
		switch {
		case destroyed[id] && !errors.Is(err, ErrValueDestroyed):
			t.Fatalf("destroyed value %s opened: %v", id, err)
		case !destroyed[id] && (err != nil || !bytes.Equal(plain, v.plaintext)):
			t.Fatalf("value %s: %q, %v", id, plain, err)
		}
		live, err := l.ValueKeyLive(ctx, id)
		if err != nil || live == destroyed[id] {
			t.Fatalf("ValueKeyLive(%s) = %v, %v; destroyed %v", id, live, err, destroyed[id])
		}
	}
}

func TestJournalReadersSeeUnflushedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, idle)
	want, values, destroyed := journalEvents(t, l, 40)
	if n := l.tailLen(); n != 40 {
		t.Fatalf("tail holds %d events, want all 40 (the test needs them unflushed)", n)
	}
	checkContent(t, l, want, values, destroyed)
	sub := l.Subscribe(1)
	for seq := uint64(1); seq <= 40; seq++ {
		r, err := sub.Next(ctx)
		if err != nil || r.Seq != seq || string(r.Payload) != want[seq] {
			t.Fatalf("subscription event %d: %+v, %v", seq, r, err)
		}
	}
	if r, ok, err := l.LastOfType(ctx, "journal.test"); err != nil || !ok || r.Seq != 40 {
		t.Fatalf("LastOfType = %d, %v, %v", r.Seq, ok, err)
	}
	// Proofs over the tail match proofs over the same events in bbolt.
	root, err := l.TreeHash(ctx, 40)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := l.LeafHash(ctx, 17)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := l.InclusionProof(ctx, 17, 40)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckInclusion(proof, 40, root, 17, leaf); err != nil {
		t.Fatal(err)
	}
	if err := l.f.flush(true); err != nil {
		t.Fatal(err)
	}
	if n := l.tailLen(); n != 0 {
		t.Fatalf("tail holds %d events after a flush", n)
	}
	if root2, err := l.TreeHash(ctx, 40); err != nil || root2 != root {
		t.Fatalf("root after flush %x, %v; before %x", root2, err, root)
	}
	checkContent(t, l, want, values, destroyed)
	if cp, ok, err := l.LatestCheckpoint(ctx); err != nil || !ok || cp.Size != 40 || cp.Root != root {
		t.Fatalf("checkpoint after forced flush: %+v, %v, %v", cp, ok, err)
	}
}

func TestJournalReplayAfterCrash(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		journal  int64
		events   int
		flushMid bool
	}{
		{"all in the journal", 0, 60, false},
		{"some flushed, the rest in the journal", 0, 60, true},
		{"small journal wrapped many times", 64 << 10, 900, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := idle
			opts.JournalSize = tt.journal
			l := openTest(t, opts)
			want, values, destroyed := journalEvents(t, l, tt.events/2)
			if tt.flushMid {
				if err := l.f.flush(false); err != nil {
					t.Fatal(err)
				}
			}
			w2, v2, d2 := journalEvents(t, l, tt.events-tt.events/2)
			for k, v := range w2 {
				want[k] = v
			}
			for k, v := range v2 {
				values[k] = v
			}
			for k, v := range d2 {
				destroyed[k] = v
			}
			vkey, _ := l.VerifierKey(context.Background())
			path := crashImage(t, l)
			l2, err := openPath(t, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := l2.Unlock(context.Background(), testKey(1)); err != nil {
				t.Fatal(err)
			}
			checkContent(t, l2, want, values, destroyed)
			if rep, err := l2.Verify(context.Background(), vkey, VerifyOptions{}); err != nil || rep.Size != uint64(tt.events) {
				t.Fatalf("verify after replay: %+v, %v", rep, err)
			}
			// Appends go on from where the replay ended, and a second
			// crash image replays nothing twice.
			if _, err := l2.Append(context.Background(), ev("journal.test", "after")); err != nil {
				t.Fatal(err)
			}
			l3, err := openPath(t, crashImage(t, l2), Options{})
			if err != nil || l3.Size() != uint64(tt.events)+1 {
				t.Fatalf("second replay: size %v, %v", l3, err)
			}
		})
	}
}

func TestJournalTornRecordIsNotReplayed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		torn func(rec []byte) // applied to the last record's bytes
	}{
		{"last byte lost", func(rec []byte) { rec[len(rec)-1] ^= 0xff }},
		{"length field torn", func(rec []byte) { rec[0] = 0xff }},
		{"checksum torn", func(rec []byte) { rec[5] ^= 1 }},
		{"record zeroed", func(rec []byte) { clear(rec) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := openTest(t, idle)
			journalEvents(t, l, 5)
			before := l.j.off
			if _, err := l.Append(context.Background(), ev("journal.test", "torn")); err != nil {
				t.Fatal(err)
			}
			path := crashImage(t, l)
			jb, err := os.ReadFile(journalPath(path))
			if err != nil {
				t.Fatal(err)
			}
			tt.torn(jb[before:l.j.off])
			if err := os.WriteFile(journalPath(path), jb, 0o600); err != nil {
				t.Fatal(err)
			}
			l2, err := openPath(t, path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if l2.Size() != 5 {
				t.Fatalf("size %d after a torn last record, want 5", l2.Size())
			}
		})
	}
}

func TestJournalRefusesWhatIsNotItsOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// A journal of another log.
	a := openTest(t, idle)
	b := openTest(t, idle)
	journalEvents(t, a, 3)
	pa := crashImage(t, a)
	pb := crashImage(t, b)
	jb, _ := os.ReadFile(journalPath(pa))
	os.WriteFile(journalPath(pb), jb, 0o600)
	if _, err := openPath(t, pb, Options{}); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "another event log") {
		t.Fatalf("open with another log's journal: %v", err)
	}

	// events.db restored from an older backup beside the live journal.
	dir := t.TempDir()
	path := filepath.Join(dir, "events.db")
	l, err := openPath(t, path, idle)
	if err != nil {
		t.Fatal(err)
	}
	l.Unlock(ctx, testKey(1))
	journalEvents(t, l, 10)
	l.Close()
	backup, _ := os.ReadFile(path)
	l, _ = openPath(t, path, idle)
	l.Unlock(ctx, testKey(1))
	journalEvents(t, l, 10)
	l.Close() // flushed: the journal starts again at event 21
	l, _ = openPath(t, path, idle)
	l.Unlock(ctx, testKey(1))
	journalEvents(t, l, 5)
	img := crashImage(t, l)
	os.WriteFile(img, backup, 0o600)
	if _, err := openPath(t, img, Options{}); !errors.Is(err, ErrTampered) || !strings.Contains(err.Error(), "older than its journal") {
		t.Fatalf("open an old file beside a newer journal: %v", err)
	}

	// A record with a valid checksum that is not the event it claims.
	c := openTest(t, idle)
	journalEvents(t, c, 2)
	img = crashImage(t, c)
	jc, _ := os.ReadFile(journalPath(img))
	first, evs, n, err := decodeJournalRecord(jc[journalHeaderLen:])
	if err != nil {
		t.Fatal(err)
	}
	evs[0].env = bytes.Clone(evs[0].env)
	evs[0].env[3] ^= 1 // the seq in the envelope's header
	rec := encodeRecord(nil, first, evs)
	if len(rec) != n {
		t.Fatal("re-encoded record changed length")
	}
	copy(jc[journalHeaderLen:], rec)
	os.WriteFile(journalPath(img), jc, 0o600)
	if _, err := openPath(t, img, Options{}); !errors.Is(err, ErrTampered) {
		t.Fatalf("open with a forged record: %v", err)
	}
}

func TestJournalSyncFailureFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	fail := false
	opts := idle
	opts.JournalSync = func(f *os.File) error {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return errors.New("injected: I/O error")
		}
		return fdatasync(f)
	}
	l := openTest(t, opts)
	journalEvents(t, l, 3)
	mu.Lock()
	fail = true
	mu.Unlock()
	if _, err := l.Append(ctx, ev("journal.test", "lost")); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("append with a failing sync: %v", err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	// The disk recovered, but whether the failed bytes reached it cannot
	// be known: the journal stays broken until the process restarts.
	if _, err := l.Append(ctx, ev("journal.test", "after")); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("append after a failed sync: %v", err)
	}
	if l.Size() != 3 {
		t.Fatalf("size %d, want 3: a failed append must not be published", l.Size())
	}
	// Err says so, and keeps saying it when bbolt takes writes again: a
	// flush that succeeds does not mend the journal.
	if err := l.f.flush(true); err != nil {
		t.Fatal(err)
	}
	l.probe()
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "restart") {
		t.Fatalf("Err() after a failed sync: %v", err)
	}
}

// TestJournalNoAnswerBeforeDurable stalls the journal's fdatasync and
// checks that Append does not return, and no reader sees the event,
// until the sync completes.
func TestJournalNoAnswerBeforeDurable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	var stall sync.Once
	opts := idle
	opts.JournalSync = func(f *os.File) error {
		var wait bool
		stall.Do(func() { wait = true })
		if wait {
			entered <- struct{}{}
			<-release
		}
		return fdatasync(f)
	}
	l := openTest(t, opts)
	done := make(chan error, 1)
	go func() {
		_, err := l.Append(ctx, ev("journal.test", "slow"))
		done <- err
	}()
	<-entered
	select {
	case err := <-done:
		t.Fatalf("Append returned (%v) while its sync was stalled", err)
	default:
	}
	if l.Size() != 0 {
		t.Fatalf("size %d published before the sync", l.Size())
	}
	if _, err := l.Get(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("event readable before its sync: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, err := l.Get(ctx, 1); err != nil || string(r.Payload) != "slow" {
		t.Fatalf("after the sync: %+v, %v", r, err)
	}
}

func TestJournalBatchBiggerThanJournal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := idle
	opts.JournalSize = 64 << 10
	l := openTest(t, opts)
	journalEvents(t, l, 3)
	big := ev("journal.test", strings.Repeat("x", 100<<10))
	if _, err := l.Append(ctx, big); err != nil {
		t.Fatal(err)
	}
	journalEvents(t, l, 3)
	img := crashImage(t, l)
	l2, err := openPath(t, img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l2.Unlock(ctx, testKey(1))
	if r, err := l2.Get(ctx, 4); err != nil || len(r.Payload) != 100<<10 {
		t.Fatalf("big event after crash: %d bytes, %v", len(r.Payload), err)
	}
	if l2.Size() != 7 {
		t.Fatalf("size %d after crash, want 7", l2.Size())
	}
}

func TestJournalOff(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{JournalSize: -1})
	want, values, destroyed := journalEvents(t, l, 20)
	if _, err := os.Stat(journalPath(l.Path())); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("journal file with the journal off: %v", err)
	}
	checkContent(t, l, want, values, destroyed)
}

func FuzzJournalRecord(f *testing.F) {
	k := NewValueKey()
	f.Add(encodeRecord(nil, 1, []journalEvent{{env: []byte("envelope")}}))
	f.Add(encodeRecord(nil, 7, []journalEvent{
		{env: []byte("a"), newKeys: []keyPut{{id: k.ID(), wrapped: []byte("wrapped")}}},
		{env: []byte("b"), destroyed: []ValueKeyID{k.ID()}},
	}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		first, evs, n, err := decodeJournalRecord(b)
		if err != nil {
			return
		}
		if n > len(b) || first == 0 || len(evs) == 0 {
			t.Fatalf("accepted record: n %d of %d, first %d, %d events", n, len(b), first, len(evs))
		}
		if re := encodeRecord(nil, first, evs); !bytes.Equal(re, b[:n]) {
			t.Fatalf("record does not round-trip")
		}
	})
}

func (l *Log) tailLen() int {
	l.tailMu.RLock()
	defer l.tailMu.RUnlock()
	return len(l.tail.envs)
}
