package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// damageFixture is a closed log of a few thousand events, with value keys
// stored and destroyed, spread over many pages of the file.
type damageFixture struct {
	path, vkey string
	bytes      []byte
	pageSize   int
	// used is how much of the file holds pages in use (bbolt grows the
	// file ahead of them); the damage is done there.
	used int
}

func buildDamageLog(t *testing.T) *damageFixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	l, err := Open(ctx, path, Options{CheckpointEvery: 100, CheckpointInterval: time.Hour, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	var keys []ValueKeyID
	for i := range 300 {
		evs := make([]Event, 0, 10)
		for j := range 10 {
			e := Event{Type: "secret.written", Schema: 1, Payload: bytes.Repeat([]byte{byte(i + j)}, 100+(i*j)%300)}
			if j == 0 {
				k := NewValueKey()
				keys = append(keys, k.ID())
				e.NewValueKeys = []*ValueKey{k}
			}
			if j == 1 && i%3 == 2 {
				e.DestroyValueKeys = []ValueKeyID{keys[i-1]}
			}
			evs = append(evs, e)
		}
		if _, err := l.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyFile(ctx, path, vkey, VerifyOptions{}); err != nil {
		t.Fatalf("the undamaged log does not verify: %v", err)
	}
	var used int64
	tamperView(t, path, func(tx *bolt.Tx) error { used = tx.Size(); return nil })
	t.Logf("log file: %d bytes, %d in use", len(b), used)
	return &damageFixture{path: path, vkey: vkey, bytes: b, pageSize: os.Getpagesize(), used: int(used)}
}

// damage is one way a file goes bad.
type damage struct {
	name string
	do   func(r *rand.Rand, b []byte, page int) []byte
}

var damages = []damage{
	{"flip a byte", func(r *rand.Rand, b []byte, _ int) []byte {
		b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
		return b
	}},
	{"flip eight bytes", func(r *rand.Rand, b []byte, _ int) []byte {
		for range 8 {
			b[r.IntN(len(b))] ^= byte(1 + r.IntN(255))
		}
		return b
	}},
	{"truncate", func(r *rand.Rand, b []byte, _ int) []byte { return b[:r.IntN(len(b))] }},
	{"truncate at a page", func(r *rand.Rand, b []byte, page int) []byte { return b[:page*r.IntN(len(b)/page)] }},
	{"swap two pages", func(r *rand.Rand, b []byte, page int) []byte {
		n := len(b) / page
		i, j := r.IntN(n), r.IntN(n)
		pi, pj := bytes.Clone(b[i*page:(i+1)*page]), b[j*page:(j+1)*page]
		copy(b[i*page:], pj)
		copy(b[j*page:], pi)
		return b
	}},
	{"zero a page", func(r *rand.Rand, b []byte, page int) []byte {
		i := r.IntN(len(b) / page)
		clear(b[i*page : (i+1)*page])
		return b
	}},
	{"huge page id", func(r *rand.Rand, b []byte, page int) []byte {
		// A page header's id or a branch element's child id, set far
		// past the end of the file.
		i := 2 + r.IntN(len(b)/page-2)
		off := i*page + 16 + 16*r.IntN(8)
		if off+8 <= len(b) {
			copy(b[off:], []byte{0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0})
		}
		return b
	}},
}

// TestVerifyFileNeverCrashes damages a real log in hundreds of ways (byte
// flips, truncations, swapped, zeroed and misdirected pages) and verifies
// each copy: verification must return, never crash, and a copy whose
// bytes differ where the log keeps its events is reported. With -short
// fewer cases run.
func TestVerifyFileNeverCrashes(t *testing.T) {
	t.Parallel()
	fx := buildDamageLog(t)
	cases := 420
	if testing.Short() {
		cases = 70
	}
	dir := t.TempDir()
	detected := map[string]int{}
	for i := range cases {
		d := damages[i%len(damages)]
		r := rand.New(rand.NewPCG(uint64(i), 7))
		b := bytes.Clone(fx.bytes)
		if out := d.do(r, b[:fx.used], fx.pageSize); len(out) < fx.used {
			b = out // truncated
		}
		path := filepath.Join(dir, fmt.Sprintf("case-%d.db", i))
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := VerifyFile(context.Background(), path, fx.vkey, VerifyOptions{})
		if err != nil {
			detected[d.name]++
			var ie *IntegrityError
			if !errors.As(err, &ie) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTampered) {
				t.Logf("case %d (%s): reported as %v", i, d.name, err)
			}
		}
		os.Remove(path)
	}
	for _, d := range damages {
		t.Logf("%s: %d of %d damaged copies reported", d.name, detected[d.name], cases/len(damages))
	}
	// Truncating the file or zeroing a page always loses something a
	// verifier must miss.
	for _, name := range []string{"truncate at a page", "zero a page"} {
		if detected[name] == 0 {
			t.Errorf("%s: no damaged copy was reported", name)
		}
	}
}

// TestVerifyValueKeys: a value key entry of the wrong shape is reported
// by every verification; a changed byte inside a wrapped key only by one
// that holds the root key, which opens each wrapped key.
func TestVerifyValueKeys(t *testing.T) {
	t.Parallel()
	fx := buildDamageLog(t)
	ctx := context.Background()
	edit := func(t *testing.T, f func(b *bolt.Bucket) error) string {
		t.Helper()
		path := filepath.Join(t.TempDir(), "events.db")
		if err := os.WriteFile(path, fx.bytes, 0o600); err != nil {
			t.Fatal(err)
		}
		tamperEdit(t, path, func(tx *bolt.Tx) error { return f(tx.Bucket(bucketValueKeys)) })
		return path
	}
	firstLive := func(b *bolt.Bucket) ([]byte, []byte) {
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if !isDestroyed(v) {
				return bytes.Clone(k), bytes.Clone(v)
			}
		}
		t.Fatal("no live value key")
		return nil, nil
	}
	for _, tc := range []struct {
		name    string
		f       func(b *bolt.Bucket) error
		offline bool // VerifyFile, without the root key, reports it
	}{
		{"wrapped key shortened", func(b *bolt.Bucket) error { k, v := firstLive(b); return b.Put(k, v[:len(v)-1]) }, true},
		{"id shortened", func(b *bolt.Bucket) error {
			k, v := firstLive(b)
			if err := b.Delete(k); err != nil {
				return err
			}
			return b.Put(k[:15], v)
		}, true},
		{"byte flipped in a wrapped key", func(b *bolt.Bucket) error { k, v := firstLive(b); v[20] ^= 1; return b.Put(k, v) }, false},
		{"byte flipped in an id", func(b *bolt.Bucket) error {
			k, v := firstLive(b)
			if err := b.Delete(k); err != nil {
				return err
			}
			k[15] ^= 1
			return b.Put(k, v)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := edit(t, tc.f)
			_, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{})
			if tc.offline != (err != nil) {
				t.Errorf("VerifyFile: %v, want reported %v", err, tc.offline)
			}
			l, err := OpenReadOnly(ctx, path, Options{Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Unlock(ctx, testKey(1)); err != nil {
				t.Fatal(err)
			}
			var ie *IntegrityError
			if _, err := l.Verify(ctx, fx.vkey, VerifyOptions{}); !errors.As(err, &ie) {
				t.Errorf("Verify with the root key: %v, want an integrity error", err)
			}
		})
	}
}
