package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/internal/seal"
)

// Report is what a successful verification established.
type Report struct {
	Origin string
	// Size is the number of events verified.
	Size uint64
	// Checkpoints is how many signed checkpoints were verified.
	Checkpoints int
	// Latest is the newest verified checkpoint (zero if there is none).
	// Events after Latest.Size are hashed into the tree but not yet
	// covered by a signature.
	Latest Checkpoint
}

// VerifyOptions refine a verification.
type VerifyOptions struct {
	// Trusted are checkpoint notes the verifier saved earlier (from this
	// log, signed by the same key). The log must extend each of them: a log
	// whose history was rewritten fails even if it is internally consistent
	// and re-signed.
	Trusted [][]byte
	// Progress, if set, is called after each chunk with the events
	// verified so far and the total.
	Progress func(done, total uint64)
}

// Verify checks the whole log against the verifier key vkey: every
// envelope decodes, every leaf and stored tree hash recomputes, every
// checkpoint is signed by vkey and matches the tree, and consecutive
// checkpoints are consistent. It needs no root key. The first failure is
// returned as an *IntegrityError naming the seq or checkpoint.
func (l *Log) Verify(ctx context.Context, vkey string, opts VerifyOptions) (Report, error) {
	select {
	case <-l.closed:
		return Report{}, ErrClosed
	default:
	}
	if l.readOnly {
		return l.verifyReadOnly(ctx, vkey, opts)
	}
	// Everything appended before the call is verified: what only the
	// journal holds goes into the file first.
	if err := l.f.flush(false); err != nil {
		return Report{}, err
	}
	return verifyDB(ctx, l.db, l.ring.Load(), vkey, opts, true)
}

// VerifyFile verifies a log file, typically a copy, exactly as Log.Verify
// does, opening it read-only. It also checks the file's page structure.
// The file is untrusted: whatever its bytes, VerifyFile returns, with an
// *IntegrityError for a damaged file, and never crashes (see
// faultsAsErrors).
func VerifyFile(ctx context.Context, path, vkey string, opts VerifyOptions) (rep Report, err error) {
	defer faultsAsErrors(&err)()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return Report{}, fmt.Errorf("verify %s: %w; verify a copy (spike takes an exclusive lock)", path, ErrInUse)
	}
	if err != nil {
		return Report{}, &IntegrityError{Reason: fmt.Sprintf("file structure: %v", err)}
	}
	defer db.Close()
	if err := checkStructure(db); err != nil {
		return Report{}, err
	}
	return verifyDB(ctx, db, nil, vkey, opts, false)
}

type verifier struct {
	origin string
	size   uint64
	vs     note.Verifiers
	// live is set when verifying a log that is open for appends: events
	// and checkpoints committed after verification started are left for
	// the next run instead of being reported as beyond the end.
	live bool
}

func verifyDB(ctx context.Context, db *bolt.DB, r *ring, vkey string, opts VerifyOptions, live bool) (Report, error) {
	nv, err := note.NewVerifier(vkey)
	if err != nil {
		return Report{}, fmt.Errorf("verifier key: %w", err)
	}
	v := verifier{vs: note.VerifierList(nv), live: live}
	if err := db.View(v.header); err != nil {
		return Report{}, err
	}
	if nv.Name() != v.origin {
		return Report{}, fmt.Errorf("verifier key is for %s, but this file is %s", nv.Name(), v.origin)
	}
	if err := v.events(ctx, db, opts.Progress); err != nil {
		return Report{}, err
	}
	if err := db.View(func(tx *bolt.Tx) error { return checkValueKeys(tx, r) }); err != nil {
		return Report{}, err
	}
	rep := Report{Origin: v.origin, Size: v.size}
	err = db.View(func(tx *bolt.Tx) error {
		r := bucketHashReader{tx.Bucket(bucketHashes)}
		if err := v.checkpoints(tx, r, &rep); err != nil {
			return err
		}
		return v.trusted(r, opts.Trusted)
	})
	return rep, err
}

// header reads the identity and size and checks the hash count.
func (v *verifier) header(tx *bolt.Tx) error {
	for _, b := range allBuckets {
		if tx.Bucket(b) == nil {
			return &IntegrityError{Reason: fmt.Sprintf("bucket %q missing: not an event log", b)}
		}
	}
	id := tx.Bucket(bucketMeta).Get(metaID)
	if len(id) != 16 {
		return &IntegrityError{Reason: "log identity missing"}
	}
	v.origin = originFor(id)
	v.size = lastSeq(tx)
	want := tlog.StoredHashCount(int64(v.size))
	got := int64(0)
	if k, _ := tx.Bucket(bucketHashes).Cursor().Last(); len(k) == 8 {
		got = int64(beUint64(k)) + 1
	}
	if got != want {
		return &IntegrityError{Reason: fmt.Sprintf("%d stored tree hashes for %d events, want %d", got, v.size, want)}
	}
	return nil
}

// events recomputes every leaf and stored hash, in chunks of read
// transactions. Each stored hash is compared with its recomputation before
// later records use it, so by induction every hash read back is verified.
func (v *verifier) events(ctx context.Context, db *bolt.DB, progress func(done, total uint64)) error {
	var prev Header
	for next := uint64(1); next <= v.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := min(v.size, next+4*scanChunk-1)
		err := db.View(func(tx *bolt.Tx) error {
			hb := tx.Bucket(bucketHashes)
			r := bucketHashReader{hb}
			hc := hb.Cursor()
			hk, hv := hc.Seek(u64key(uint64(tlog.StoredHashIndex(0, int64(next-1)))))
			ec := tx.Bucket(bucketEvents).Cursor()
			seq := next
			for k, env := ec.Seek(u64key(next)); seq <= end; k, env = ec.Next() {
				if len(k) != 8 || beUint64(k) != seq {
					return &IntegrityError{Seq: seq, Reason: "event missing from the sequence"}
				}
				h, _, _, err := decodeEnvelope(env)
				if err != nil {
					return &IntegrityError{Seq: seq, Reason: err.Error()}
				}
				if err := checkHeader(seq, h, prev); err != nil {
					return err
				}
				prev = h
				n := int64(seq - 1)
				hs, err := tlog.StoredHashesForRecordHash(n, tlog.RecordHash(env), r)
				if err != nil {
					return &IntegrityError{Seq: seq, Reason: err.Error()}
				}
				for i, want := range hs {
					idx := uint64(tlog.StoredHashIndex(0, n) + int64(i))
					if len(hk) != 8 || beUint64(hk) != idx || !bytes.Equal(hv, want[:]) {
						return &IntegrityError{Seq: seq, Reason: hashMismatch(i)}
					}
					hk, hv = hc.Next()
				}
				seq++
			}
			return nil
		})
		if err != nil {
			return err
		}
		// A chunk touches ~16k envelopes and their hashes through the
		// mmap; release them so verifying a large log stays small.
		releaseMapped(db)
		if progress != nil {
			progress(end, v.size)
		}
		next = end + 1
	}
	return nil
}

func hashMismatch(i int) string {
	if i == 0 {
		return "leaf hash differs from the stored tree: the envelope or its stored leaf hash was altered"
	}
	return fmt.Sprintf("stored interior tree hash %d for this record differs from its recomputation", i)
}

// checkHeader checks what a header must satisfy given the one before it.
func checkHeader(seq uint64, h, prev Header) error {
	switch {
	case h.Seq != seq:
		return &IntegrityError{Seq: seq, Reason: fmt.Sprintf("envelope claims seq %d", h.Seq)}
	case seq > 1 && h.ID.Compare(prev.ID) <= 0:
		return &IntegrityError{Seq: seq, Reason: "event id does not increase"}
	case seq > 1 && h.Time.Before(prev.Time):
		return &IntegrityError{Seq: seq, Reason: "event time goes backwards"}
	}
	return nil
}

// checkpoints verifies every stored checkpoint's signature, its root
// against the (verified) tree, and its consistency with the one before.
func (v *verifier) checkpoints(tx *bolt.Tx, r tlog.HashReader, rep *Report) error {
	var prev Checkpoint
	return tx.Bucket(bucketCheckpoints).ForEach(func(k, msg []byte) error {
		if len(k) != 8 {
			return &IntegrityError{Reason: fmt.Sprintf("checkpoint key %x malformed", k)}
		}
		size := beUint64(k)
		if v.live && size > v.size {
			return nil
		}
		cp, err := openCheckpoint(msg, v.vs)
		if err != nil {
			return &IntegrityError{Checkpoint: size, Reason: err.Error()}
		}
		if err := v.checkTree(cp, r); err != nil {
			return &IntegrityError{Checkpoint: size, Reason: err.Error()}
		}
		if cp.Size != size {
			return &IntegrityError{Checkpoint: size, Reason: fmt.Sprintf("stored under size %d but signs size %d", size, cp.Size)}
		}
		if prev.Size != 0 {
			p, err := tlog.ProveTree(int64(cp.Size), int64(prev.Size), r)
			if err == nil {
				err = tlog.CheckTree(p, int64(cp.Size), cp.Root, int64(prev.Size), prev.Root)
			}
			if err != nil {
				return &IntegrityError{Checkpoint: size, Reason: fmt.Sprintf("not consistent with checkpoint at size %d: %v", prev.Size, err)}
			}
		}
		prev = cp
		rep.Checkpoints++
		rep.Latest = cp
		return nil
	})
}

// checkTree checks that a signed checkpoint describes this log's tree.
func (v *verifier) checkTree(cp Checkpoint, r tlog.HashReader) error {
	if cp.Origin != v.origin {
		return fmt.Errorf("origin %q, want %q", cp.Origin, v.origin)
	}
	if cp.Size == 0 || cp.Size > v.size {
		return fmt.Errorf("size %d outside the log's %d events", cp.Size, v.size)
	}
	root, err := tlog.TreeHash(int64(cp.Size), r)
	if err != nil {
		return err
	}
	if root != cp.Root {
		return fmt.Errorf("signed root differs from the recomputed root")
	}
	return nil
}

func (v *verifier) trusted(r tlog.HashReader, notes [][]byte) error {
	for _, msg := range notes {
		cp, err := openCheckpoint(msg, v.vs)
		if err != nil {
			return fmt.Errorf("trusted checkpoint: %w", err)
		}
		if err := v.checkTree(cp, r); err != nil {
			return &IntegrityError{Checkpoint: cp.Size, Reason: "log does not extend the trusted checkpoint (history rewritten or truncated): " + err.Error()}
		}
	}
	return nil
}

// Checkpoints calls fn for every stored checkpoint, oldest first, without
// verifying signatures (use OpenCheckpoint or Verify for that).
func (l *Log) Checkpoints(ctx context.Context, fn func(size uint64, note []byte) error) error {
	return l.viewDB(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCheckpoints).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("checkpoint key %x: %w", k, ErrMalformed)
			}
			return fn(beUint64(k), bytes.Clone(v))
		})
	})
}

// LatestCheckpoint returns the newest stored checkpoint note, verified
// against the log's own recorded verifier key; ok is false if there is
// none yet.
func (l *Log) LatestCheckpoint(ctx context.Context) (cp Checkpoint, ok bool, err error) {
	return l.checkpoint(ctx, func(c *bolt.Cursor) []byte { _, v := c.Last(); return v })
}

// CheckpointAt returns the stored checkpoint for a tree of size events,
// verified as LatestCheckpoint's is; ok is false if none was signed at
// that size (checkpoints are made every second or so, not per event).
func (l *Log) CheckpointAt(ctx context.Context, size uint64) (cp Checkpoint, ok bool, err error) {
	return l.checkpoint(ctx, func(c *bolt.Cursor) []byte {
		k, v := c.Seek(u64key(size))
		if k == nil || beUint64(k) != size {
			return nil
		}
		return v
	})
}

func (l *Log) checkpoint(ctx context.Context, pick func(*bolt.Cursor) []byte) (cp Checkpoint, ok bool, err error) {
	var msg []byte
	var vkey string
	err = l.viewDB(ctx, func(tx *bolt.Tx) error {
		msg = bytes.Clone(pick(tx.Bucket(bucketCheckpoints).Cursor()))
		vkey = string(tx.Bucket(bucketMeta).Get(metaVerifier))
		return nil
	})
	if err != nil || msg == nil {
		return Checkpoint{}, false, err
	}
	cp, err = OpenCheckpoint(msg, vkey)
	return cp, err == nil, err
}

// wrappedValueKeyLen is the length of a stored, wrapped value key.
const wrappedValueKeyLen = seal.KeySize + seal.Overhead

// checkValueKeys checks the value-key bucket: each entry is a value key
// id holding either the tombstone or a wrapped key of the length wrapping
// gives. With r (the log unlocked), every wrapped key must also open
// under the root key, which binds it to its id. Value keys are outside
// the hash tree, since destroying one rewrites its entry, so without the
// root key a byte changed inside a wrapped key is found only when that
// key is next used.
func checkValueKeys(tx *bolt.Tx, r *ring) error {
	c := tx.Bucket(bucketValueKeys).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var id ValueKeyID
		if len(k) != len(id) {
			return &IntegrityError{Reason: fmt.Sprintf("value key entry %x: the id is %d bytes, not %d", k, len(k), len(id))}
		}
		copy(id[:], k)
		switch {
		case isDestroyed(v):
			continue
		case len(v) != wrappedValueKeyLen:
			return &IntegrityError{Reason: fmt.Sprintf("value key %s: %d bytes, neither a wrapped key (%d) nor the destroyed mark", id, len(v), wrappedValueKeyLen)}
		case r == nil:
			continue
		}
		raw, err := r.kek.Open(nil, v, aadFor(aadValueKey, r.logID, k))
		if err != nil {
			return &IntegrityError{Reason: fmt.Sprintf("value key %s: does not open under the root key", id)}
		}
		seal.Zero(raw)
	}
	return nil
}
