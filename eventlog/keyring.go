package eventlog

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"maps"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/spikeledger/spike/internal/seal"
)

// RootKeySize is the size of the root key Unlock and Rewrap take.
const RootKeySize = 32

const (
	labelKEK    seal.Label = "spike/eventlog/kek/v1"
	labelSigner seal.Label = "spike/eventlog/checkpoint-signer/v1"

	aadKeyCheck = "spike/eventlog/keycheck/v1\x00"
	aadDataKey  = "spike/eventlog/datakey/v1\x00"
	aadValueKey = "spike/eventlog/valuekey/v1\x00"
	aadSigner   = "spike/eventlog/signer/v1\x00"

	keyCheckText = "spike event log key check"

	dataKeyRecordVersion = 1
	dataKeyRecordLen     = 1 + 8 + 8 // version, first seq, created; wrapped key follows
)

// ring is an immutable snapshot of the unlocked key material. The writer
// builds a new ring for every change and publishes it only after the
// transaction that persisted the change commits, so readers never see a
// key that is not durable.
type ring struct {
	logID   []byte
	kek     *seal.AEAD
	data    map[uint32]dataKey
	current uint32
	signer  *signer
}

type dataKey struct {
	aead  *seal.AEAD
	first uint64 // first seq sealed under this key
}

func aadFor(prefix string, logID []byte, id []byte) []byte {
	b := make([]byte, 0, len(prefix)+len(logID)+len(id))
	b = append(b, prefix...)
	b = append(b, logID...)
	return append(b, id...)
}

func deriveKEK(root, logID []byte) (*seal.AEAD, error) {
	if len(root) != RootKeySize {
		return nil, fmt.Errorf("root key is %d bytes, want %d", len(root), RootKeySize)
	}
	k, err := seal.Derive(root, logID, labelKEK)
	if err != nil {
		return nil, fmt.Errorf("derive key-encryption key: %w", err)
	}
	defer seal.Zero(k)
	return seal.New(k)
}

// initRing writes the key material of a log that has never been unlocked:
// the key check, the first data key, and the checkpoint signing seed.
func initRing(tx *bolt.Tx, root, logID []byte, origin string, nextSeq uint64, now time.Time) (*ring, error) {
	kek, err := deriveKEK(root, logID)
	if err != nil {
		return nil, err
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(metaKeyCheck, kek.Seal(nil, []byte(keyCheckText), aadFor(aadKeyCheck, logID, nil))); err != nil {
		return nil, fmt.Errorf("store key check: %w", err)
	}
	seed, err := seal.Derive(root, logID, labelSigner)
	if err != nil {
		return nil, fmt.Errorf("derive checkpoint signing key: %w", err)
	}
	defer seal.Zero(seed)
	sg, err := newSigner(origin, seed)
	if err != nil {
		return nil, err
	}
	if err := meta.Put(metaSigner, kek.Seal(nil, seed, aadFor(aadSigner, logID, nil))); err != nil {
		return nil, fmt.Errorf("store signing key: %w", err)
	}
	if err := meta.Put(metaVerifier, []byte(sg.vkey)); err != nil {
		return nil, fmt.Errorf("store verifier key: %w", err)
	}
	r := &ring{logID: logID, kek: kek, data: map[uint32]dataKey{}, signer: sg}
	return r.withNewDataKey(tx, nextSeq, now)
}

// loadRing unlocks an initialised log: it proves the root key against the
// key check, then unwraps every data key and the signing seed.
func loadRing(tx *bolt.Tx, root, logID []byte, origin string) (*ring, error) {
	kek, err := deriveKEK(root, logID)
	if err != nil {
		return nil, err
	}
	meta := tx.Bucket(bucketMeta)
	check, err := kek.Open(nil, meta.Get(metaKeyCheck), aadFor(aadKeyCheck, logID, nil))
	if err != nil || string(check) != keyCheckText {
		return nil, ErrWrongRootKey
	}
	r := &ring{logID: logID, kek: kek, data: map[uint32]dataKey{}}
	seed, err := kek.Open(nil, meta.Get(metaSigner), aadFor(aadSigner, logID, nil))
	if err != nil {
		return nil, fmt.Errorf("unwrap checkpoint signing key: %w", ErrTampered)
	}
	defer seal.Zero(seed)
	if r.signer, err = newSigner(origin, seed); err != nil {
		return nil, err
	}
	if string(meta.Get(metaVerifier)) != r.signer.vkey {
		return nil, fmt.Errorf("stored verifier key does not match the signing key: %w", ErrTampered)
	}
	cur := meta.Get(metaCurrentKey)
	if len(cur) != 4 {
		return nil, fmt.Errorf("current data key id: %w", ErrMalformed)
	}
	r.current = binary.BigEndian.Uint32(cur)
	err = tx.Bucket(bucketDataKeys).ForEach(func(k, v []byte) error {
		id, dk, err := r.unwrapDataKey(k, v)
		if err != nil {
			return err
		}
		r.data[id] = dk
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := r.data[r.current]; !ok {
		return nil, fmt.Errorf("current data key %d missing: %w", r.current, ErrTampered)
	}
	return r, nil
}

func (r *ring) unwrapDataKey(k, v []byte) (uint32, dataKey, error) {
	if len(k) != 4 || len(v) < dataKeyRecordLen || v[0] != dataKeyRecordVersion {
		return 0, dataKey{}, fmt.Errorf("data key record %x: %w", k, ErrMalformed)
	}
	id := binary.BigEndian.Uint32(k)
	raw, err := r.kek.Open(nil, v[dataKeyRecordLen:], aadFor(aadDataKey, r.logID, k))
	if err != nil {
		return 0, dataKey{}, fmt.Errorf("unwrap data key %d: %w", id, ErrTampered)
	}
	defer seal.Zero(raw)
	a, err := seal.New(raw)
	if err != nil {
		return 0, dataKey{}, err
	}
	return id, dataKey{aead: a, first: binary.BigEndian.Uint64(v[1:9])}, nil
}

func (r *ring) clone() *ring {
	c := *r
	c.data = maps.Clone(r.data)
	return &c
}

// withNewDataKey returns a ring whose current key is a fresh random data
// key, first used for nextSeq, after storing it wrapped in tx.
func (r *ring) withNewDataKey(tx *bolt.Tx, nextSeq uint64, now time.Time) (*ring, error) {
	c := r.clone()
	c.current = r.current + 1
	if c.current == 0 {
		return nil, fmt.Errorf("data key ids exhausted")
	}
	raw := seal.NewKey()
	defer seal.Zero(raw)
	a, err := seal.New(raw)
	if err != nil {
		return nil, err
	}
	id := u32key(c.current)
	if tx.Bucket(bucketDataKeys).Get(id) != nil {
		// A ring behind the file would overwrite a key in use.
		return nil, fmt.Errorf("data key %d exists already: the key ring in memory is behind the log's: %w", c.current, ErrTampered)
	}
	rec := make([]byte, 0, dataKeyRecordLen+len(raw)+seal.Overhead)
	rec = append(rec, dataKeyRecordVersion)
	rec = binary.BigEndian.AppendUint64(rec, nextSeq)
	rec = binary.BigEndian.AppendUint64(rec, uint64(now.UnixNano()))
	rec = c.kek.Seal(rec, raw, aadFor(aadDataKey, c.logID, id))
	if err := tx.Bucket(bucketDataKeys).Put(id, rec); err != nil {
		return nil, fmt.Errorf("store data key: %w", err)
	}
	if err := tx.Bucket(bucketMeta).Put(metaCurrentKey, id); err != nil {
		return nil, fmt.Errorf("store current data key: %w", err)
	}
	c.data[c.current] = dataKey{aead: a, first: nextSeq}
	return c, nil
}

// rewrapped rewraps every wrapped key in the file (data keys, value keys,
// the signing seed, the key check) under the KEK of newRoot and returns
// the ring that uses it. Events are untouched: they are sealed under data
// keys, which do not change.
func (r *ring) rewrapped(tx *bolt.Tx, newRoot []byte) (*ring, error) {
	kek, err := deriveKEK(newRoot, r.logID)
	if err != nil {
		return nil, err
	}
	rewrap := func(what string, sealed, aad []byte) ([]byte, error) {
		raw, err := r.kek.Open(nil, sealed, aad)
		if err != nil {
			return nil, fmt.Errorf("unwrap %s: %w", what, ErrTampered)
		}
		defer seal.Zero(raw)
		return kek.Seal(nil, raw, aad), nil
	}
	meta := tx.Bucket(bucketMeta)
	for _, m := range []struct {
		key    []byte
		prefix string
	}{{metaKeyCheck, aadKeyCheck}, {metaSigner, aadSigner}} {
		v, err := rewrap(string(m.key), meta.Get(m.key), aadFor(m.prefix, r.logID, nil))
		if err != nil {
			return nil, err
		}
		if err := meta.Put(m.key, v); err != nil {
			return nil, fmt.Errorf("store %s: %w", m.key, err)
		}
	}
	if err := rewrapBucket(tx.Bucket(bucketDataKeys), func(k, v []byte) ([]byte, error) {
		if len(v) < dataKeyRecordLen {
			return nil, fmt.Errorf("data key record %x: %w", k, ErrMalformed)
		}
		w, err := rewrap("data key", v[dataKeyRecordLen:], aadFor(aadDataKey, r.logID, k))
		if err != nil {
			return nil, err
		}
		return append(append([]byte(nil), v[:dataKeyRecordLen]...), w...), nil
	}); err != nil {
		return nil, err
	}
	if err := rewrapBucket(tx.Bucket(bucketValueKeys), func(k, v []byte) ([]byte, error) {
		if isDestroyed(v) { // stays destroyed
			return v, nil
		}
		return rewrap("value key", v, aadFor(aadValueKey, r.logID, k))
	}); err != nil {
		return nil, err
	}
	c := r.clone()
	c.kek = kek
	return c, nil
}

// rewrapBucket replaces every value of b with f(key, value). Updates are
// collected first because bbolt forbids modifying a bucket mid-iteration.
func rewrapBucket(b *bolt.Bucket, f func(k, v []byte) ([]byte, error)) error {
	type kv struct{ k, v []byte }
	var out []kv
	err := b.ForEach(func(k, v []byte) error {
		nv, err := f(k, v)
		if err != nil {
			return err
		}
		out = append(out, kv{append([]byte(nil), k...), nv})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range out {
		if err := b.Put(e.k, e.v); err != nil {
			return fmt.Errorf("rewrap: %w", err)
		}
	}
	return nil
}

// ValueKeyID names a per-value key. It is a ULID, so ids sort by creation.
type ValueKeyID = ulid.ULID

// ValueKey is a fresh random key for sealing one value. Attach it to the
// Event whose payload carries the sealed value: Append stores it, wrapped,
// in the same transaction, and zeroes it afterwards whatever the outcome,
// so a key is spent by one Append.
type ValueKey struct {
	id  ValueKeyID
	raw []byte
}

// NewValueKey returns a fresh random per-value key. It needs no unlocked
// log: the key is wrapped only when Append persists it.
func NewValueKey() *ValueKey {
	return &ValueKey{id: ulid.MustNew(ulid.Now(), rand.Reader), raw: seal.NewKey()}
}

// ID returns the key's id, which the caller records next to the sealed
// value (typically inside the event payload) to open it later.
func (k *ValueKey) ID() ValueKeyID { return k.id }

// Seal seals plaintext under the key with aad, which OpenValue must be
// given again.
func (k *ValueKey) Seal(plaintext, aad []byte) ([]byte, error) {
	if k.raw == nil {
		return nil, fmt.Errorf("value key %s: already spent", k.id)
	}
	return seal.Seal(k.raw, plaintext, aad)
}

// spend zeroes the key; it can no longer seal.
func (k *ValueKey) spend() {
	seal.Zero(k.raw)
	k.raw = nil
}
