package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, RootKeySize) }

// openTest opens a fresh log in a temp dir, unlocked with testKey(1).
func openTest(t testing.TB, opts Options) *Log {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := Open(context.Background(), filepath.Join(t.TempDir(), "data", "events.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if err := l.Unlock(context.Background(), testKey(1)); err != nil {
		t.Fatal(err)
	}
	return l
}

func ev(typ, payload string) Event { return Event{Type: typ, Schema: 1, Payload: []byte(payload)} }

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	hs, err := l.Append(ctx, ev("secret.written", "one"), ev("secret.read", "two"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[0].Seq != 1 || hs[1].Seq != 2 {
		t.Fatalf("headers = %+v", hs)
	}
	if _, err := l.Append(ctx, Event{Type: "policy.put", Schema: 7, Payload: nil}); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = l.Scan(ctx, 0, 0, func(r Record) error {
		got = append(got, fmt.Sprintf("%d %s %d %q", r.Seq, r.Type, r.Schema, r.Payload))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1 secret.written 1 "one"`, `2 secret.read 1 "two"`, `3 policy.put 7 ""`}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scan = %q, want %q", got, want)
	}
	r, err := l.Get(ctx, 2)
	if err != nil || string(r.Payload) != "two" || r.ID != hs[1].ID {
		t.Fatalf("Get(2) = %+v, %v", r, err)
	}
	if _, err := l.Get(ctx, 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(4) err = %v, want ErrNotFound", err)
	}
}

func TestBytesGrows(t *testing.T) {
	t.Parallel()
	l := openTest(t, Options{})
	before, err := l.Bytes(context.Background())
	if err != nil || before <= 0 {
		t.Fatalf("Bytes of a new log = %d, %v", before, err)
	}
	big := string(make([]byte, 64<<10))
	for range 64 { // 4 MiB of payloads
		if _, err := l.Append(context.Background(), ev("secret.written", big)); err != nil {
			t.Fatal(err)
		}
	}
	after, err := l.Bytes(context.Background())
	if err != nil || after < before+4<<20 {
		t.Fatalf("Bytes after 4 MiB of events = %d (was %d), %v", after, before, err)
	}
}

func TestAppendRejectsBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{MaxPayload: 16})
	for name, e := range map[string]Event{
		"empty type":   {Type: "", Payload: []byte("x")},
		"space":        {Type: "a b"},
		"long type":    {Type: string(bytes.Repeat([]byte("a"), MaxTypeLen+1))},
		"big payload":  {Type: "t", Payload: make([]byte, 17)},
		"nil valuekey": {Type: "t", NewValueKeys: []*ValueKey{nil}},
	} {
		if _, err := l.Append(ctx, e); err == nil {
			t.Errorf("%s: Append succeeded", name)
		}
	}
	if l.Size() != 0 {
		t.Fatalf("size = %d after rejected appends", l.Size())
	}
}

func TestConcurrentAppendsDense(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{CheckpointEvery: 100})
	const workers, each = 32, 50
	var mu sync.Mutex
	seen := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				p := fmt.Sprintf("w%d-%d", w, i)
				evs := []Event{ev("t", p)}
				if i%5 == 0 { // multi-event appends stay contiguous
					evs = append(evs, ev("t", p+"b"))
				}
				hs, err := l.Append(ctx, evs...)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, h := range hs {
					if _, dup := seen[h.Seq]; dup {
						t.Errorf("seq %d given twice", h.Seq)
					}
					seen[h.Seq] = string(evs[j].Payload)
				}
				if len(hs) == 2 && hs[1].Seq != hs[0].Seq+1 {
					t.Errorf("atomic pair not contiguous: %d, %d", hs[0].Seq, hs[1].Seq)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := uint64(len(seen))
	if l.Size() != total {
		t.Fatalf("size %d, appended %d", l.Size(), total)
	}
	var prev Record
	err := l.Scan(ctx, 1, 0, func(r Record) error {
		if seen[r.Seq] != string(r.Payload) {
			return fmt.Errorf("seq %d payload %q, acknowledged %q", r.Seq, r.Payload, seen[r.Seq])
		}
		if r.Seq > 1 && (r.ID.Compare(prev.ID) <= 0 || r.Time.Before(prev.Time)) {
			return fmt.Errorf("seq %d: id/time not increasing", r.Seq)
		}
		prev = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if prev.Seq != total {
		t.Fatalf("scanned up to %d, want %d", prev.Seq, total)
	}
	vkey, _ := l.VerifierKey(ctx)
	rep, err := l.Verify(ctx, vkey, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Size != total || rep.Checkpoints == 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestWrongRootKeyChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, ev("t", "secret")); err != nil {
		t.Fatal(err)
	}
	l.Close()

	l, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if !l.Sealed() {
		t.Fatal("log opened unsealed")
	}
	if err := l.Unlock(ctx, testKey(2)); !errors.Is(err, ErrWrongRootKey) {
		t.Fatalf("wrong key: err = %v", err)
	}
	if err := l.Unlock(ctx, []byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := l.Append(ctx, ev("t", "x")); !errors.Is(err, ErrSealed) {
		t.Fatalf("append while sealed: %v", err)
	}
	if _, err := l.Get(ctx, 1); !errors.Is(err, ErrSealed) {
		t.Fatalf("get while sealed: %v", err)
	}
	// Sealed: headers and verification still work.
	var types []string
	if err := l.ScanSealed(ctx, 0, 0, func(r Record) error { types = append(types, r.Type); return nil }); err != nil || len(types) != 1 {
		t.Fatalf("sealed scan = %v, %v", types, err)
	}
	vkey, _ := l.VerifierKey(ctx)
	if _, err := l.Verify(ctx, vkey, VerifyOptions{}); err != nil {
		t.Fatalf("sealed verify: %v", err)
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	r, err := l.Get(ctx, 1)
	if err != nil || string(r.Payload) != "secret" {
		t.Fatalf("after right key: %q, %v", r.Payload, err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Open(ctx, path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
}

func TestSubscribeCatchUpThenLive(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l := openTest(t, Options{})
	for i := range 10 {
		if _, err := l.Append(ctx, ev("t", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	subs := []*Subscription{l.Subscribe(0), l.Subscribe(4)}
	slow := l.Subscribe(1) // never read until the end: must not block appends
	go func() {
		for i := 10; i < 5000; i++ {
			if _, err := l.Append(ctx, ev("t", fmt.Sprint(i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	check := func(s *Subscription, from int) {
		for i := from; i < 5000; i++ {
			r, err := s.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if r.Seq != uint64(i+1) || string(r.Payload) != fmt.Sprint(i) {
				t.Fatalf("got seq %d %q, want %d %q", r.Seq, r.Payload, i+1, fmt.Sprint(i))
			}
		}
	}
	check(subs[0], 0)
	check(subs[1], 3)
	check(slow, 0)
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if _, err := subs[0].Next(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next past the end: %v", err)
	}
}

func TestVerifyWhileAppending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{CheckpointEvery: 10})
	vkey, _ := l.VerifierKey(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			if _, err := l.Append(ctx, ev("t", fmt.Sprint(i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 5 {
		if _, err := l.Verify(ctx, vkey, VerifyOptions{}); err != nil {
			t.Fatalf("verify during appends: %v", err)
		}
	}
	<-done
}

func TestCloseCheckpointsAndRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := Open(ctx, path, Options{CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx, testKey(3)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, ev("t", "a"), ev("t", "b"), ev("t", "c")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, ev("t", "d")); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	l, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cp, ok, err := l.LatestCheckpoint(ctx)
	if err != nil || !ok || cp.Size != 3 {
		t.Fatalf("latest checkpoint after close = %+v, %v, %v; want size 3", cp, ok, err)
	}
	if st := l.Stats(); st.Commits != 0 {
		t.Fatalf("fresh open stats = %+v", st)
	}
}

func TestTimeAndIDsNeverGoBackwards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	l := openTest(t, Options{Now: clock})
	steps := []time.Duration{0, time.Second, -time.Hour, 0, 2 * time.Millisecond, -time.Millisecond}
	var hs []Record
	for _, d := range steps {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
		h, err := l.Append(ctx, ev("t", "x"))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h[0])
	}
	for i := 1; i < len(hs); i++ {
		if hs[i].Time.Before(hs[i-1].Time) || hs[i].ID.Compare(hs[i-1].ID) <= 0 {
			t.Fatalf("event %d: time %v id %s after time %v id %s", i, hs[i].Time, hs[i].ID, hs[i-1].Time, hs[i-1].ID)
		}
	}
}

func TestSeqAt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var mu sync.Mutex
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := base
	l := openTest(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	// Events at base+0s, +10s, +10s, +20s, ..., so ties are covered.
	offsets := []int{0, 10, 10, 20, 30, 30, 30, 40}
	for _, o := range offsets {
		mu.Lock()
		now = base.Add(time.Duration(o) * time.Second)
		mu.Unlock()
		if _, err := l.Append(ctx, ev("t", "x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		at   int
		want uint64
	}{{-1, 0}, {0, 1}, {5, 1}, {10, 3}, {29, 4}, {30, 7}, {40, 8}, {100, 8}} {
		got, err := l.SeqAt(ctx, base.Add(time.Duration(tc.at)*time.Second))
		if err != nil || got != tc.want {
			t.Errorf("SeqAt(+%ds) = %d, %v; want %d", tc.at, got, err, tc.want)
		}
	}
	r, err := l.GetSealed(ctx, 3)
	if err != nil || r.Seq != 3 || r.Payload != nil {
		t.Fatalf("GetSealed(3) = %+v, %v", r, err)
	}
}

func TestCreateAndDestroyValueKeyInOneAppend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	k := NewValueKey()
	id := k.ID()
	sealed, err := k.Seal([]byte("v1"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	// A write and, in the same atomic append, a later event that prunes it.
	if _, err := l.Append(ctx,
		Event{Type: "written", Payload: sealed, NewValueKeys: []*ValueKey{k}},
		Event{Type: "pruned", DestroyValueKeys: []ValueKeyID{id}},
	); err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenValue(ctx, id, sealed, []byte("aad")); !errors.Is(err, ErrValueDestroyed) {
		t.Fatalf("OpenValue after create+destroy: %v", err)
	}
	// Destroying it twice in one append is refused and appends nothing.
	k2 := NewValueKey()
	size := l.Size()
	_, err = l.Append(ctx,
		Event{Type: "written", NewValueKeys: []*ValueKey{k2}},
		Event{Type: "pruned", DestroyValueKeys: []ValueKeyID{k2.ID()}},
		Event{Type: "pruned", DestroyValueKeys: []ValueKeyID{k2.ID()}},
	)
	if !errors.Is(err, ErrValueDestroyed) || l.Size() != size {
		t.Fatalf("double destroy: %v, size %d -> %d", err, size, l.Size())
	}
}

func TestPublicPartReadableSealedAndAuthenticated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	pub := []byte("feldman commitment points")
	if _, err := l.Append(ctx, Event{Type: "system.bootstrapped", Schema: 1, Payload: []byte("sealed"), Public: pub}, ev("t", "no public")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, Event{Type: "t", Public: make([]byte, MaxPublicLen+1)}); err == nil {
		t.Fatal("oversized public part accepted")
	}
	l.Close()
	l, err = Open(ctx, path, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.GetSealed(ctx, 1) // sealed: no key needed
	if err != nil || !bytes.Equal(r.Public, pub) || r.Payload != nil {
		t.Fatalf("sealed read: %+v, %v", r, err)
	}
	if r2, _ := l.GetSealed(ctx, 2); r2.Public != nil {
		t.Fatalf("event without a public part reads %q", r2.Public)
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Get(ctx, 1); err != nil || string(r.Payload) != "sealed" || !bytes.Equal(r.Public, pub) {
		t.Fatalf("unsealed read: %+v, %v", r, err)
	}
}

func TestLastOfType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	if _, ok, err := l.LastOfType(ctx, "system.bootstrapped"); ok || err != nil {
		t.Fatalf("empty log: %v, %v", ok, err)
	}
	l.Append(ctx, Event{Type: "system.bootstrapped", Public: []byte("one")}, ev("a", "x"), Event{Type: "shards.rotated", Public: []byte("two")}, ev("b", "y"))
	r, ok, err := l.LastOfType(ctx, "system.bootstrapped", "shards.rotated")
	if err != nil || !ok || r.Seq != 3 || string(r.Public) != "two" {
		t.Fatalf("LastOfType = %+v, %v, %v", r, ok, err)
	}
	r, ok, _ = l.LastOfType(ctx, "system.bootstrapped")
	if !ok || r.Seq != 1 {
		t.Fatalf("LastOfType(bootstrapped) = %d", r.Seq)
	}
}
