package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/internal/seal"
)

// scanChunk is how many events one read transaction covers. Reads are cut
// into chunks because a long bbolt read transaction pins pages the writer
// would otherwise reuse.
const scanChunk = 4096

// Get returns event seq with its payload decrypted.
func (l *Log) Get(ctx context.Context, seq uint64) (Record, error) {
	var rec Record
	found := false
	err := l.scan(ctx, seq, seq, true, func(r Record) error {
		rec, found = r, true
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("event %d: %w", seq, ErrNotFound)
	}
	return rec, err
}

// Scan calls fn for every event from seq from to seq to inclusive (to = 0
// means the end of the log as it is when Scan starts), in order, with
// payloads decrypted. It stops at the first error fn returns.
func (l *Log) Scan(ctx context.Context, from, to uint64, fn func(Record) error) error {
	return l.scan(ctx, from, to, true, fn)
}

// ScanSealed is Scan without decryption: it works while the log is
// sealed, and Record.Payload is nil.
func (l *Log) ScanSealed(ctx context.Context, from, to uint64, fn func(Record) error) error {
	return l.scan(ctx, from, to, false, fn)
}

func (l *Log) scan(ctx context.Context, from, to uint64, decrypt bool, fn func(Record) error) error {
	if from == 0 {
		from = 1
	}
	if to == 0 {
		to = l.Size()
	}
	var r *ring
	if decrypt {
		if r = l.ring.Load(); r == nil {
			return ErrSealed
		}
	}
	for next := from; next <= to; {
		end := min(to, next+scanChunk-1)
		var batch []Record
		n := 0
		err := l.view(ctx, func(s *snap) error {
			var err error
			batch, err = readRange(s, next, end, r, batch, &n)
			return err
		})
		l.touched(n)
		if err != nil {
			return err
		}
		for _, rec := range batch {
			if err := fn(rec); err != nil {
				return err
			}
		}
		if len(batch) == 0 {
			return nil
		}
		next = batch[len(batch)-1].Seq + 1
	}
	return nil
}

// decodeRecord decodes and, with a ring, opens the envelope stored under
// seq. The returned record owns its memory: bbolt's slices die with the
// transaction.
func decodeRecord(seq uint64, env []byte, r *ring) (Record, error) {
	h, aad, sealed, err := decodeEnvelope(env)
	if err != nil {
		return Record{}, &IntegrityError{Seq: seq, Reason: err.Error()}
	}
	if h.Seq != seq {
		return Record{}, &IntegrityError{Seq: seq, Reason: fmt.Sprintf("envelope claims seq %d", h.Seq)}
	}
	rec := Record{Header: h, Leaf: tlog.RecordHash(env)}
	if r == nil {
		return rec, nil
	}
	dk, ok := r.data[h.KeyID]
	if !ok {
		return Record{}, &IntegrityError{Seq: seq, Reason: fmt.Sprintf("sealed under unknown data key %d", h.KeyID)}
	}
	rec.Payload, err = dk.aead.Open(nil, sealed, aad)
	if err != nil {
		return Record{}, &IntegrityError{Seq: seq, Reason: "payload does not authenticate"}
	}
	return rec, nil
}

// OpenValue opens a value sealed under a per-value key with the same aad.
// It returns ErrValueDestroyed once the key has been destroyed.
func (l *Log) OpenValue(ctx context.Context, id ValueKeyID, sealed, aad []byte) ([]byte, error) {
	r := l.ring.Load()
	if r == nil {
		return nil, ErrSealed
	}
	var wrapped []byte
	err := l.view(ctx, func(s *snap) error {
		v := s.valueKey(id)
		if v == nil {
			return fmt.Errorf("value key %s: %w", id, ErrValueKeyNotFound)
		}
		wrapped = bytes.Clone(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A lookup by random key touches a page of the mapping that a
	// sequential reader would not; count it as one.
	l.touched(4096)
	if isDestroyed(wrapped) {
		return nil, fmt.Errorf("value key %s: %w", id, ErrValueDestroyed)
	}
	raw, err := r.kek.Open(nil, wrapped, aadFor(aadValueKey, r.logID, id[:]))
	if err != nil {
		return nil, fmt.Errorf("unwrap value key %s: %w", id, ErrTampered)
	}
	defer seal.Zero(raw)
	return openWith(raw, sealed, aad)
}

func openWith(key, sealed, aad []byte) ([]byte, error) {
	a, err := seal.New(key)
	if err != nil {
		return nil, err
	}
	return a.Open(nil, sealed, aad)
}

// GetSealed returns event seq without decrypting it: its header and leaf
// hash. It works while the log is sealed.
func (l *Log) GetSealed(ctx context.Context, seq uint64) (Record, error) {
	var rec Record
	found := false
	err := l.scan(ctx, seq, seq, false, func(r Record) error {
		rec, found = r, true
		return nil
	})
	if err == nil && !found {
		err = fmt.Errorf("event %d: %w", seq, ErrNotFound)
	}
	return rec, err
}

// SeqAt returns the sequence number of the last event whose time is at or
// before t, 0 if there is none. Event times never decrease along the log,
// so this is a binary search over headers.
func (l *Log) SeqAt(ctx context.Context, t time.Time) (uint64, error) {
	lo, hi := uint64(0), l.Size() // invariant: event lo is at or before t (0: none), events after hi are after t
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		var h Header
		err := l.view(ctx, func(s *snap) error {
			var err error
			h, _, _, err = decodeEnvelope(s.env(mid))
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("event %d: %w", mid, err)
		}
		if h.Time.After(t) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo, nil
}

// LastOfType returns the most recent event whose type is one of types,
// read sealed (header, public part, leaf); ok is false if there is none.
// It walks back from the end, so it is quick for recent events.
func (l *Log) LastOfType(ctx context.Context, types ...string) (rec Record, ok bool, err error) {
	err = l.ScanBack(ctx, func(r Record) bool {
		rec, ok = r, true
		return false
	}, types...)
	return rec, ok, err
}

// ScanBack calls fn for each event whose type is one of types, newest
// first, read sealed, until fn returns false. Only the types are read of
// the events it passes over.
func (l *Log) ScanBack(ctx context.Context, fn func(Record) bool, types ...string) error {
	want := map[string]bool{}
	for _, t := range types {
		want[t] = true
	}
	return l.view(ctx, func(s *snap) error {
		pass := func(seq uint64, v []byte) (bool, error) {
			if len(v) <= fixedHeaderLen || !want[typeOf(v)] {
				return true, nil
			}
			r, err := decodeRecord(seq, v, nil)
			if err != nil {
				return false, err
			}
			return fn(r), nil
		}
		for seq := s.size(); seq > s.base; seq-- {
			if err := ctx.Err(); err != nil {
				return err
			}
			if more, err := pass(seq, s.env(seq)); !more || err != nil {
				return err
			}
		}
		if l.covers(types) {
			return scanIndexBack(ctx, s, pass)
		}
		c := s.tx.Bucket(bucketEvents).Cursor()
		k, v := c.Seek(u64key(s.base))
		if k == nil || beUint64(k) != s.base {
			k, v = c.Prev()
		}
		for ; k != nil; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if more, err := pass(beUint64(k), v); !more || err != nil {
				return err
			}
		}
		return nil
	})
}

// scanIndexBack passes the events the type index names, newest first,
// from the snapshot's bbolt part. pass checks each event's own type.
func scanIndexBack(ctx context.Context, s *snap, pass func(uint64, []byte) (bool, error)) error {
	events := s.tx.Bucket(bucketEvents)
	c := s.tx.Bucket(bucketTypeIndex).Cursor()
	k, _ := c.Seek(u64key(s.base))
	switch {
	case k == nil:
		k, _ = c.Last()
	case beUint64(k) != s.base:
		k, _ = c.Prev()
	}
	for ; k != nil; k, _ = c.Prev() {
		if err := ctx.Err(); err != nil {
			return err
		}
		v := events.Get(k)
		if v == nil {
			return fmt.Errorf("type index names event %d, which the log does not hold: %w", beUint64(k), ErrMalformed)
		}
		if more, err := pass(beUint64(k), v); !more || err != nil {
			return err
		}
	}
	return nil
}

// typeOf reads an envelope's type name without decoding the rest.
func typeOf(env []byte) string {
	n := int(env[41])
	if len(env) < fixedHeaderLen+n {
		return ""
	}
	return string(env[fixedHeaderLen : fixedHeaderLen+n])
}

// ValueKeyLive reports whether the value key id exists and has not been
// destroyed. It works while sealed.
func (l *Log) ValueKeyLive(ctx context.Context, id ValueKeyID) (bool, error) {
	var live bool
	err := l.view(ctx, func(s *snap) error {
		v := s.valueKey(id)
		live = v != nil && !isDestroyed(v)
		return nil
	})
	return live, err
}
