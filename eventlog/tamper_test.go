package eventlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// quietLogger keeps the warnings about temp directories' modes out of the
// test output.
var quietLogger = slog.New(slog.DiscardHandler)

// tamperFixture is a closed log file that tests copy and then damage.
type tamperFixture struct {
	path   string
	vkey   string
	origin string
	size   uint64
	// checkpoints maps tree size to the signed note stored for it.
	checkpoints map[uint64][]byte
	cpSizes     []uint64 // ascending
	latest      Checkpoint
}

// buildTamperLog writes a log of n events (in uneven batches, so that
// checkpoints land at various sizes) with a checkpoint at least every 50
// events, closes it, and returns what an auditor would have saved.
func buildTamperLog(t *testing.T, n uint64) *tamperFixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orig", "events.db")
	// A long interval keeps the checkpoints a function of the event count
	// alone, so the test does not depend on how fast the machine is.
	l, err := Open(ctx, path, Options{CheckpointEvery: 50, CheckpointInterval: time.Hour, Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	types := []string{"account.opened", "secret.written", "secret.read", "policy/put", "x"}
	for i := uint64(0); i < n; {
		k := min(n-i, 1+i%9)
		evs := make([]Event, 0, k)
		for j := range k {
			seq := i + j + 1
			evs = append(evs, Event{
				Type:    types[seq%uint64(len(types))],
				Schema:  uint32(seq % 3),
				Payload: fmt.Appendf(nil, "payload %04d %s", seq, strings.Repeat("z", int(seq%40))),
			})
		}
		if _, err := l.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		i += k
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil || vkey == "" {
		t.Fatalf("VerifierKey = %q, %v", vkey, err)
	}
	fx := &tamperFixture{path: path, vkey: vkey, origin: l.Origin(), size: l.Size(), checkpoints: map[uint64][]byte{}}
	if err := l.Close(); err != nil { // writes the final checkpoint
		t.Fatal(err)
	}
	tamperView(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).ForEach(func(k, v []byte) error {
			fx.checkpoints[beUint64(k)] = bytes.Clone(v)
			fx.cpSizes = append(fx.cpSizes, beUint64(k))
			return nil
		})
	})
	if fx.size != n {
		t.Fatalf("size %d, want %d", fx.size, n)
	}
	if len(fx.cpSizes) < int(n/50) || fx.cpSizes[len(fx.cpSizes)-1] != n {
		t.Fatalf("checkpoints at %v: want at least %d, the last at %d", fx.cpSizes, n/50, n)
	}
	fx.latest, err = OpenCheckpoint(fx.checkpoints[n], vkey)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

// copy returns a fresh copy of the fixture's file.
func (fx *tamperFixture) copy(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "copy.db")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tamperView runs f in a read transaction on the bbolt file at path.
func tamperView(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(f); err != nil {
		t.Fatal(err)
	}
}

// tamperEdit changes the bbolt file at path directly, as an attacker with
// write access to the file (and no keys) could.
func tamperEdit(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// rawEnvelope returns the stored envelope of seq.
func rawEnvelope(t *testing.T, path string, seq uint64) []byte {
	t.Helper()
	var env []byte
	tamperView(t, path, func(tx *bolt.Tx) error {
		env = bytes.Clone(tx.Bucket(bucketEvents).Get(u64key(seq)))
		return nil
	})
	if env == nil {
		t.Fatalf("event %d not stored", seq)
	}
	return env
}

// hashOwner returns the seq of the record whose append stored the tree
// hash with the given stored-hash index.
func hashOwner(idx int64) uint64 {
	n := int64(0)
	for tlog.StoredHashIndex(0, n+1) <= idx {
		n++
	}
	return uint64(n + 1)
}

// putHash overwrites one stored hash with a different value.
func putHash(idx int64) func(tx *bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHashes)
		h := bytes.Clone(b.Get(u64key(uint64(idx))))
		if len(h) != tlog.HashSize {
			return fmt.Errorf("stored hash %d missing", idx)
		}
		h[7] ^= 0x40
		return b.Put(u64key(uint64(idx)), h)
	}
}

// alterNote returns a copy of a signed checkpoint note with either its
// root hash or its signature changed, keeping the note well-formed.
func alterNote(t *testing.T, msg []byte, part string) []byte {
	t.Helper()
	text, sigs, ok := bytes.Cut(msg, []byte("\n\n"))
	if !ok {
		t.Fatalf("note has no signature block: %q", msg)
	}
	switch part {
	case "root":
		lines := strings.Split(string(text), "\n")
		root, err := base64.StdEncoding.DecodeString(lines[2])
		if err != nil {
			t.Fatal(err)
		}
		root[0] ^= 1
		lines[2] = base64.StdEncoding.EncodeToString(root)
		text = []byte(strings.Join(lines, "\n"))
	case "signature":
		line := strings.TrimSuffix(string(sigs), "\n")
		i := strings.LastIndexByte(line, ' ')
		sig, err := base64.StdEncoding.DecodeString(line[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		sig[len(sig)-1] ^= 1 // keep the 4-byte key hash, break the signature
		sigs = []byte(line[:i+1] + base64.StdEncoding.EncodeToString(sig) + "\n")
	default:
		t.Fatalf("unknown part %q", part)
	}
	out := append(append(bytes.Clone(text), "\n\n"...), sigs...)
	if bytes.Equal(out, msg) {
		t.Fatal("alterNote changed nothing")
	}
	return out
}

// wantIntegrity checks that err is an *IntegrityError wrapping ErrTampered
// and naming seq and checkpoint (either may be -1 for "don't care").
func wantIntegrity(t *testing.T, err error, seq, checkpoint int64) *IntegrityError {
	t.Helper()
	var ie *IntegrityError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v (%T), want *IntegrityError", err, err)
	}
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v does not match ErrTampered", err)
	}
	if seq >= 0 && ie.Seq != uint64(seq) {
		t.Fatalf("IntegrityError.Seq = %d, want %d (%v)", ie.Seq, seq, err)
	}
	if checkpoint >= 0 && ie.Checkpoint != uint64(checkpoint) {
		t.Fatalf("IntegrityError.Checkpoint = %d, want %d (%v)", ie.Checkpoint, checkpoint, err)
	}
	return ie
}

func TestTamperDetected(t *testing.T) {
	t.Parallel()
	fx := buildTamperLog(t, 300)
	cpMid := fx.cpSizes[1]
	cpFirst := fx.cpSizes[0]

	type tamperCase struct {
		name   string
		tamper func(t *testing.T, path string)
		// seq and checkpoint are the expected IntegrityError fields; -1
		// means any value.
		seq, checkpoint int64
		// getSeq, if set, is an event whose decrypting read must fail too.
		getSeq uint64
	}
	edit := func(f func(tx *bolt.Tx) error) func(*testing.T, string) {
		return func(t *testing.T, path string) { tamperEdit(t, path, f) }
	}
	putEvent := func(seq uint64, mod func(env []byte) []byte) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			env := mod(rawEnvelope(t, path, seq))
			tamperEdit(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEvents).Put(u64key(seq), env)
			})
		}
	}
	putCheckpoint := func(size uint64, msg func(t *testing.T) []byte) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			m := msg(t)
			tamperEdit(t, path, func(tx *bolt.Tx) error {
				return tx.Bucket(bucketCheckpoints).Put(u64key(size), m)
			})
		}
	}
	leafIdx := tlog.StoredHashIndex(0, 99)     // leaf of seq 100
	interiorIdx := tlog.StoredHashIndex(2, 10) // covers seqs 41..44
	deletedIdx := tlog.StoredHashIndex(1, 60)  // covers seqs 121..122

	cases := []tamperCase{
		{
			name: "raw file byte of ciphertext flipped",
			tamper: func(t *testing.T, path string) {
				env := rawEnvelope(t, path, 137)
				h, aad, _, err := decodeEnvelope(env)
				if err != nil || h.Seq != 137 {
					t.Fatalf("decode seq 137: %+v, %v", h, err)
				}
				off := len(aad) + 12 + 3 // inside the ciphertext, past the nonce
				file, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				// bbolt's copy-on-write can leave stale copies of the page
				// in free pages: flip every occurrence.
				hits := 0
				for i := 0; ; {
					j := bytes.Index(file[i:], env)
					if j < 0 {
						break
					}
					file[i+j+off] ^= 0x01
					hits++
					i += j + len(env)
				}
				if hits == 0 {
					t.Fatal("envelope of seq 137 not found in the file")
				}
				if err := os.WriteFile(path, file, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			seq: 137, checkpoint: 0, getSeq: 137,
		},
		{
			name: "authentication tag altered",
			tamper: putEvent(200, func(env []byte) []byte {
				env[len(env)-1] ^= 0x80
				return env
			}),
			seq: 200, checkpoint: 0, getSeq: 200,
		},
		{
			name: "envelope truncated",
			tamper: putEvent(5, func(env []byte) []byte {
				return env[:len(env)-1]
			}),
			seq: 5, checkpoint: 0, getSeq: 5,
		},
		{
			name: "envelope replaced by the next event's",
			tamper: func(t *testing.T, path string) {
				next := rawEnvelope(t, path, 202)
				putEvent(201, func([]byte) []byte { return next })(t, path)
			},
			seq: 201, checkpoint: 0, getSeq: 201,
		},
		{
			name: "envelope replaced by garbage",
			tamper: putEvent(1, func(env []byte) []byte {
				return []byte("not an envelope")
			}),
			seq: 1, checkpoint: 0, getSeq: 1,
		},
		{
			name: "type name in header changed",
			tamper: putEvent(42, func(env []byte) []byte {
				i := fixedHeaderLen + int(env[41]) - 1 // last byte of the type name
				if env[i] == 'q' {
					env[i] = 'r'
				} else {
					env[i] = 'q'
				}
				return env
			}),
			seq: 42, checkpoint: 0, getSeq: 42,
		},
		{
			name: "schema in header changed",
			tamper: putEvent(250, func(env []byte) []byte {
				env[36] ^= 0x10
				return env
			}),
			seq: 250, checkpoint: 0, getSeq: 250,
		},
		{
			name:   "stored leaf hash changed",
			tamper: edit(putHash(leafIdx)),
			seq:    int64(hashOwner(leafIdx)), checkpoint: 0,
		},
		{
			name:   "stored interior hash changed",
			tamper: edit(putHash(interiorIdx)),
			seq:    int64(hashOwner(interiorIdx)), checkpoint: 0,
		},
		{
			name: "stored interior hash deleted",
			tamper: edit(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketHashes).Delete(u64key(uint64(deletedIdx)))
			}),
			seq: int64(hashOwner(deletedIdx)), checkpoint: 0,
		},
		{
			name: "event deleted",
			tamper: edit(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEvents).Delete(u64key(150))
			}),
			seq: 150, checkpoint: 0, getSeq: 150,
		},
		{
			name: "last event deleted",
			tamper: edit(func(tx *bolt.Tx) error {
				return tx.Bucket(bucketEvents).Delete(u64key(fx.size))
			}),
			seq: -1, checkpoint: -1,
		},
		{
			name: "last event and its hashes deleted",
			tamper: edit(func(tx *bolt.Tx) error {
				if err := tx.Bucket(bucketEvents).Delete(u64key(fx.size)); err != nil {
					return err
				}
				hb := tx.Bucket(bucketHashes)
				for i := tlog.StoredHashCount(int64(fx.size - 1)); i < tlog.StoredHashCount(int64(fx.size)); i++ {
					if err := hb.Delete(u64key(uint64(i))); err != nil {
						return err
					}
				}
				return nil
			}),
			// Internally consistent, but the signed checkpoint at the old
			// size no longer fits the tree.
			seq: 0, checkpoint: int64(fx.size),
		},
		{
			name: "checkpoint root altered",
			tamper: putCheckpoint(cpMid, func(t *testing.T) []byte {
				return alterNote(t, fx.checkpoints[cpMid], "root")
			}),
			seq: 0, checkpoint: int64(cpMid),
		},
		{
			name: "checkpoint signature altered",
			tamper: putCheckpoint(cpMid, func(t *testing.T) []byte {
				return alterNote(t, fx.checkpoints[cpMid], "signature")
			}),
			seq: 0, checkpoint: int64(cpMid),
		},
		{
			name: "checkpoint stored under another size",
			tamper: putCheckpoint(cpMid, func(t *testing.T) []byte {
				return fx.checkpoints[cpFirst]
			}),
			seq: 0, checkpoint: int64(cpMid),
		},
		{
			name: "checkpoint beyond the end of the log",
			tamper: putCheckpoint(fx.size+1, func(t *testing.T) []byte {
				return fx.checkpoints[fx.size]
			}),
			seq: 0, checkpoint: int64(fx.size + 1),
		},
	}

	t.Run("untampered", func(t *testing.T) {
		t.Parallel()
		path := fx.copy(t)
		rep, err := VerifyFile(context.Background(), path, fx.vkey, VerifyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Size != fx.size || rep.Checkpoints != len(fx.cpSizes) || rep.Origin != fx.origin {
			t.Fatalf("report %+v; want size %d, %d checkpoints, origin %s", rep, fx.size, len(fx.cpSizes), fx.origin)
		}
		if rep.Latest.Size != fx.size || rep.Latest.Root != fx.latest.Root {
			t.Fatalf("latest checkpoint %d %v, want %d %v", rep.Latest.Size, rep.Latest.Root, fx.size, fx.latest.Root)
		}
	})

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			path := fx.copy(t)
			tc.tamper(t, path)
			_, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{})
			wantIntegrity(t, err, tc.seq, tc.checkpoint)
			if tc.getSeq == 0 {
				return
			}
			// Reading the event with the root key catches it as well.
			l, err := Open(ctx, path, Options{Logger: quietLogger})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Unlock(ctx, testKey(1)); err != nil {
				t.Fatal(err)
			}
			rec, err := l.Get(ctx, tc.getSeq)
			if err == nil {
				t.Fatalf("Get(%d) of a tampered event succeeded: %q", tc.getSeq, rec.Payload)
			}
			// Bytes that do not even decode are an integrity failure too.
			wantIntegrity(t, err, int64(tc.getSeq), 0)
			// Untouched neighbours still read.
			other := tc.getSeq - 1
			if other == 0 {
				other = 2
			}
			if r, err := l.Get(ctx, other); err != nil || r.Seq != other {
				t.Fatalf("Get(%d) of an untouched event = %+v, %v", other, r.Header, err)
			}
		})
	}
}

func TestTamperWrongVerifierKey(t *testing.T) {
	t.Parallel()
	fx := buildTamperLog(t, 60)
	ctx := context.Background()
	other := openTest(t, Options{})
	if _, err := other.Append(ctx, ev("t", "x")); err != nil {
		t.Fatal(err)
	}
	otherKey, err := other.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A key carrying this log's name but not its signing key.
	_, forged, err := note.GenerateKey(rand.Reader, fx.origin)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		vkey      string
		integrity bool // the failure is the checkpoints' signatures
	}{
		{"key of another log", otherKey, false},
		{"same name, other key", forged, true},
		{"malformed key", "not a verifier key", false},
		{"empty key", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := fx.copy(t)
			rep, err := VerifyFile(ctx, path, tc.vkey, VerifyOptions{})
			if err == nil {
				t.Fatalf("verified with %s: %+v", tc.name, rep)
			}
			if tc.integrity {
				wantIntegrity(t, err, 0, int64(fx.cpSizes[0]))
			}
		})
	}
}

// truncateCopy removes the events after size from the file at path along
// with their tree hashes and checkpoints, leaving a log that is
// internally consistent.
func truncateCopy(t *testing.T, path string, size uint64) {
	t.Helper()
	tamperEdit(t, path, func(tx *bolt.Tx) error {
		del := func(bucket []byte, from uint64) error {
			b := tx.Bucket(bucket)
			var keys [][]byte
			c := b.Cursor()
			for k, _ := c.Seek(u64key(from)); k != nil; k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}
		if err := del(bucketEvents, size+1); err != nil {
			return err
		}
		if err := del(bucketHashes, uint64(tlog.StoredHashCount(int64(size)))); err != nil {
			return err
		}
		return del(bucketCheckpoints, size+1)
	})
}

func TestTamperTrustedCheckpoint(t *testing.T) {
	t.Parallel()
	fx := buildTamperLog(t, 300)
	saved := fx.checkpoints[fx.size] // what an auditor kept
	const cut = 123
	var older uint64 // a checkpoint the truncated log still extends
	for _, s := range fx.cpSizes {
		if s <= cut {
			older = s
		}
	}
	if older == 0 {
		t.Fatalf("no checkpoint at or below %d in %v", cut, fx.cpSizes)
	}

	t.Run("untampered extends saved", func(t *testing.T) {
		t.Parallel()
		path := fx.copy(t)
		trusted := [][]byte{fx.checkpoints[older], saved}
		if _, err := VerifyFile(context.Background(), path, fx.vkey, VerifyOptions{Trusted: trusted}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		path := fx.copy(t)
		truncateCopy(t, path, cut)
		rep, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{})
		if err != nil {
			t.Fatalf("truncated log should be internally consistent: %v", err)
		}
		if rep.Size != cut || rep.Latest.Size != older {
			t.Fatalf("report %+v, want size %d, latest checkpoint %d", rep, cut, older)
		}
		_, err = VerifyFile(ctx, path, fx.vkey, VerifyOptions{Trusted: [][]byte{saved}})
		wantIntegrity(t, err, 0, int64(fx.size))
		if _, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{Trusted: [][]byte{fx.checkpoints[older]}}); err != nil {
			t.Fatalf("trusted checkpoint at %d is still extended: %v", older, err)
		}
	})

	t.Run("truncated and regrown", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		path := fx.copy(t)
		truncateCopy(t, path, cut)
		// Whoever holds the root key rewrites history past cut and signs
		// it with the genuine key.
		l, err := Open(ctx, path, Options{CheckpointEvery: 50, CheckpointInterval: time.Hour, Logger: quietLogger})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Unlock(ctx, testKey(1)); err != nil {
			t.Fatal(err)
		}
		for l.Size() < fx.size+10 {
			if _, err := l.Append(ctx, ev("rewritten", "history")); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		rep, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{})
		if err != nil {
			t.Fatalf("rewritten log should be internally consistent: %v", err)
		}
		if rep.Size != fx.size+10 {
			t.Fatalf("report size %d, want %d", rep.Size, fx.size+10)
		}
		_, err = VerifyFile(ctx, path, fx.vkey, VerifyOptions{Trusted: [][]byte{saved}})
		wantIntegrity(t, err, 0, int64(fx.size))
		if _, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{Trusted: [][]byte{fx.checkpoints[older]}}); err != nil {
			t.Fatalf("history up to %d was kept: %v", older, err)
		}
	})

	t.Run("bad trusted notes", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		path := fx.copy(t)
		otherLog := openTest(t, Options{CheckpointEvery: 1})
		if _, err := otherLog.Append(ctx, ev("t", "x")); err != nil {
			t.Fatal(err)
		}
		cp, ok, err := otherLog.LatestCheckpoint(ctx)
		if err != nil || !ok {
			t.Fatalf("LatestCheckpoint = %v, %v", ok, err)
		}
		for name, n := range map[string][]byte{
			"garbage":          []byte("garbage"),
			"other log's note": cp.Note,
			"altered root":     alterNote(t, saved, "root"),
		} {
			if _, err := VerifyFile(ctx, path, fx.vkey, VerifyOptions{Trusted: [][]byte{n}}); err == nil {
				t.Errorf("%s accepted as trusted checkpoint", name)
			}
		}
	})
}

func TestTamperVerifyProgress(t *testing.T) {
	t.Parallel()
	fx := buildTamperLog(t, 100)
	var last, calls uint64
	_, err := VerifyFile(context.Background(), fx.copy(t), fx.vkey, VerifyOptions{
		Progress: func(done, total uint64) {
			if total != fx.size || done < last || done > total {
				t.Errorf("progress %d/%d after %d", done, total, last)
			}
			last = done
			calls++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls == 0 || last != fx.size {
		t.Fatalf("progress called %d times, last %d; want >0 calls ending at %d", calls, last, fx.size)
	}
}

// proofLog returns an open log holding n events with their leaf hashes.
func proofLog(t *testing.T, n int) (*Log, []tlog.Hash) {
	t.Helper()
	ctx := context.Background()
	l := openTest(t, Options{CheckpointInterval: time.Hour})
	for i := range n {
		if _, err := l.Append(ctx, ev("proof.event", fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	leaves := []tlog.Hash{{}} // index by seq
	err := l.ScanSealed(ctx, 1, 0, func(r Record) error {
		leaves = append(leaves, r.Leaf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaves) != n+1 {
		t.Fatalf("scanned %d leaves, want %d", len(leaves)-1, n)
	}
	return l, leaves
}

func TestInclusionProof(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, leaves := proofLog(t, 150)
	for _, tc := range []struct{ seq, size uint64 }{
		{1, 1}, {1, 2}, {2, 2}, {1, 150}, {7, 8}, {8, 8}, {64, 65}, {65, 65},
		{100, 128}, {128, 129}, {149, 150}, {150, 150}, {33, 97},
	} {
		t.Run(fmt.Sprintf("seq%d_size%d", tc.seq, tc.size), func(t *testing.T) {
			t.Parallel()
			root, err := l.TreeHash(ctx, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.InclusionProof(ctx, tc.seq, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckInclusion(p, tc.size, root, tc.seq, leaves[tc.seq]); err != nil {
				t.Fatalf("valid proof rejected: %v", err)
			}
			// A Get's leaf hash is the same value.
			rec, err := l.Get(ctx, tc.seq)
			if err != nil || rec.Leaf != leaves[tc.seq] {
				t.Fatalf("Get leaf %v, %v; want %v", rec.Leaf, err, leaves[tc.seq])
			}

			otherSeq := tc.seq%tc.size + 1
			wrong := []struct {
				name string
				err  error
			}{
				{"wrong leaf", CheckInclusion(p, tc.size, root, tc.seq, leaves[tc.seq%150+1])},
				{"zero leaf", CheckInclusion(p, tc.size, root, tc.seq, tlog.Hash{})},
				{"wrong root", CheckInclusion(p, tc.size, flipHash(root), tc.seq, leaves[tc.seq])},
			}
			if otherSeq != tc.seq {
				wrong = append(wrong, struct {
					name string
					err  error
				}{"proof for another seq", CheckInclusion(p, tc.size, root, otherSeq, leaves[otherSeq])})
			}
			if len(p) > 0 {
				bad := append(tlog.RecordProof(nil), p...)
				bad[len(bad)-1] = flipHash(bad[len(bad)-1])
				wrong = append(wrong, struct {
					name string
					err  error
				}{"altered proof", CheckInclusion(bad, tc.size, root, tc.seq, leaves[tc.seq])})
			}
			for _, w := range wrong {
				if !errors.Is(w.err, ErrTampered) {
					t.Errorf("%s: err = %v, want ErrTampered", w.name, w.err)
				}
			}
		})
	}
}

func TestInclusionProofBadArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, leaves := proofLog(t, 10)
	root, err := l.TreeHash(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ seq, size uint64 }{{0, 5}, {6, 5}, {11, 11}, {1, 11}} {
		if p, err := l.InclusionProof(ctx, tc.seq, tc.size); err == nil {
			t.Errorf("InclusionProof(%d, %d) = %v, want error", tc.seq, tc.size, p)
		}
	}
	if _, err := l.InclusionProof(ctx, 1, 11); !errors.Is(err, ErrNotFound) {
		t.Errorf("proof beyond the log: err = %v, want ErrNotFound", err)
	}
	if _, err := l.TreeHash(ctx, 11); !errors.Is(err, ErrNotFound) {
		t.Errorf("tree hash beyond the log: err = %v, want ErrNotFound", err)
	}
	p, err := l.InclusionProof(ctx, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckInclusion(p, 10, root, 0, leaves[3]); err == nil {
		t.Error("CheckInclusion accepted seq 0")
	}
	if err := CheckInclusion(p, 10, root, 11, leaves[3]); err == nil {
		t.Error("CheckInclusion accepted seq beyond size")
	}
}

func TestConsistencyProof(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, _ := proofLog(t, 150)
	for _, tc := range []struct{ old, new uint64 }{
		{1, 1}, {1, 2}, {1, 150}, {2, 3}, {7, 8}, {8, 8}, {50, 100}, {64, 128},
		{63, 129}, {99, 150}, {149, 150}, {150, 150},
	} {
		t.Run(fmt.Sprintf("%d_to_%d", tc.old, tc.new), func(t *testing.T) {
			t.Parallel()
			oldRoot, err := l.TreeHash(ctx, tc.old)
			if err != nil {
				t.Fatal(err)
			}
			newRoot, err := l.TreeHash(ctx, tc.new)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.ConsistencyProof(ctx, tc.old, tc.new)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckConsistency(p, tc.new, newRoot, tc.old, oldRoot); err != nil {
				t.Fatalf("valid proof rejected: %v", err)
			}
			for name, err := range map[string]error{
				"wrong old root": CheckConsistency(p, tc.new, newRoot, tc.old, flipHash(oldRoot)),
				"wrong new root": CheckConsistency(p, tc.new, flipHash(newRoot), tc.old, oldRoot),
			} {
				if !errors.Is(err, ErrTampered) {
					t.Errorf("%s: err = %v, want ErrTampered", name, err)
				}
			}
			if tc.old > 1 && tc.old < tc.new {
				otherRoot, err := l.TreeHash(ctx, tc.old-1)
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckConsistency(p, tc.new, newRoot, tc.old, otherRoot); !errors.Is(err, ErrTampered) {
					t.Errorf("root of size %d accepted as size %d: %v", tc.old-1, tc.old, err)
				}
			}
		})
	}
	for _, tc := range []struct{ old, new uint64 }{{0, 5}, {6, 5}, {5, 151}} {
		if p, err := l.ConsistencyProof(ctx, tc.old, tc.new); err == nil {
			t.Errorf("ConsistencyProof(%d, %d) = %v, want error", tc.old, tc.new, p)
		}
	}
	if err := CheckConsistency(nil, 5, tlog.Hash{}, 6, tlog.Hash{}); err == nil {
		t.Error("CheckConsistency accepted old > new")
	}
}

func flipHash(h tlog.Hash) tlog.Hash {
	h[0] ^= 1
	return h
}

func TestCheckpointLatest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	opts := Options{CheckpointEvery: 10, CheckpointInterval: time.Hour, Logger: quietLogger}
	l, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := l.Unlock(ctx, testKey(1)); err != nil {
		t.Fatal(err)
	}
	if cp, ok, err := l.LatestCheckpoint(ctx); ok || err != nil {
		t.Fatalf("empty log: LatestCheckpoint = %+v, %v, %v", cp, ok, err)
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	evs := make([]Event, 25)
	for i := range evs {
		evs[i] = ev("t", fmt.Sprint(i))
	}
	if _, err := l.Append(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log, wantSize uint64) {
		t.Helper()
		cp, ok, err := l.LatestCheckpoint(ctx)
		if err != nil || !ok {
			t.Fatalf("LatestCheckpoint = %v, %v", ok, err)
		}
		if cp.Size != wantSize || cp.Origin != l.Origin() {
			t.Fatalf("latest checkpoint size %d origin %s, want %d %s", cp.Size, cp.Origin, wantSize, l.Origin())
		}
		root, err := l.TreeHash(ctx, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Root != root {
			t.Fatalf("checkpoint root %v, tree hash %v", cp.Root, root)
		}
		opened, err := OpenCheckpoint(cp.Note, vkey)
		if err != nil {
			t.Fatal(err)
		}
		if opened.Size != cp.Size || opened.Root != cp.Root || opened.Origin != cp.Origin || !bytes.Equal(opened.Note, cp.Note) {
			t.Fatalf("OpenCheckpoint = %+v, want %+v", opened, cp)
		}
		if _, err := OpenCheckpoint(alterNote(t, cp.Note, "root"), vkey); err == nil {
			t.Fatal("altered root accepted")
		}
		if _, err := OpenCheckpoint(alterNote(t, cp.Note, "signature"), vkey); err == nil {
			t.Fatal("altered signature accepted")
		}
		_, forged, err := note.GenerateKey(rand.Reader, l.Origin())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenCheckpoint(cp.Note, forged); err == nil {
			t.Fatal("checkpoint accepted under another key")
		}
	}
	check(l, 25) // one batch of 25 crosses the threshold of 10 once

	// Every stored checkpoint matches the tree at its size.
	var sizes []uint64
	err = l.Checkpoints(ctx, func(size uint64, msg []byte) error {
		cp, err := OpenCheckpoint(msg, vkey)
		if err != nil {
			return err
		}
		root, err := l.TreeHash(ctx, size)
		if err != nil {
			return err
		}
		if cp.Size != size || cp.Root != root {
			return fmt.Errorf("checkpoint under %d says size %d root %v, tree %v", size, cp.Size, cp.Root, root)
		}
		sizes = append(sizes, size)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sizes) != "[25]" {
		t.Fatalf("checkpoint sizes %v, want [25]", sizes)
	}

	// Events short of the threshold get their checkpoint at Close.
	if _, err := l.Append(ctx, ev("t", "a"), ev("t", "b"), ev("t", "c")); err != nil {
		t.Fatal(err)
	}
	check(l, 25)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := Open(ctx, path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	check(l2, 28) // readable while sealed
	if v2, err := l2.VerifierKey(ctx); err != nil || v2 != vkey {
		t.Fatalf("verifier key after reopen %q, %v; want %q", v2, err, vkey)
	}
}
