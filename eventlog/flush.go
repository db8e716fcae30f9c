package eventlog

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// flusher moves the tail into bbolt. It runs FlushDelay after the first
// event it has not moved, or at once when FlushEvents are waiting, and
// signs a checkpoint in the same transaction when one is due. Everything
// that writes bbolt holds Log.flushMu, so the flusher, the writer's key
// operations and its direct commits never overlap.
type flusher struct {
	l     *Log
	kick  chan struct{} // something new is in the tail
	full  chan struct{} // FlushEvents are waiting
	stop  chan struct{}
	done  chan struct{}
	cp    cpState // guarded by Log.flushMu
	stats *statCounters
}

// cpState is when the last checkpoint was signed. The writer reads size
// without the lock, to sign in step with its appends.
type cpState struct {
	size atomic.Uint64
	time time.Time
}

func newFlusher(l *Log, stats *statCounters) *flusher {
	f := &flusher{
		l:     l,
		kick:  make(chan struct{}, 1),
		full:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		stats: stats,
	}
	f.cp.time = l.opts.Now()
	l.db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketCheckpoints).Cursor().Last(); len(k) == 8 {
			f.cp.size.Store(beUint64(k))
		}
		return nil
	})
	return f
}

// poke tells the flusher the tail has grown to n events.
func (f *flusher) poke(n int) {
	ch := f.kick
	if n >= f.l.opts.FlushEvents {
		ch = f.full
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (f *flusher) run() {
	defer close(f.done)
	tick := time.NewTicker(f.l.opts.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case <-f.stop:
			return
		case <-tick.C:
			// Anything new since the last checkpoint is signed now: a
			// time test here would miss by a hair a checkpoint that a
			// flush made just under an interval ago, and leave new
			// events unsigned for two intervals instead of one.
			if f.l.replicated() {
				f.l.w.requestCheckpoint()
			} else {
				f.flush(true)
			}
			f.l.probe()
			continue
		case <-f.full:
		case <-f.kick:
			t := time.NewTimer(f.l.opts.FlushDelay)
			select {
			case <-t.C:
			case <-f.full:
				t.Stop()
			case <-f.stop:
				t.Stop()
				return
			}
		}
		f.flush(false)
	}
}

// flush moves the tail into bbolt and signs a checkpoint if one is due
// (or, with force, if anything is unsigned). A failure is left for the
// next flush (the events are durable in the journal), and said by Err.
func (f *flusher) flush(force bool) error {
	f.l.flushMu.Lock()
	defer f.l.flushMu.Unlock()
	return f.flushLocked(force)
}

func (f *flusher) flushLocked(force bool) error {
	l := f.l
	if l.replicated() {
		return nil // no tail, and checkpoints are replicated
	}
	s := l.takeTail()
	n := len(s.envs)
	if n == 0 && !(force && f.cp.size.Load() < s.base) {
		return nil
	}
	size := s.base + uint64(n)
	ops := s.t.keyOpsUpTo(l, size)
	written := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		var err error
		written, err = f.l.storeEvents(tx, s.base, s.envs, s.hashes[:tlog.StoredHashCount(int64(size))-s.hashBase], ops)
		if err != nil {
			return err
		}
		return f.maybeCheckpoint(tx, size, force)
	})
	if err != nil {
		f.stats.failures.Add(1)
		err = fmt.Errorf("flush event log: %w", err)
		l.wroteFile(err) // logged once an episode, not at every retry
		return err
	}
	l.wroteFile(nil)
	l.tailMu.Lock()
	l.tail = l.tail.after(size)
	l.tailMu.Unlock()
	l.touched(written)
	return nil
}

// keyOpsUpTo returns the tail's key changes made by events up to size.
func (t *tail) keyOpsUpTo(l *Log, size uint64) []tailKey {
	l.tailMu.RLock()
	defer l.tailMu.RUnlock()
	var out []tailKey
	for _, k := range t.keyOps {
		if k.seq <= size {
			out = append(out, k)
		}
	}
	return out
}

// storeEvents writes events base+1.. with their stored hashes and key
// changes into tx, returning the bytes written.
func (l *Log) storeEvents(tx *bolt.Tx, base uint64, envs [][]byte, hashes []tlog.Hash, keys []tailKey) (int, error) {
	events, hb, vk, idx := tx.Bucket(bucketEvents), tx.Bucket(bucketHashes), tx.Bucket(bucketValueKeys), tx.Bucket(bucketTypeIndex)
	events.FillPercent = 1
	hb.FillPercent = 1
	written := 0
	for i, env := range envs {
		seq := base + 1 + uint64(i)
		if err := events.Put(u64key(seq), env); err != nil {
			return 0, fmt.Errorf("store event %d: %w", seq, err)
		}
		if err := l.indexEvent(idx, seq, typeOf(env)); err != nil {
			return 0, err
		}
		written += len(env)
	}
	first := tlog.StoredHashCount(int64(base))
	for i, h := range hashes {
		if err := hb.Put(u64key(uint64(first+int64(i))), h[:]); err != nil {
			return 0, fmt.Errorf("store tree hash: %w", err)
		}
	}
	for _, k := range keys {
		if err := vk.Put(k.id[:], k.val); err != nil {
			return 0, fmt.Errorf("store value key: %w", err)
		}
	}
	return written, nil
}

// maybeCheckpoint signs and stores a checkpoint of the first size events
// if one is due: enough events or enough time since the last, or force
// and anything new. A sealed log signs nothing.
func (f *flusher) maybeCheckpoint(tx *bolt.Tx, size uint64, force bool) error {
	r := f.l.ring.Load()
	signed := f.cp.size.Load()
	if r == nil || size == signed {
		return nil
	}
	now := f.l.opts.Now()
	due := force || size-signed >= f.l.opts.CheckpointEvery || now.Sub(f.cp.time) >= f.l.opts.CheckpointInterval
	if !due {
		return nil
	}
	root, err := tlog.TreeHash(int64(size), bucketHashReader{tx.Bucket(bucketHashes)})
	if err != nil {
		return fmt.Errorf("checkpoint tree hash: %w", err)
	}
	msg, err := r.signer.sign(size, root)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketCheckpoints).Put(u64key(size), msg); err != nil {
		return fmt.Errorf("store checkpoint: %w", err)
	}
	// The transaction may still fail; then the next checkpoint is merely
	// signed a little later than it would have been.
	f.cp.size.Store(size)
	f.cp.time = now
	f.stats.checkpoints.Add(1)
	f.stats.checkpointAt.Store(now.UnixNano())
	return nil
}

// replay redoes in bbolt what the journal holds beyond bbolt's end: the
// events a crash kept from being flushed. The records need no key: the
// events are sealed and the value keys wrapped already.
func (l *Log) replay(j *journal) error {
	next := l.size + 1
	var evs []journalEvent
	err := j.records(func(first uint64, rec []journalEvent) error {
		last := first + uint64(len(rec)) - 1
		switch {
		case last < next:
			return nil // flushed before the crash, or left from an earlier pass
		case first > next:
			return fmt.Errorf("the journal continues the log from event %d, but %s ends at event %d: "+
				"the file is older than its journal (restored from a backup?); move %s away to open the file as it is: %w",
				first, l.path, next-1, journalPath(l.path), ErrTampered)
		}
		evs = append(evs, rec[next-first:]...)
		next = last + 1
		return nil
	})
	if err != nil || len(evs) == 0 {
		return err
	}
	base := l.size
	err = l.db.Update(func(tx *bolt.Tx) error {
		events, hb, vk := tx.Bucket(bucketEvents), tx.Bucket(bucketHashes), tx.Bucket(bucketValueKeys)
		events.FillPercent = 1
		hb.FillPercent = 1
		for i, e := range evs {
			seq := base + 1 + uint64(i)
			h, _, _, err := decodeEnvelope(e.env)
			if err != nil || h.Seq != seq {
				return &IntegrityError{Seq: seq, Reason: "journal holds an envelope that is not this event"}
			}
			if err := events.Put(u64key(seq), e.env); err != nil {
				return err
			}
			if err := appendHashes(hb, int64(seq-1), tlog.RecordHash(e.env)); err != nil {
				return err
			}
			for _, k := range e.newKeys {
				if err := vk.Put(k.id[:], k.wrapped); err != nil {
					return err
				}
			}
			for _, id := range e.destroyed {
				if err := vk.Put(id[:], destroyedTombstone); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	l.opts.Logger.Info("event log recovered events from its journal", "events", len(evs), "size", next-1)
	l.size = next - 1
	return nil
}

func (f *flusher) cpTime() time.Time { return f.cp.time }

// requestCheckpoint asks the writer of a replicated log for a checkpoint
// of what is unsigned, without waiting: on a follower it fails, and the
// leader's own tick signs.
func (w *writer) requestCheckpoint() {
	if w.l.f.cp.size.Load() >= w.l.Size() {
		return
	}
	if lr, ok := w.l.opts.Replicator.(interface{ Leads() bool }); ok && !lr.Leads() {
		return // the leader signs; a follower's try would only fail
	}
	r := &request{checkpoint: true, done: make(chan struct{})}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	w.submit(ctx, r)
}
