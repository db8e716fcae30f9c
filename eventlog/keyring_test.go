package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/spikeledger/spike/internal/seal"
)

// reopen closes l and opens its file again, unlocked with rootKey.
func reopen(t *testing.T, l *Log, opts Options, rootKey []byte) *Log {
	t.Helper()
	ctx := context.Background()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	opts.Logger = quietLogger
	l2, err := Open(ctx, l.Path(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	if rootKey != nil {
		if err := l2.Unlock(ctx, rootKey); err != nil {
			t.Fatal(err)
		}
	}
	return l2
}

// payloads returns seq → decrypted payload and seq → key id of every event.
func payloads(t *testing.T, l *Log) (map[uint64]string, map[uint64]uint32) {
	t.Helper()
	ps, ids := map[uint64]string{}, map[uint64]uint32{}
	err := l.Scan(context.Background(), 1, 0, func(r Record) error {
		ps[r.Seq], ids[r.Seq] = string(r.Payload), r.KeyID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(ps)) != l.Size() {
		t.Fatalf("scanned %d events, size %d", len(ps), l.Size())
	}
	return ps, ids
}

// sealedValue is one value sealed under a per-value key, as a caller
// would carry it in an event payload.
type sealedValue struct {
	id        ValueKeyID
	raw       []byte // copy of the key, to look for it in the file
	plaintext []byte
	aad       []byte
	sealed    []byte
}

func newSealedValue(t *testing.T, plaintext string) (*ValueKey, sealedValue) {
	t.Helper()
	k := NewValueKey()
	v := sealedValue{id: k.ID(), raw: bytes.Clone(k.raw), plaintext: []byte(plaintext), aad: fmt.Appendf(nil, "field/%s", k.ID())}
	var err error
	if v.sealed, err = k.Seal(v.plaintext, v.aad); err != nil {
		t.Fatal(err)
	}
	return k, v
}

func TestValueKeyDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	k, v := newSealedValue(t, "ssn=078-05-1120; the value to be forgotten")
	_, other := newSealedValue(t, "never stored")
	if v.id == other.id {
		t.Fatal("two value keys share an id")
	}

	hs, err := l.Append(ctx, Event{Type: "pii.stored", Payload: append(v.id[:], v.sealed...), NewValueKeys: []*ValueKey{k}})
	if err != nil {
		t.Fatal(err)
	}
	if hs[0].Seq != 1 {
		t.Fatalf("seq %d", hs[0].Seq)
	}
	// The key is spent by Append, whatever the outcome.
	if _, err := k.Seal([]byte("x"), nil); err == nil {
		t.Fatal("value key still seals after Append")
	}
	if _, err := l.Append(ctx, Event{Type: "again", NewValueKeys: []*ValueKey{k}}); err == nil {
		t.Fatal("spent value key accepted again")
	}

	got, err := l.OpenValue(ctx, v.id, v.sealed, v.aad)
	if err != nil || !bytes.Equal(got, v.plaintext) {
		t.Fatalf("OpenValue = %q, %v", got, err)
	}
	if _, err := l.OpenValue(ctx, v.id, v.sealed, []byte("other aad")); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("OpenValue with wrong aad: %v, want seal.ErrOpen", err)
	}
	if _, err := l.OpenValue(ctx, other.id, other.sealed, other.aad); !errors.Is(err, ErrValueKeyNotFound) {
		t.Fatalf("OpenValue of unknown key: %v, want ErrValueKeyNotFound", err)
	}

	// A key id that already exists cannot be stored again.
	dup := &ValueKey{id: v.id, raw: seal.NewKey()}
	if _, err := l.Append(ctx, Event{Type: "dup", NewValueKeys: []*ValueKey{dup}}); err == nil {
		t.Fatal("value key id stored twice")
	}
	if l.Size() != 1 {
		t.Fatalf("size %d after rejected appends, want 1", l.Size())
	}

	// Neither the value nor its key is in the file in clear.
	file, err := os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, v.plaintext) || bytes.Contains(file, v.raw) {
		t.Fatal("file holds the value or its key in clear")
	}

	if _, err := l.Append(ctx, Event{Type: "pii.erased", DestroyValueKeys: []ValueKeyID{v.id}}); err != nil {
		t.Fatal(err)
	}
	if l.Size() != 2 {
		t.Fatalf("size %d, want 2", l.Size())
	}
	if got, err := l.OpenValue(ctx, v.id, v.sealed, v.aad); !errors.Is(err, ErrValueDestroyed) || got != nil {
		t.Fatalf("OpenValue after destroy = %q, %v; want ErrValueDestroyed", got, err)
	}

	for _, tc := range []struct {
		name string
		evs  []Event
		want error
	}{
		{"destroy again", []Event{{Type: "pii.erased", DestroyValueKeys: []ValueKeyID{v.id}}}, ErrValueDestroyed},
		{"destroy unknown", []Event{{Type: "pii.erased", DestroyValueKeys: []ValueKeyID{other.id}}}, ErrValueKeyNotFound},
		{"good event with a bad one", []Event{ev("fine", "x"), {Type: "pii.erased", DestroyValueKeys: []ValueKeyID{other.id}}}, ErrValueKeyNotFound},
		{"bad destroy with a new key", []Event{{Type: "pii.erased", DestroyValueKeys: []ValueKeyID{v.id}, NewValueKeys: []*ValueKey{NewValueKey()}}}, ErrValueDestroyed},
	} {
		hs, err := l.Append(ctx, tc.evs...)
		if !errors.Is(err, tc.want) || hs != nil {
			t.Errorf("%s: Append = %v, %v; want %v", tc.name, hs, err, tc.want)
		}
		if l.Size() != 2 {
			t.Fatalf("%s: size %d after a failed Append, want 2", tc.name, l.Size())
		}
	}
	// Destroying the same id twice in one Append is refused too.
	k2, v2 := newSealedValue(t, "second")
	if _, err := l.Append(ctx, Event{Type: "pii.stored", NewValueKeys: []*ValueKey{k2}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, Event{Type: "a", DestroyValueKeys: []ValueKeyID{v2.id}}, Event{Type: "b", DestroyValueKeys: []ValueKeyID{v2.id}}); err == nil {
		t.Fatal("one key destroyed twice in one Append")
	}
	if got, err := l.OpenValue(ctx, v2.id, v2.sealed, v2.aad); err != nil || !bytes.Equal(got, v2.plaintext) {
		t.Fatalf("failed Append destroyed a key: %q, %v", got, err)
	}
	if l.Size() != 3 {
		t.Fatalf("size %d, want 3", l.Size())
	}

	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, vkey, VerifyOptions{}); err != nil {
		t.Fatalf("verify after destroy: %v", err)
	}

	// The destruction is durable; other values are not affected.
	l = reopen(t, l, Options{}, nil)
	if _, err := l.OpenValue(ctx, v.id, v.sealed, v.aad); !errors.Is(err, ErrSealed) {
		t.Fatalf("OpenValue while sealed: %v, want ErrSealed", err)
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.OpenValue(ctx, v.id, v.sealed, v.aad); !errors.Is(err, ErrValueDestroyed) {
		t.Fatalf("OpenValue after reopen: %v, want ErrValueDestroyed", err)
	}
	if got, err := l.OpenValue(ctx, v2.id, v2.sealed, v2.aad); err != nil || !bytes.Equal(got, v2.plaintext) {
		t.Fatalf("OpenValue of the other value after reopen = %q, %v", got, err)
	}
	// The event that carried the value is still there and verifies.
	r, err := l.Get(ctx, 1)
	if err != nil || !bytes.Equal(r.Payload, append(v.id[:], v.sealed...)) {
		t.Fatalf("Get(1) = %q, %v", r.Payload, err)
	}
	if _, err := l.Verify(ctx, vkey, VerifyOptions{}); err != nil {
		t.Fatalf("verify after reopen: %v", err)
	}
	file, err = os.ReadFile(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(file, v.plaintext) || bytes.Contains(file, v.raw) || bytes.Contains(file, v2.raw) {
		t.Fatal("file holds a value or a value key in clear")
	}
}

// TestValueKeyBadDestroyInBatch puts a request whose destroy is invalid in
// the same commit as two good ones: it must fail alone, and the good ones
// must get dense sequence numbers.
func TestValueKeyBadDestroyInBatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	kGood, vGood := newSealedValue(t, "kept")
	unknown := NewValueKey().ID()

	// Hold the writer inside a transaction while the three requests queue
	// behind it, so that they are collected into one batch.
	entered, release := make(chan struct{}), make(chan struct{})
	blocked := make(chan error, 1)
	go func() {
		blocked <- l.w.do(ctx, func(*bolt.Tx, *writeState) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	reqs := []*request{
		{events: []Event{ev("good.1", "a"), ev("good.1", "b")}},
		{events: []Event{ev("bad", "c"), {Type: "bad", DestroyValueKeys: []ValueKeyID{unknown}}}},
		{events: []Event{{Type: "good.2", Payload: vGood.sealed, NewValueKeys: []*ValueKey{kGood}}}},
	}
	for _, r := range reqs {
		r.done = make(chan struct{})
		if err := l.w.submit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if err := <-blocked; err != nil {
		t.Fatal(err)
	}
	for _, r := range reqs {
		<-r.done
	}
	if reqs[0].err != nil || reqs[2].err != nil {
		t.Fatalf("good requests failed: %v, %v", reqs[0].err, reqs[2].err)
	}
	if !errors.Is(reqs[1].err, ErrValueKeyNotFound) || reqs[1].records != nil {
		t.Fatalf("bad request: %v, %v; want ErrValueKeyNotFound and no headers", reqs[1].records, reqs[1].err)
	}
	var seqs []uint64
	for _, r := range []*request{reqs[0], reqs[2]} {
		for _, h := range r.records {
			seqs = append(seqs, h.Seq)
		}
	}
	if fmt.Sprint(seqs) != "[1 2 3]" || l.Size() != 3 {
		t.Fatalf("seqs %v, size %d; want [1 2 3], 3", seqs, l.Size())
	}
	ps, _ := payloads(t, l)
	if ps[1] != "a" || ps[2] != "b" || ps[3] != string(vGood.sealed) {
		t.Fatalf("payloads %v", ps)
	}
	if got, err := l.OpenValue(ctx, vGood.id, vGood.sealed, vGood.aad); err != nil || !bytes.Equal(got, vGood.plaintext) {
		t.Fatalf("value key of the good request: %q, %v", got, err)
	}
	// Every request's value keys are spent, the failed one's included.
	if kGood.raw != nil {
		t.Fatal("value key not spent")
	}
	vkey, _ := l.VerifierKey(ctx)
	if _, err := l.Verify(ctx, vkey, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestValueKeyConcurrentDestroys races good and bad appends through the
// public API: the bad ones fail, the good ones commit densely.
func TestValueKeyConcurrentDestroys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	const n = 40
	type result struct {
		bad bool
		hs  []Record
		err error
	}
	results := make(chan result, n)
	for i := range n {
		bad := i%2 == 1
		go func() {
			e := ev("good", fmt.Sprint(i))
			if bad {
				e = Event{Type: "bad", DestroyValueKeys: []ValueKeyID{NewValueKey().ID()}}
			}
			hs, err := l.Append(ctx, e)
			results <- result{bad, hs, err}
		}()
	}
	seen := map[uint64]bool{}
	for range n {
		r := <-results
		switch {
		case r.bad && !errors.Is(r.err, ErrValueKeyNotFound):
			t.Errorf("bad append: %v, want ErrValueKeyNotFound", r.err)
		case !r.bad && (r.err != nil || len(r.hs) != 1):
			t.Errorf("good append: %v, %v", r.hs, r.err)
		case !r.bad:
			seen[r.hs[0].Seq] = true
		}
	}
	for seq := uint64(1); seq <= n/2; seq++ {
		if !seen[seq] {
			t.Errorf("seq %d missing; got %v", seq, seen)
		}
	}
	if l.Size() != n/2 || len(seen) != n/2 {
		t.Fatalf("size %d, %d good appends; want %d", l.Size(), len(seen), n/2)
	}
}

func TestRotateDataKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	for i := range 3 {
		if _, err := l.Append(ctx, ev("before", fmt.Sprint("b", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := l.Append(ctx, ev("after", fmt.Sprint("a", i))); err != nil {
			t.Fatal(err)
		}
	}
	check := func(l *Log) {
		t.Helper()
		ps, ids := payloads(t, l)
		want := map[uint64]string{1: "b0", 2: "b1", 3: "b2", 4: "a0", 5: "a1", 6: "a2"}
		if fmt.Sprint(ps) != fmt.Sprint(want) {
			t.Fatalf("payloads %v, want %v", ps, want)
		}
		if ids[1] != ids[2] || ids[2] != ids[3] || ids[4] != ids[5] || ids[5] != ids[6] {
			t.Fatalf("key ids within an epoch differ: %v", ids)
		}
		if ids[3] == ids[4] {
			t.Fatalf("key id %d used before and after rotation", ids[3])
		}
	}
	check(l)
	l = reopen(t, l, Options{}, testKey(1))
	check(l)
	// The new key stays current across a reopen.
	hs, err := l.Append(ctx, ev("after", "a3"))
	if err != nil {
		t.Fatal(err)
	}
	_, ids := payloads(t, l)
	if hs[0].KeyID != ids[4] {
		t.Fatalf("event after reopen sealed under key %d, want current key %d", hs[0].KeyID, ids[4])
	}
	if err := l.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.RotateDataKey(ctx); !errors.Is(err, ErrSealed) {
		t.Fatalf("rotate while sealed: %v, want ErrSealed", err)
	}
}

func TestRotateDataKeyAutomatically(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	opts := Options{MaxEventsPerKey: 10}
	l := openTest(t, opts)
	for i := range 35 {
		n := 1 + i%3 // mix single and multi-event appends
		if int(l.Size())+n > 35 {
			n = 35 - int(l.Size())
		}
		if n == 0 {
			break
		}
		evs := make([]Event, n)
		for j := range evs {
			evs[j] = ev("t", fmt.Sprint(int(l.Size())+j+1))
		}
		if _, err := l.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	if l.Size() != 35 {
		t.Fatalf("size %d", l.Size())
	}
	check := func(l *Log) {
		t.Helper()
		ps, ids := payloads(t, l)
		perKey := map[uint32]int{}
		for seq, p := range ps {
			if p != fmt.Sprint(seq) {
				t.Fatalf("seq %d payload %q", seq, p)
			}
			perKey[ids[seq]]++
		}
		if len(perKey) < 4 {
			t.Fatalf("%d distinct data keys for 35 events at 10 per key: %v", len(perKey), perKey)
		}
		for id, n := range perKey {
			if n > 10 {
				t.Fatalf("key %d sealed %d events, limit 10", id, n)
			}
		}
		// Keys are used in contiguous epochs.
		for seq := uint64(2); seq <= 35; seq++ {
			if ids[seq] < ids[seq-1] {
				t.Fatalf("key id goes back from %d to %d at seq %d", ids[seq-1], ids[seq], seq)
			}
		}
	}
	check(l)
	check(reopen(t, l, opts, testKey(1)))
}

func TestRewrap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	k, v := newSealedValue(t, "value under its own key")
	if _, err := l.Append(ctx, ev("t", "one"), Event{Type: "v", Payload: []byte("two"), NewValueKeys: []*ValueKey{k}}); err != nil {
		t.Fatal(err)
	}
	if err := l.RotateDataKey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, ev("t", "three")); err != nil {
		t.Fatal(err)
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Rewrap(ctx, []byte("short")); err == nil {
		t.Fatal("short root key accepted")
	}
	if err := l.Rewrap(ctx, testKey(2)); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]string{1: "one", 2: "two", 3: "three"}
	check := func(l *Log) {
		t.Helper()
		if ps, _ := payloads(t, l); fmt.Sprint(ps) != fmt.Sprint(want) {
			t.Fatalf("payloads %v, want %v", ps, want)
		}
		if got, err := l.OpenValue(ctx, v.id, v.sealed, v.aad); err != nil || !bytes.Equal(got, v.plaintext) {
			t.Fatalf("OpenValue = %q, %v", got, err)
		}
		if vk, err := l.VerifierKey(ctx); err != nil || vk != vkey {
			t.Fatalf("verifier key %q, %v; want %q", vk, err, vkey)
		}
		if _, err := l.Verify(ctx, vkey, VerifyOptions{}); err != nil {
			t.Fatalf("verify with the old verifier key: %v", err)
		}
	}
	check(l) // the running log keeps working

	l = reopen(t, l, Options{}, nil)
	if err := l.Unlock(ctx, testKey(1)); !errors.Is(err, ErrWrongRootKey) {
		t.Fatalf("old root key after rewrap: %v, want ErrWrongRootKey", err)
	}
	if !l.Sealed() {
		t.Fatal("failed unlock unsealed the log")
	}
	if err := l.Unlock(ctx, testKey(2)); err != nil {
		t.Fatal(err)
	}
	check(l)
	// Appends go on under the same data key, and checkpoints are still
	// signed by the same key.
	hs, err := l.Append(ctx, ev("t", "four"))
	if err != nil {
		t.Fatal(err)
	}
	want[4] = "four"
	l = reopen(t, l, Options{}, testKey(2))
	check(l)
	if cp, ok, err := l.LatestCheckpoint(ctx); err != nil || !ok || cp.Size != hs[0].Seq {
		t.Fatalf("latest checkpoint %+v, %v, %v; want size %d", cp, ok, err, hs[0].Seq)
	}

	if err := l.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Rewrap(ctx, testKey(3)); !errors.Is(err, ErrSealed) {
		t.Fatalf("rewrap while sealed: %v, want ErrSealed", err)
	}
}

// TestRewrapAfterDestroy rotates the root key of a log in which a value
// key was destroyed: rotating the root key after destroying values is
// exactly what completes crypto-shredding for old backups.
func TestRewrapAfterDestroy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	kGone, vGone := newSealedValue(t, "gone")
	kKept, vKept := newSealedValue(t, "kept")
	if _, err := l.Append(ctx, Event{Type: "v", NewValueKeys: []*ValueKey{kGone, kKept}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, Event{Type: "erase", DestroyValueKeys: []ValueKeyID{vGone.id}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Rewrap(ctx, testKey(2)); err != nil {
		t.Fatalf("Rewrap after destroying a value key: %v", err)
	}
	l = reopen(t, l, Options{}, testKey(2))
	if _, err := l.OpenValue(ctx, vGone.id, vGone.sealed, vGone.aad); !errors.Is(err, ErrValueDestroyed) {
		t.Fatalf("destroyed value after rewrap: %v, want ErrValueDestroyed", err)
	}
	if got, err := l.OpenValue(ctx, vKept.id, vKept.sealed, vKept.aad); err != nil || !bytes.Equal(got, vKept.plaintext) {
		t.Fatalf("kept value after rewrap = %q, %v", got, err)
	}
}

func TestLockUnlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{})
	if _, err := l.Append(ctx, ev("t", "before lock")); err != nil {
		t.Fatal(err)
	}
	k, v := newSealedValue(t, "v")
	if _, err := l.Append(ctx, Event{Type: "v", NewValueKeys: []*ValueKey{k}}); err != nil {
		t.Fatal(err)
	}
	if l.Sealed() {
		t.Fatal("unlocked log reports sealed")
	}
	if err := l.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	if !l.Sealed() {
		t.Fatal("locked log reports unsealed")
	}
	k2 := NewValueKey()
	if _, err := l.Append(ctx, Event{Type: "t", NewValueKeys: []*ValueKey{k2}}); !errors.Is(err, ErrSealed) {
		t.Fatalf("Append while locked: %v, want ErrSealed", err)
	}
	if k2.raw != nil {
		t.Fatal("value key of a refused Append not spent")
	}
	if _, err := l.Get(ctx, 1); !errors.Is(err, ErrSealed) {
		t.Fatalf("Get while locked: %v, want ErrSealed", err)
	}
	if err := l.Scan(ctx, 1, 0, func(Record) error { return nil }); !errors.Is(err, ErrSealed) {
		t.Fatalf("Scan while locked: %v, want ErrSealed", err)
	}
	if _, err := l.OpenValue(ctx, v.id, v.sealed, v.aad); !errors.Is(err, ErrSealed) {
		t.Fatalf("OpenValue while locked: %v, want ErrSealed", err)
	}
	if _, err := l.Subscribe(1).Next(ctx); !errors.Is(err, ErrSealed) {
		t.Fatalf("Subscription.Next while locked: %v, want ErrSealed", err)
	}
	var types []string
	err := l.ScanSealed(ctx, 1, 0, func(r Record) error {
		if r.Payload != nil {
			return fmt.Errorf("sealed scan returned payload %q", r.Payload)
		}
		types = append(types, r.Type)
		return nil
	})
	if err != nil || fmt.Sprint(types) != "[t v]" {
		t.Fatalf("ScanSealed = %v, %v", types, err)
	}
	if l.Size() != 2 {
		t.Fatalf("size %d after refused append, want 2", l.Size())
	}
	if err := l.Unlock(ctx, testKey(9)); !errors.Is(err, ErrWrongRootKey) || !l.Sealed() {
		t.Fatalf("wrong key: %v, sealed %v", err, l.Sealed())
	}
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Get(ctx, 1); err != nil || string(r.Payload) != "before lock" {
		t.Fatalf("Get after unlock = %q, %v", r.Payload, err)
	}
	if got, err := l.OpenValue(ctx, v.id, v.sealed, v.aad); err != nil || !bytes.Equal(got, v.plaintext) {
		t.Fatalf("OpenValue after unlock = %q, %v", got, err)
	}
	if _, err := l.Append(ctx, ev("t", "after unlock")); err != nil {
		t.Fatal(err)
	}
	// Checkpoints are still signed by the right key after Lock zeroed the
	// old signer.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFile(ctx, l.Path(), mustVerifierKey(t, l.Path()), VerifyOptions{})
	if err != nil || rep.Size != 3 || rep.Latest.Size != 3 {
		t.Fatalf("verify %+v, %v; want size 3 with a checkpoint at 3", rep, err)
	}
}

// mustVerifierKey reads the verifier key recorded in a closed log file.
func mustVerifierKey(t *testing.T, path string) string {
	t.Helper()
	l, err := Open(context.Background(), path, Options{LockTimeout: 5 * time.Second, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	vkey, err := l.VerifierKey(context.Background())
	if err != nil || vkey == "" {
		t.Fatalf("VerifierKey = %q, %v", vkey, err)
	}
	return vkey
}

func TestLockedCloseKeepsCheckpointsValid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := openTest(t, Options{CheckpointInterval: time.Hour})
	vkey, _ := l.VerifierKey(ctx)
	if _, err := l.Append(ctx, ev("t", "x")); err != nil {
		t.Fatal(err)
	}
	if err := l.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	// Closing a locked log cannot sign; it must not write a bad checkpoint
	// either.
	l = reopen(t, l, Options{}, nil)
	rep, err := l.Verify(ctx, vkey, VerifyOptions{})
	if err != nil || rep.Size != 1 || rep.Checkpoints != 0 {
		t.Fatalf("verify %+v, %v; want size 1 and no checkpoint", rep, err)
	}
}
