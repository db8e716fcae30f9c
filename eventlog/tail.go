package eventlog

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// tail is what the journal has made durable and the flusher has not yet
// moved into bbolt: events base+1 onwards, the tree hashes they stored,
// and the value keys they created or destroyed. The writer only appends
// to it and the flusher only replaces it, both under Log.tailMu, so a
// reader that copied its slice headers under the read lock can go on
// reading them without it.
type tail struct {
	base     uint64      // bbolt holds events 1..base
	envs     [][]byte    // envelope of event base+1+i
	hashBase int64       // stored-hash index of hashes[0]
	hashes   []tlog.Hash // stored hashes of the tail's events
	keys     map[ValueKeyID][]byte
	keyOps   []tailKey // the changes behind keys, in order
}

// tailKey is one value-key change: a wrapped key, or the tombstone.
type tailKey struct {
	seq uint64
	id  ValueKeyID
	val []byte
}

func newTail(base uint64) *tail {
	return &tail{base: base, hashBase: tlog.StoredHashCount(int64(base)), keys: map[ValueKeyID][]byte{}}
}

func (t *tail) size() uint64 { return t.base + uint64(len(t.envs)) }

// after returns a new tail holding what t holds beyond event base.
func (t *tail) after(base uint64) *tail {
	nt := newTail(base)
	nt.envs = append([][]byte(nil), t.envs[base-t.base:]...)
	nt.hashes = append([]tlog.Hash(nil), t.hashes[nt.hashBase-t.hashBase:]...)
	for _, k := range t.keyOps {
		if k.seq > base {
			nt.keyOps = append(nt.keyOps, k)
			nt.keys[k.id] = k.val
		}
	}
	return nt
}

// snap is a consistent view of the log for one reader: a bbolt read
// transaction and the tail as it was just before the transaction began.
// The tail is taken first, so the transaction holds at least the events
// up to its base, and together they hold every event up to size.
type snap struct {
	tx       *bolt.Tx
	t        *tail
	base     uint64
	envs     [][]byte
	hashBase int64
	hashes   []tlog.Hash
	l        *Log
}

func (l *Log) takeTail() snap {
	l.tailMu.RLock()
	defer l.tailMu.RUnlock()
	t := l.tail
	return snap{t: t, base: t.base, envs: t.envs, hashBase: t.hashBase, hashes: t.hashes, l: l}
}

// view runs f with a snapshot of the log.
func (l *Log) view(ctx context.Context, f func(s *snap) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-l.closed:
		return ErrClosed
	default:
	}
	s := l.takeTail()
	return l.db.View(func(tx *bolt.Tx) error {
		s.tx = tx
		return f(&s)
	})
}

// size is the number of events the snapshot holds.
func (s *snap) size() uint64 { return s.base + uint64(len(s.envs)) }

// env returns event seq's envelope, nil if the snapshot has no such event.
// The bytes of events in bbolt live only as long as the transaction.
func (s *snap) env(seq uint64) []byte {
	switch {
	case seq == 0 || seq > s.size():
		return nil
	case seq > s.base:
		return s.envs[seq-s.base-1]
	}
	return s.tx.Bucket(bucketEvents).Get(u64key(seq))
}

// valueKey returns the stored value key id (wrapped, or the tombstone),
// nil if there is none.
func (s *snap) valueKey(id ValueKeyID) []byte {
	s.l.tailMu.RLock()
	v, ok := s.t.keys[id]
	s.l.tailMu.RUnlock()
	if ok {
		return v
	}
	return s.tx.Bucket(bucketValueKeys).Get(id[:])
}

// ReadHashes reads stored tree hashes, from the tail or bbolt.
func (s *snap) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var rest []int64
	for i, idx := range indexes {
		if j := idx - s.hashBase; j >= 0 && j < int64(len(s.hashes)) {
			out[i] = s.hashes[j]
			continue
		}
		rest = append(rest, idx)
	}
	if len(rest) == 0 {
		return out, nil
	}
	hs, err := bucketHashReader{s.tx.Bucket(bucketHashes)}.ReadHashes(rest)
	if err != nil {
		return nil, err
	}
	for i, idx := range indexes {
		if j := idx - s.hashBase; j >= 0 && j < int64(len(s.hashes)) {
			continue
		}
		out[i], hs = hs[0], hs[1:]
	}
	return out, nil
}

func (s *snap) checkSize(size uint64) error {
	if n := s.size(); size > n {
		return fmt.Errorf("tree size %d beyond log size %d: %w", size, n, ErrNotFound)
	}
	return nil
}

// readRange reads events from..to (stopping early at the end of the
// snapshot) and appends them to dst. With a ring it decrypts payloads.
func readRange(s *snap, from, to uint64, r *ring, dst []Record, touched *int) ([]Record, error) {
	to = min(to, s.size())
	want := from
	if want <= min(to, s.base) {
		c := s.tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(u64key(want)); want <= min(to, s.base); k, v = c.Next() {
			if len(k) != 8 || beUint64(k) != want {
				return dst, &IntegrityError{Seq: want, Reason: fmt.Sprintf("event missing (next stored key %x)", k)}
			}
			rec, err := decodeRecord(want, v, r)
			if err != nil {
				return dst, err
			}
			dst = append(dst, rec)
			*touched += len(v)
			want++
		}
	}
	for ; want <= to; want++ {
		rec, err := decodeRecord(want, s.env(want), r)
		if err != nil {
			return dst, err
		}
		dst = append(dst, rec)
	}
	return dst, nil
}
