package eventlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// Replicator commits a replicated log's changes through consensus (Raft,
// in package cluster). A log opened with one never writes its file on
// its own: its writer seals and hashes each batch in a transaction it
// rolls back, hands the resulting change to Replicate, and answers its
// callers once Replicate returns, by which time the change is committed
// by a quorum and applied to this log through ApplyChange, as it is on
// every other replica.
type Replicator interface {
	// Replicate commits change and returns once it is applied to this
	// log. It fails on a replica that is not the leader, and when the
	// leader loses its quorum before the change commits; then the change
	// was not applied here (it may still commit later, under a new
	// leader, if it reached a majority: a caller told of the failure
	// must treat the outcome as unknown).
	Replicate(ctx context.Context, change []byte) error
}

// ErrStaleChange is ApplyChange's answer to a change built on a state
// the log has moved past (or not reached): a leader's change that lost a
// race with another commit. Every replica refuses it alike, since all
// apply the same changes in the same order, so it changes nothing.
var ErrStaleChange = errors.New("replicated change does not continue the log")

// ReplicateTimeout bounds one Replicate call of the writer.
const ReplicateTimeout = 10 * time.Second

// replicated reports whether the log commits through a Replicator.
func (l *Log) replicated() bool { return l.opts.Replicator != nil }

// lastStamp is the time and ULID of the newest event, which the writer
// continues from. A replicated log keeps it with the size, since events
// arrive through ApplyChange as well as from its own writer.
type lastStamp struct {
	id ulid.ULID
	t  time.Time
}

// applied is the writer's starting state for its next step on a
// replicated log: what the replicas agreed on so far.
func (w *writer) applied() writeState {
	l := w.l
	l.mu.Lock()
	defer l.mu.Unlock()
	return writeState{size: l.size, ring: l.ring.Load(), lastID: l.last.id, lastTime: l.last.t}
}

// commitReplicated builds batch's change in a write transaction it rolls
// back, replicates it, and answers the batch. With checkpoint it signs
// a checkpoint of everything so far even if none is due.
func (w *writer) commitReplicated(batch []*request, checkpoint bool) {
	l := w.l
	st := w.applied()
	if st.ring == nil {
		for _, r := range batch {
			r.err = ErrSealed
		}
		w.answer(batch, nil, 0, 0)
		return
	}
	base := st.size
	start := time.Now()
	c, err := w.buildChange(batch, &st, checkpoint)
	if err == nil && c == nil {
		runThen(batch)
		w.answer(batch, nil, 0, 0) // nothing to replicate
		return
	}
	if err == nil {
		err = l.replicate(c)
	}
	if err == nil {
		runThen(batch)
	}
	if err != nil {
		err = fmt.Errorf("commit event log: %w", err)
		w.stats.failures.Add(1)
		l.opts.Observer.Failed()
	} else {
		w.stats.commits.Add(1)
		w.stats.events.Add(st.size - base)
	}
	w.answer(batch, err, int(st.size-base), time.Since(start))
}

// runThen runs the then of each request of batch that has one.
func runThen(batch []*request) {
	for _, r := range batch {
		if r.then != nil {
			r.then()
		}
	}
}

// replicate commits c through the Replicator, within ReplicateTimeout.
func (l *Log) replicate(c *change) error {
	ctx, cancel := context.WithTimeout(context.Background(), ReplicateTimeout)
	defer cancel()
	return l.opts.Replicator.Replicate(ctx, c.encode())
}

// answer spends the batch's keys and wakes its callers; err, if set,
// fails every request that had not failed on its own.
func (w *writer) answer(batch []*request, err error, events int, took time.Duration) {
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err, r.records = err, nil
		}
		spendAll(r.events)
	}
	if err == nil && events > 0 {
		w.observe(batch, events, took)
	}
	for _, r := range batch {
		close(r.done)
	}
}

// buildChange runs batch's writes in a write transaction and returns them as a
// change, rolling the transaction back: the file changes only when the
// change comes back through ApplyChange. nil means nothing to write.
func (w *writer) buildChange(batch []*request, st *writeState, checkpoint bool) (*change, error) {
	return w.l.speculate(func(tx *bolt.Tx) (*change, error) { return w.batchChange(tx, batch, st, checkpoint) })
}

// speculate runs f in a write transaction it then rolls back, holding
// flushMu: what f reads is the file as the replicas agreed on it.
func (l *Log) speculate(f func(tx *bolt.Tx) (*change, error)) (*change, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	tx, err := l.db.Begin(true)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return f(tx)
}

func (w *writer) batchChange(tx *bolt.Tx, batch []*request, st *writeState, checkpoint bool) (*change, error) {
	l := w.l
	b := txBuckets{
		events:    tx.Bucket(bucketEvents),
		hashes:    tx.Bucket(bucketHashes),
		valueKeys: tx.Bucket(bucketValueKeys),
		index:     tx.Bucket(bucketTypeIndex),
	}
	lookup := func(id ValueKeyID) []byte { return b.valueKeys.Get(id[:]) }
	base, ring := st.size, st.ring
	var keys []ValueKeyID
	for _, r := range batch {
		if r.err = w.check(st, lookup, nil, r); r.err != nil {
			continue
		}
		if err := w.write(tx, st, b, r); err != nil {
			return nil, err
		}
		for _, e := range r.events {
			for _, k := range e.NewValueKeys {
				keys = append(keys, k.id)
			}
			keys = append(keys, e.DestroyValueKeys...)
		}
	}
	signed := l.f.cp.size.Load()
	cpDue := st.size > signed && (checkpoint || st.size-signed >= l.opts.CheckpointEvery ||
		l.opts.Now().Sub(l.f.cpTime()) >= l.opts.CheckpointInterval)
	if st.size == base && !cpDue {
		return nil, nil
	}
	c := &change{logID: l.id, base: base, size: st.size}
	captureRange(c, tx, base, st.size)
	for _, id := range keys {
		c.add(bucketValueKeys, id[:], b.valueKeys.Get(id[:]))
	}
	if st.ring != ring {
		captureRing(c, tx)
	}
	if cpDue {
		msg, err := signCheckpoint(tx, st.ring, st.size)
		if err != nil {
			return nil, err
		}
		c.add(bucketCheckpoints, u64key(st.size), msg)
	}
	return c, nil
}

// captureRange adds the events base+1..size of tx to c, with their tree
// hashes and type index entries.
func captureRange(c *change, tx *bolt.Tx, base, size uint64) {
	events, idx := tx.Bucket(bucketEvents), tx.Bucket(bucketTypeIndex)
	for seq := base + 1; seq <= size; seq++ {
		k := u64key(seq)
		c.add(bucketEvents, k, events.Get(k))
		if v := idx.Get(k); v != nil {
			c.add(bucketTypeIndex, k, v)
		}
	}
	hashes := tx.Bucket(bucketHashes)
	for i := tlog.StoredHashCount(int64(base)); i < tlog.StoredHashCount(int64(size)); i++ {
		k := u64key(uint64(i))
		c.add(bucketHashes, k, hashes.Get(k))
	}
}

// captureRing adds the key ring's records: the key check, signing seed,
// verifier and current key id, and every data key.
func captureRing(c *change, tx *bolt.Tx) {
	meta := tx.Bucket(bucketMeta)
	for _, k := range [][]byte{metaKeyCheck, metaCurrentKey, metaSigner, metaVerifier} {
		if v := meta.Get(k); v != nil {
			c.add(bucketMeta, k, v)
		}
	}
	tx.Bucket(bucketDataKeys).ForEach(func(k, v []byte) error {
		c.add(bucketDataKeys, k, v)
		return nil
	})
}

// captureAll adds every record of bucket.
func captureAll(c *change, tx *bolt.Tx, bucket []byte) {
	tx.Bucket(bucket).ForEach(func(k, v []byte) error {
		c.add(bucket, k, v)
		return nil
	})
}

// signCheckpoint signs a checkpoint of the first size events of tx.
func signCheckpoint(tx *bolt.Tx, r *ring, size uint64) ([]byte, error) {
	root, err := tlog.TreeHash(int64(size), bucketHashReader{tx.Bucket(bucketHashes)})
	if err != nil {
		return nil, fmt.Errorf("checkpoint tree hash: %w", err)
	}
	return r.signer.sign(size, root)
}

// runOpReplicated runs a key operation. One that writes (the first
// unlock of a new log creating its key ring, a data key rotation, a
// rewrap) is replicated like an append, the ring it built kept only once
// the change is applied; one that writes nothing (unlocking an
// initialised log, locking) only changes this replica's memory.
func (w *writer) runOpReplicated(r *request) {
	l := w.l
	st := w.applied()
	old := st.ring
	c, err := w.buildOp(r, &st)
	if err == nil && c != nil {
		if err = l.replicate(c); err == nil {
			l.flushMu.Lock()
			l.ring.Store(st.ring)
			l.flushMu.Unlock()
		}
	}
	r.err = err
	if err == nil && old != nil && st.ring == nil {
		old.signer.zero()
	}
	close(r.done)
}

func (w *writer) buildOp(r *request, st *writeState) (*change, error) {
	return w.l.speculate(func(tx *bolt.Tx) (*change, error) { return w.opChange(tx, r, st) })
}

func (w *writer) opChange(tx *bolt.Tx, r *request, st *writeState) (*change, error) {
	l := w.l
	before := ringRecords(tx)
	if err := r.op(tx, st); err != nil {
		return nil, err
	}
	if bytes.Equal(before, ringRecords(tx)) {
		// Nothing to replicate (an unlock of an initialised log, a
		// lock): the ring is published under the same hold of flushMu
		// it was read in, so that no change applied in between (a new
		// data key) is missed.
		l.ring.Store(st.ring)
		return nil, nil
	}
	c := &change{logID: l.id, base: st.size, size: st.size}
	captureRing(c, tx)
	// A rewrap rewraps every value key too.
	captureAll(c, tx, bucketValueKeys)
	return c, nil
}

// ringRecords is the key ring as stored, to tell whether an operation
// changed it.
func ringRecords(tx *bolt.Tx) []byte {
	c := &change{}
	captureRing(c, tx)
	return c.encode()
}

// ApplyChange applies the change committed as Raft entry index: the
// Raft state machine calls it, on every replica, in commit order. An
// entry this log has applied already (a replay after a restart) is
// skipped. A change that does not continue the log (built by a leader on
// a state the log has since moved past) is refused with ErrStaleChange
// and changes nothing; every replica, holding the same log at that
// entry, refuses it alike. The index is stored with the change, in the
// same transaction.
func (l *Log) ApplyChange(index uint64, change []byte) error {
	c, err := decodeChange(change)
	if err != nil {
		return err
	}
	if !bytes.Equal(c.logID, l.id) {
		return fmt.Errorf("apply change: it belongs to log %x, this is %x: %w", c.logID, l.id, ErrTampered)
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if index <= l.raftIndex {
		return nil // applied before
	}
	if size := l.Size(); c.base != size {
		return fmt.Errorf("apply change: it continues the log from event %d, but the log ends at %d: %w", c.base, size, ErrStaleChange)
	}
	return l.applyLocked(c, index)
}

// applyLocked writes c and the Raft index it came with, then brings
// memory in line. The caller holds flushMu and has checked that c
// continues the log.
func (l *Log) applyLocked(c *change, index uint64) error {
	written := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, p := range c.puts {
			b := tx.Bucket(allBuckets[p.bucket])
			if p.bucket == bucketIndex(bucketEvents) || p.bucket == bucketIndex(bucketHashes) {
				b.FillPercent = 1
			}
			if err := b.Put(p.key, p.value); err != nil {
				return err
			}
			written += len(p.value)
		}
		return tx.Bucket(bucketMeta).Put(metaRaftIndex, u64key(index))
	})
	l.wroteFile(err)
	if err != nil {
		return fmt.Errorf("apply change: %w", err)
	}
	l.raftIndex = index
	l.afterApply(c)
	l.touched(written)
	return nil
}

// afterApply brings memory in line with what c wrote: the key ring, the
// newest checkpoint, the newest event's stamp and the size.
func (l *Log) afterApply(c *change) {
	ringChanged, cp := false, uint64(0)
	var lastEnv []byte
	for _, p := range c.puts {
		switch allBuckets[p.bucket][0] {
		case bucketMeta[0], bucketDataKeys[0]:
			ringChanged = true
		case bucketCheckpoints[0]:
			cp = max(cp, beUint64(p.key))
		case bucketEvents[0]:
			if beUint64(p.key) == c.size {
				lastEnv = p.value
			}
		}
	}
	if ringChanged {
		l.reloadRing()
	}
	if cp > 0 && cp > l.f.cp.size.Load() {
		l.f.cp.size.Store(cp)
		l.f.cp.time = l.opts.Now()
		l.f.stats.checkpoints.Add(1)
		l.f.stats.checkpointAt.Store(l.f.cp.time.UnixNano())
	}
	l.tailMu.Lock()
	l.tail = newTail(c.size)
	l.tailMu.Unlock()
	l.mu.Lock()
	if lastEnv != nil {
		if h, err := DecodeHeader(lastEnv); err == nil {
			l.last = lastStamp{id: h.ID, t: h.Time}
		}
	}
	l.mu.Unlock()
	l.committed(c.size)
}

// reloadRing rereads the key ring after a replicated change to it, with
// the key-encryption key this replica already holds. A change of the
// root key itself (a rewrap) leaves this replica without a key that
// opens the ring: it seals until it recovers the new root key.
func (l *Log) reloadRing() {
	r := l.ring.Load()
	if r == nil {
		return
	}
	var nr *ring
	err := l.db.View(func(tx *bolt.Tx) error {
		var err error
		nr, err = r.reload(tx)
		return err
	})
	if err != nil {
		l.opts.Logger.Warn("event log sealed: the replicated key ring no longer opens with this replica's root key; recover the new root key", "err", err)
		l.ring.Store(nil)
		return
	}
	l.ring.Store(nr)
}

// reload rereads the ring's records from tx with r's key-encryption key.
func (r *ring) reload(tx *bolt.Tx) (*ring, error) {
	meta := tx.Bucket(bucketMeta)
	check, err := r.kek.Open(nil, meta.Get(metaKeyCheck), aadFor(aadKeyCheck, r.logID, nil))
	if err != nil || string(check) != keyCheckText {
		return nil, ErrWrongRootKey
	}
	c := r.clone()
	cur := meta.Get(metaCurrentKey)
	if len(cur) != 4 {
		return nil, fmt.Errorf("current data key id: %w", ErrMalformed)
	}
	c.current = beUint32(cur)
	err = tx.Bucket(bucketDataKeys).ForEach(func(k, v []byte) error {
		id, dk, err := c.unwrapDataKey(k, v)
		if err == nil {
			c.data[id] = dk
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, ok := c.data[c.current]; !ok {
		return nil, fmt.Errorf("current data key %d missing: %w", c.current, ErrTampered)
	}
	return c, nil
}

func beUint32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Snapshot is a consistent copy of the log's file, for a Raft snapshot:
// taken at one instant (the read transaction Snapshot begins) and written
// out later, while the log goes on. Its stream is a header (magic,
// version, the Raft index the copy includes) and then the file.
type Snapshot struct {
	tx *bolt.Tx
	// Size is the number of events in the copy, and Index the last Raft
	// entry applied to it.
	Size, Index uint64
}

const snapshotMagic = "spks\x01"

// Snapshot begins a consistent copy of the file as it is now.
func (l *Log) Snapshot() (*Snapshot, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := l.f.flushLocked(false); err != nil {
		return nil, err
	}
	tx, err := l.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("snapshot event log: %w", err)
	}
	return &Snapshot{tx: tx, Size: lastSeq(tx), Index: l.raftIndex}, nil
}

// WriteTo writes the copy, header first.
func (s *Snapshot) WriteTo(w io.Writer) (int64, error) {
	hdr := binary.BigEndian.AppendUint64([]byte(snapshotMagic), s.Index)
	if _, err := w.Write(hdr); err != nil {
		return 0, err
	}
	n, err := s.tx.WriteTo(w)
	return n + int64(len(hdr)), err
}

// Release ends the copy's read transaction.
func (s *Snapshot) Release() { s.tx.Rollback() }

// Restore brings the log up to a snapshot of the same log read from r. A
// snapshot of entries this log has applied already (every restart
// restores the newest one) changes nothing, and is not even read past
// its header. Otherwise the copy is verified (VerifyFile) and must
// continue this log: the event at this log's end must be byte for byte
// the copy's. What it holds beyond this log (events, hashes, key ring,
// value keys, checkpoints) is applied as one change, with its Raft index.
func (l *Log) Restore(ctx context.Context, r io.Reader) error {
	hdr := make([]byte, len(snapshotMagic)+8)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("restore snapshot: not a snapshot of an event log (%v)", err)
	}
	index := beUint64(hdr[len(snapshotMagic):])
	l.flushMu.Lock()
	applied := l.raftIndex
	l.flushMu.Unlock()
	if index <= applied {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(l.path), ".restore-*")
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, ctxReader{ctx, r})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("restore snapshot: copy: %w", err)
	}
	if err := l.verifySnapshot(ctx, tmp.Name()); err != nil {
		return err
	}
	db, err := bolt.Open(tmp.Name(), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("restore snapshot: open copy: %w", err)
	}
	defer db.Close()
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if index <= l.raftIndex {
		return nil // applied meanwhile
	}
	var c *change
	err = db.View(func(tx *bolt.Tx) error {
		var err error
		c, err = l.changeFrom(tx)
		return err
	})
	if err != nil {
		return err
	}
	return l.applyLocked(c, index)
}

// verifySnapshot verifies the snapshot's copy as an auditor would (every
// envelope, hash and signed checkpoint) against this log's verifier key,
// or, on a replica that has none yet, the snapshot's own: a snapshot
// damaged in transit or on disk is refused before anything of it is
// applied. (The sender is a Nexus proven at the handshake; the check is
// against damage, not against it.)
func (l *Log) verifySnapshot(ctx context.Context, path string) error {
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if vkey == "" {
		ro, err := OpenReadOnly(ctx, path, Options{})
		if err != nil {
			return fmt.Errorf("restore snapshot: %w", err)
		}
		vkey, err = ro.VerifierKey(ctx)
		ro.Close()
		if err != nil {
			return fmt.Errorf("restore snapshot: %w", err)
		}
	}
	if vkey == "" {
		return nil // a log not yet unlocked: no checkpoint to verify against
	}
	if _, err := VerifyFile(ctx, path, vkey, VerifyOptions{}); err != nil {
		return fmt.Errorf("restore snapshot: it does not verify: %w", err)
	}
	return nil
}

// changeFrom is the change that brings this log up to the snapshot tx:
// its events past this log's end, and its key ring, value keys and
// checkpoints from this log's end on (a key change or a checkpoint at
// the same size is the snapshot's too).
func (l *Log) changeFrom(tx *bolt.Tx) (*change, error) {
	id, err := readIdentity(tx)
	if err != nil {
		return nil, fmt.Errorf("restore snapshot: %w", err)
	}
	if !bytes.Equal(id, l.id) {
		return nil, fmt.Errorf("restore snapshot: it is of log %x, this is %x: %w", id, l.id, ErrTampered)
	}
	size, theirs := l.Size(), lastSeq(tx)
	if theirs < size {
		return nil, fmt.Errorf("restore snapshot: it holds %d events, this replica %d, though it is of a later Raft entry: %w", theirs, size, ErrTampered)
	}
	if size > 0 {
		mine, err := l.readEnvelope(size)
		if err != nil {
			return nil, fmt.Errorf("restore snapshot: %w", err)
		}
		if !bytes.Equal(mine, tx.Bucket(bucketEvents).Get(u64key(size))) {
			return nil, fmt.Errorf("restore snapshot: event %d differs between this replica and the snapshot: %w", size, ErrTampered)
		}
	}
	c := &change{logID: l.id, base: size, size: theirs}
	captureRange(c, tx, size, theirs)
	captureRing(c, tx)
	captureAll(c, tx, bucketValueKeys)
	cps := tx.Bucket(bucketCheckpoints).Cursor()
	for k, v := cps.Seek(u64key(size)); k != nil; k, v = cps.Next() {
		c.add(bucketCheckpoints, k, v)
	}
	return c, nil
}

func (l *Log) readEnvelope(seq uint64) ([]byte, error) {
	var env []byte
	err := l.db.View(func(tx *bolt.Tx) error {
		env = bytes.Clone(tx.Bucket(bucketEvents).Get(u64key(seq)))
		if env == nil {
			return fmt.Errorf("event %d: %w", seq, ErrNotFound)
		}
		return nil
	})
	return env, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
