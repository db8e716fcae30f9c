package eventlog

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/internal/seal"
)

// Event is one event to append.
type Event struct {
	// Type names the event; 1..MaxTypeLen bytes of letters, digits and
	// . _ - /. It is stored in clear.
	Type string
	// Schema is the version of the payload's schema, stored in clear.
	Schema uint32
	// Payload is sealed under the current data key.
	Payload []byte
	// Public is stored in clear, authenticated with the payload, and
	// readable while the log is sealed (at most MaxPublicLen bytes).
	Public []byte
	// NewValueKeys are stored, wrapped, in the same transaction as the
	// event. They are spent (zeroed) when Append returns.
	NewValueKeys []*ValueKey
	// DestroyValueKeys are destroyed in the same transaction: every value
	// sealed under them becomes unrecoverable. Each must exist and not be
	// destroyed already, or the whole Append fails and changes nothing.
	DestroyValueKeys []ValueKeyID
}

// writeState is the writer's view of the log. It is copied before every
// transaction and replaced only after the transaction commits, so a failed
// commit leaves no trace in memory either.
type writeState struct {
	size     uint64
	ring     *ring
	lastID   ulid.ULID
	lastTime time.Time
	written  int // envelope bytes written by this transaction
}

type request struct {
	events    []Event
	submitted time.Time
	op        func(tx *bolt.Tx, st *writeState) error
	records   []Record
	err       error
	done      chan struct{}
	// checkpoint asks a replicated log's writer for a checkpoint of
	// everything so far (the flusher's tick).
	checkpoint bool
	// then, if set, runs in a replicated log's writer once the request's
	// change is applied here, before the writer builds the next one: on
	// the leader nothing else can have changed the file in between.
	then func()
}

// writer is the single goroutine that writes the file. Appends queue on
// reqs; the writer takes every request waiting (up to MaxBatch events),
// commits them in one bbolt transaction, and only then wakes their callers.
type writer struct {
	l    *Log
	reqs chan *request
	held *request // an op that arrived while collecting a batch
	// lastBatch is the number of requests in the previous batch.
	lastBatch int
	stopped   chan struct{}
	st        writeState
	jbuf      []byte // the journal record being written
	entropy   *ulid.MonotonicEntropy
	stats     statCounters
}

// statCounters are updated by the writer and read by Stats.
type statCounters struct {
	commits, events, checkpoints, failures atomic.Uint64
	// checkpointAt is when the newest checkpoint was signed, in Unix
	// nanoseconds (0: none signed since Open).
	checkpointAt atomic.Int64
}

// Stats are cumulative counters since Open, for metrics.
type Stats struct {
	Commits     uint64 // write transactions committed
	Events      uint64 // events appended
	Checkpoints uint64 // checkpoints signed
	Failures    uint64 // transactions that failed
	// Checkpointed is the log size the newest checkpoint signs, and
	// CheckpointTime when this process signed it (zero if it signed none
	// since Open).
	Checkpointed   uint64
	CheckpointTime time.Time
}

// Stats returns the log's counters.
func (l *Log) Stats() Stats {
	if l.readOnly {
		return Stats{} // it writes nothing
	}
	c := &l.w.stats
	st := Stats{Commits: c.commits.Load(), Events: c.events.Load(), Checkpoints: c.checkpoints.Load(), Failures: c.failures.Load(),
		Checkpointed: l.f.cp.size.Load()}
	if at := c.checkpointAt.Load(); at != 0 {
		st.CheckpointTime = time.Unix(0, at)
	}
	return st
}

func newWriter(l *Log) *writer {
	w := &writer{
		l:       l,
		reqs:    make(chan *request, 1024),
		stopped: make(chan struct{}),
		entropy: ulid.Monotonic(rand.Reader, 0),
	}
	w.st.size = l.size
	l.db.View(func(tx *bolt.Tx) error {
		if w.st.size > 0 {
			if h, _, _, err := decodeEnvelope(tx.Bucket(bucketEvents).Get(u64key(w.st.size))); err == nil {
				w.st.lastID, w.st.lastTime = h.ID, h.Time
			}
		}
		return nil
	})
	l.last = lastStamp{id: w.st.lastID, t: w.st.lastTime}
	return w
}

// Append appends events atomically: they get consecutive sequence numbers
// and are committed in one transaction. It returns them as records (the
// payload is the caller's slice, not a copy) once the transaction is
// durable. ctx bounds only the wait for a place in the
// queue: once queued, an append is carried out and Append waits for it.
func (l *Log) Append(ctx context.Context, events ...Event) ([]Record, error) {
	p, err := l.Submit(ctx, events...)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Pending is an append that has been queued and not yet waited for.
type Pending struct {
	r *request
}

// Submit queues events to be appended, as Append does, and returns
// without waiting for them to be durable. Appends are carried out in the
// order they were queued, so one caller that submits A and then B gets A
// before B in the log, while A's sync is still running when B is built.
func (l *Log) Submit(ctx context.Context, events ...Event) (*Pending, error) {
	if len(events) == 0 {
		r := &request{done: make(chan struct{})}
		close(r.done)
		return &Pending{r}, nil
	}
	if l.readOnly {
		spendAll(events)
		return nil, ErrReadOnly
	}
	if err := l.validate(events); err != nil {
		spendAll(events)
		return nil, err
	}
	r := &request{events: events, submitted: time.Now(), done: make(chan struct{})}
	if err := l.w.submit(ctx, r); err != nil {
		spendAll(events)
		return nil, err
	}
	return &Pending{r}, nil
}

// Wait waits until the append is durable (or failed) and returns its
// records.
func (p *Pending) Wait() ([]Record, error) {
	<-p.r.done
	return p.r.records, p.r.err
}

// Check reports whether Append would take events, without appending
// them. When it would not, it spends their value keys, as Append does,
// so that a refused event leaves no key material behind. A caller that
// appends many callers' events at once checks each caller's first, so
// that one event over a limit fails only its own caller.
func (l *Log) Check(events ...Event) error {
	if err := l.validate(events); err != nil {
		spendAll(events)
		return err
	}
	return nil
}

// MaxPayload returns the largest event payload the log takes, in bytes.
func (l *Log) MaxPayload() int { return l.opts.MaxPayload }

func (l *Log) validate(events []Event) error {
	if len(events) > l.opts.MaxBatch {
		return fmt.Errorf("append: %d events in one call exceeds the batch limit %d", len(events), l.opts.MaxBatch)
	}
	for i, e := range events {
		if err := validType(e.Type); err != nil {
			return fmt.Errorf("append: event %d: %w", i, err)
		}
		if len(e.Public) > MaxPublicLen {
			return fmt.Errorf("append: event %d: public part %d bytes exceeds limit %d", i, len(e.Public), MaxPublicLen)
		}
		if len(e.Payload) > l.opts.MaxPayload {
			return fmt.Errorf("append: event %d: payload %d bytes exceeds limit %d: %w", i, len(e.Payload), l.opts.MaxPayload, ErrTooLarge)
		}
		for _, k := range e.NewValueKeys {
			if k == nil || k.raw == nil {
				return fmt.Errorf("append: event %d: value key missing or already spent", i)
			}
		}
	}
	return nil
}

func spendAll(events []Event) {
	for _, e := range events {
		for _, k := range e.NewValueKeys {
			if k != nil {
				k.spend()
			}
		}
	}
}

func (w *writer) submit(ctx context.Context, r *request) error {
	l := w.l
	// Submitters hold closeMu for reading while they queue, and Close takes
	// it for writing before it marks the log done: so every request that
	// entered the queue did so before the writer was told to stop, and the
	// writer drains them all.
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.isDone {
		return ErrClosed
	}
	select {
	case w.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs op alone in a write transaction, in order with appends.
func (w *writer) do(ctx context.Context, op func(tx *bolt.Tx, st *writeState) error) error {
	r := &request{op: op, done: make(chan struct{})}
	if err := w.submit(ctx, r); err != nil {
		return err
	}
	<-r.done
	return r.err
}

func (w *writer) run() {
	defer close(w.stopped)
	go w.l.f.run()
	for {
		if r := w.held; r != nil {
			w.held = nil
			w.handle(r)
			continue
		}
		select {
		case r := <-w.reqs:
			w.handle(r)
		case <-w.l.closed:
			w.drain()
			close(w.l.f.stop)
			<-w.l.f.done
			w.l.f.flush(true)
			return
		}
	}
}

func (w *writer) drain() {
	for {
		if r := w.held; r != nil {
			w.held = nil
			w.handle(r)
			continue
		}
		select {
		case r := <-w.reqs:
			w.handle(r)
		default:
			return
		}
	}
}

func (w *writer) handle(first *request) {
	if first.op != nil {
		w.runOp(first)
		return
	}
	batch := []*request{first}
	n := len(first.events)
	// Group commit with a short, adaptive linger: callers woken by the
	// previous commit usually come straight back. Waiting up to lingerMax
	// for as many requests as the previous batch had turns alternating
	// big and tiny batches into steady big ones. A lone appender never
	// waits, because its previous batch had one request.
	var linger <-chan time.Time
collect:
	for n < w.l.opts.MaxBatch {
		var r *request
		select {
		case r = <-w.reqs:
		default:
			if len(batch) >= w.lastBatch {
				break collect
			}
			if linger == nil {
				t := time.NewTimer(lingerMax)
				defer t.Stop()
				linger = t.C
			}
			select {
			case r = <-w.reqs:
			case <-linger:
				break collect
			}
		}
		if r.op != nil {
			w.held = r
			break
		}
		if n+len(r.events) > w.l.opts.MaxBatch {
			// Too big for this batch: commit what we have, then it.
			w.commit(batch)
			batch, n = nil, 0
		}
		batch = append(batch, r)
		n += len(r.events)
	}
	w.lastBatch = len(batch)
	w.commit(batch)
}

// lingerMax bounds how long the writer waits for a batch to fill: far
// below one fsync, so it never costs a durable append noticeable latency.
const lingerMax = 200 * time.Microsecond

func (w *writer) runOp(r *request) {
	if w.l.replicated() {
		w.runOpReplicated(r)
		return
	}
	st := w.st
	old := st.ring
	w.l.flushMu.Lock()
	defer w.l.flushMu.Unlock()
	// Key operations change what seals and signs: the tail goes into
	// bbolt first, checkpointed under the key ring that wrote it.
	if r.err = w.l.f.flushLocked(false); r.err == nil {
		r.err = w.l.db.Update(func(tx *bolt.Tx) error { return r.op(tx, &st) })
	}
	if r.err == nil {
		w.publish(st)
		if old != nil && st.ring == nil {
			old.signer.zero()
		}
	}
	close(r.done)
}

func (w *writer) publish(st writeState) {
	w.st = st
	w.l.ring.Store(st.ring)
	w.l.committed(st.size)
}

// commitDirect writes every request of batch in one bbolt transaction,
// without the journal: for a batch that rotates the data key (which
// writes the key ring in the same transaction) or is too big for the
// journal, and for every batch when the journal is off. A request that
// fails validation is answered with its error and writes nothing; the
// others commit. If the transaction fails, every request gets its error
// and neither the file nor memory changes.
func (w *writer) commitDirect(batch []*request) {
	st := w.st
	w.l.flushMu.Lock()
	defer w.l.flushMu.Unlock()
	err := w.l.f.flushLocked(false)
	start := time.Now()
	if err == nil {
		err = w.l.db.Update(func(tx *bolt.Tx) error {
			b := txBuckets{
				events:    tx.Bucket(bucketEvents),
				hashes:    tx.Bucket(bucketHashes),
				valueKeys: tx.Bucket(bucketValueKeys),
				index:     tx.Bucket(bucketTypeIndex),
			}
			b.events.FillPercent = 1
			b.hashes.FillPercent = 1
			lookup := func(id ValueKeyID) []byte { return b.valueKeys.Get(id[:]) }
			for _, r := range batch {
				if r.err = w.check(&st, lookup, nil, r); r.err != nil {
					continue
				}
				if err := w.write(tx, &st, b, r); err != nil {
					return err
				}
			}
			return w.l.f.maybeCheckpoint(tx, st.size, false)
		})
	}
	if err != nil {
		err = fmt.Errorf("commit event log: %w", err)
	}
	w.l.wroteFile(err)
	w.l.appended(err)
	for _, r := range batch {
		if err != nil && r.err == nil {
			r.err, r.records = err, nil
		}
		spendAll(r.events)
	}
	if err == nil {
		w.observe(batch, int(st.size-w.st.size), time.Since(start))
		w.stats.commits.Add(1)
		w.stats.events.Add(st.size - w.st.size)
		w.l.touched(st.written)
		st.written = 0
		w.l.tailMu.Lock()
		w.l.tail = newTail(st.size)
		w.l.tailMu.Unlock()
		w.publish(st)
	} else {
		w.stats.failures.Add(1)
		w.l.opts.Observer.Failed()
	}
	for _, r := range batch {
		close(r.done)
	}
}

type txBuckets struct {
	events, hashes, valueKeys, index *bolt.Bucket
}

// check validates r against the current state without writing anything.
//
// lookup finds a stored value key; batch holds the keys earlier requests
// of the same batch created or destroyed (nil when lookup sees them).
func (w *writer) check(st *writeState, lookup func(ValueKeyID) []byte, batch map[ValueKeyID][]byte, r *request) error {
	if st.ring == nil {
		return ErrSealed
	}
	// Within one request, events apply in order: a key created by one
	// event can be destroyed by a later one (a write that prunes what an
	// earlier event of the same batch wrote).
	created := map[ValueKeyID]bool{}
	destroyed := map[ValueKeyID]bool{}
	for _, e := range r.events {
		for _, id := range e.DestroyValueKeys {
			if destroyed[id] {
				return fmt.Errorf("append: destroy %s: %w (earlier in this append)", id, ErrValueDestroyed)
			}
			destroyed[id] = true
			if created[id] {
				continue
			}
			switch v := stored(lookup, batch, id); {
			case v == nil:
				return fmt.Errorf("append: destroy %s: %w", id, ErrValueKeyNotFound)
			case isDestroyed(v):
				return fmt.Errorf("append: destroy %s: %w", id, ErrValueDestroyed)
			}
		}
		for _, k := range e.NewValueKeys {
			if created[k.id] || destroyed[k.id] || stored(lookup, batch, k.id) != nil {
				return fmt.Errorf("append: value key %s already exists", k.id)
			}
			created[k.id] = true
		}
	}
	return nil
}

func stored(lookup func(ValueKeyID) []byte, batch map[ValueKeyID][]byte, id ValueKeyID) []byte {
	if v, ok := batch[id]; ok {
		return v
	}
	return lookup(id)
}

// destroyedTombstone replaces a destroyed value key, so that "destroyed"
// can be told apart from "never existed". A wrapped key is never one byte.
var destroyedTombstone = []byte{0}

func isDestroyed(v []byte) bool {
	return len(v) == len(destroyedTombstone) && v[0] == destroyedTombstone[0]
}

// write appends r's events to tx. Any error here is a storage error that
// aborts the whole transaction.
func (w *writer) write(tx *bolt.Tx, st *writeState, b txBuckets, r *request) error {
	r.records = make([]Record, 0, len(r.events))
	for _, e := range r.events {
		seq := st.size + 1
		if cur := st.ring.data[st.ring.current]; seq-cur.first >= w.l.opts.MaxEventsPerKey {
			nr, err := st.ring.withNewDataKey(tx, seq, w.l.opts.Now())
			if err != nil {
				return fmt.Errorf("rotate data key: %w", err)
			}
			st.ring = nr
		}
		h, env := w.envelope(st, seq, e)
		st.written += len(env)
		if err := b.events.Put(u64key(seq), env); err != nil {
			return fmt.Errorf("store event %d: %w", seq, err)
		}
		if err := w.l.indexEvent(b.index, seq, e.Type); err != nil {
			return err
		}
		leaf := tlog.RecordHash(env)
		if err := appendHashes(b.hashes, int64(seq-1), leaf); err != nil {
			return err
		}
		for _, k := range e.NewValueKeys {
			if err := b.valueKeys.Put(k.id[:], wrapValueKey(st.ring, k)); err != nil {
				return fmt.Errorf("store value key: %w", err)
			}
		}
		for _, id := range e.DestroyValueKeys {
			if err := b.valueKeys.Put(id[:], destroyedTombstone); err != nil {
				return fmt.Errorf("destroy value key: %w", err)
			}
		}
		st.size = seq
		r.records = append(r.records, Record{Header: h, Payload: e.Payload, Leaf: leaf})
	}
	return nil
}

// envelope stamps and seals e as event seq.
func (w *writer) envelope(st *writeState, seq uint64, e Event) (Header, []byte) {
	h := Header{Seq: seq, Type: e.Type, Schema: e.Schema, KeyID: st.ring.current, Public: e.Public}
	h.Time, h.ID = w.stamp(st)
	hdr := appendHeader(make([]byte, 0, fixedHeaderLen+len(e.Type)+2+len(e.Public)), &h)
	env := make([]byte, 0, len(hdr)+len(e.Payload)+seal.Overhead)
	return h, st.ring.data[h.KeyID].aead.Seal(append(env, hdr...), e.Payload, hdr)
}

func wrapValueKey(r *ring, k *ValueKey) []byte {
	return r.kek.Seal(nil, k.raw, aadFor(aadValueKey, r.logID, k.id[:]))
}

// stamp returns the time and ULID of the next event. Time never goes
// backwards in the log, even if the clock does, so "as of an instant"
// is well defined; ULIDs strictly increase.
func (w *writer) stamp(st *writeState) (time.Time, ulid.ULID) {
	t := w.l.opts.Now().UTC()
	if t.Before(st.lastTime) {
		t = st.lastTime
	}
	id, err := ulid.New(ulid.Timestamp(t), w.entropy)
	if err != nil || id.Compare(st.lastID) <= 0 {
		id = nextULID(st.lastID)
	}
	st.lastTime, st.lastID = t, id
	return t, id
}

// nextULID returns id+1 as a 128-bit big-endian integer.
func nextULID(id ulid.ULID) ulid.ULID {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			break
		}
	}
	return id
}

// commit makes batch durable: through the journal, or straight into bbolt
// when the journal cannot take it.
func (w *writer) commit(batch []*request) {
	if len(batch) == 0 {
		return
	}
	if w.l.replicated() {
		cp := false
		for _, r := range batch {
			cp = cp || r.checkpoint
		}
		w.commitReplicated(batch, cp)
		return
	}
	if w.l.j == nil || w.st.ring == nil || w.rotates(batch) {
		w.commitDirect(batch)
		return
	}
	w.commitJournal(batch)
}

// rotates reports whether batch takes the current data key past its
// limit, so that committing it writes a new key into the key ring.
func (w *writer) rotates(batch []*request) bool {
	n := uint64(0)
	for _, r := range batch {
		n += uint64(len(r.events))
	}
	cur := w.st.ring.data[w.st.ring.current]
	return w.st.size+n-cur.first >= w.l.opts.MaxEventsPerKey
}

// built is a batch sealed and hashed, not yet durable.
type built struct {
	first    uint64
	evs      []journalEvent
	envs     [][]byte
	hashBase int64
	hashes   []tlog.Hash
	keys     map[ValueKeyID][]byte
	keyOps   []tailKey
}

// ReadHashes reads stored hashes from the batch, then from the log.
func (b *built) reader(s *snap) tlog.HashReaderFunc {
	return func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, idx := range indexes {
			if j := idx - b.hashBase; j >= 0 && j < int64(len(b.hashes)) {
				out[i] = b.hashes[j]
				continue
			}
			h, err := s.ReadHashes([]int64{idx})
			if err != nil {
				return nil, err
			}
			out[i] = h[0]
		}
		return out, nil
	}
}

// commitJournal seals batch, writes it to the journal with one
// fdatasync, and only then adds it to the tail and answers its callers.
// If the journal is full it waits for the flusher to empty it first.
func (w *writer) commitJournal(batch []*request) {
	st := w.st
	s := w.l.takeTail()
	tx, err := w.l.db.Begin(false)
	if err != nil {
		w.fail(batch, err)
		return
	}
	defer tx.Rollback()
	s.tx = tx
	b := &built{first: st.size + 1, hashBase: s.hashBase + int64(len(s.hashes)), keys: map[ValueKeyID][]byte{}}
	for _, r := range batch {
		if r.err = w.check(&st, s.valueKey, b.keys, r); r.err != nil {
			continue
		}
		if err := w.build(&st, &s, b, r); err != nil {
			w.fail(batch, err)
			return
		}
	}
	// The read transaction must end before anything below commits to
	// bbolt (a full journal is emptied first; a checkpoint may be due):
	// a commit that grows the file remaps it, and bbolt's remap waits
	// for every read transaction to end, this one included.
	tx.Rollback()
	start := time.Now()
	if len(b.evs) > 0 {
		err = w.persist(b, st.size)
	}
	if err != nil {
		w.fail(batch, err)
		return
	}
	w.observe(batch, len(b.evs), time.Since(start))
	w.l.appended(nil)
	for _, r := range batch {
		spendAll(r.events)
	}
	w.stats.commits.Add(1)
	w.stats.events.Add(st.size - w.st.size)
	w.l.tailMu.Lock()
	t := w.l.tail
	if t.size() == b.first-1 {
		t.envs = append(t.envs, b.envs...)
		t.hashes = append(t.hashes, b.hashes...)
		for _, k := range b.keyOps {
			t.keys[k.id] = k.val
		}
		t.keyOps = append(t.keyOps, b.keyOps...)
	} // else persist stored it in bbolt and moved the tail past it
	n := len(t.envs)
	w.l.tailMu.Unlock()
	w.publish(st)
	if st.size-w.l.f.cp.size.Load() >= w.l.opts.CheckpointEvery {
		// Signed in step, as a bbolt commit would have: a checkpoint at
		// least every CheckpointEvery events, there when Append returns.
		w.l.f.flush(false)
	} else {
		w.l.f.poke(n)
	}
	for _, r := range batch {
		close(r.done)
	}
}

// build seals and hashes r's events into b.
func (w *writer) build(st *writeState, s *snap, b *built, r *request) error {
	r.records = make([]Record, 0, len(r.events))
	for _, e := range r.events {
		seq := st.size + 1
		h, env := w.envelope(st, seq, e)
		leaf := tlog.RecordHash(env)
		hs, err := tlog.StoredHashesForRecordHash(int64(seq-1), leaf, b.reader(s))
		if err != nil {
			return fmt.Errorf("tree hashes for seq %d: %w", seq, err)
		}
		b.hashes = append(b.hashes, hs...)
		je := journalEvent{env: env, destroyed: e.DestroyValueKeys}
		for _, k := range e.NewValueKeys {
			wrapped := wrapValueKey(st.ring, k)
			je.newKeys = append(je.newKeys, keyPut{id: k.id, wrapped: wrapped})
			b.keys[k.id] = wrapped
			b.keyOps = append(b.keyOps, tailKey{seq: seq, id: k.id, val: wrapped})
		}
		for _, id := range e.DestroyValueKeys {
			b.keys[id] = destroyedTombstone
			b.keyOps = append(b.keyOps, tailKey{seq: seq, id: id, val: destroyedTombstone})
		}
		b.evs = append(b.evs, je)
		b.envs = append(b.envs, env)
		st.size = seq
		r.records = append(r.records, Record{Header: h, Payload: e.Payload, Leaf: leaf})
	}
	return nil
}

// persist makes b durable: one record in the journal, after emptying the
// journal into bbolt if the record does not fit in what is left of it,
// or, for a record bigger than the whole journal, a bbolt commit.
func (w *writer) persist(b *built, size uint64) error {
	j := w.l.j
	w.jbuf = encodeRecord(w.jbuf[:0], b.first, b.evs)
	defer func() {
		if cap(w.jbuf) > 1<<20 {
			w.jbuf = nil
		}
	}()
	if j.fits(len(w.jbuf)) {
		return j.write(w.jbuf)
	}
	w.l.flushMu.Lock()
	defer w.l.flushMu.Unlock()
	if err := w.l.f.flushLocked(false); err != nil {
		return err
	}
	// The tail is empty now (only this goroutine adds to it), so every
	// record in the journal is in bbolt.
	j.rewind()
	if len(w.jbuf) <= j.capacity() {
		return j.write(w.jbuf)
	}
	err := w.l.db.Update(func(tx *bolt.Tx) error {
		if _, err := w.l.storeEvents(tx, b.first-1, b.envs, b.hashes, b.keyOps); err != nil {
			return err
		}
		return w.l.f.maybeCheckpoint(tx, size, false)
	})
	if err != nil {
		err = fmt.Errorf("commit event log: %w", err)
	}
	w.l.wroteFile(err)
	if err != nil {
		return err
	}
	w.l.tailMu.Lock()
	w.l.tail = newTail(size)
	w.l.tailMu.Unlock()
	return nil
}

// fail answers every request of batch with err; nothing was written.
func (w *writer) fail(batch []*request, err error) {
	w.stats.failures.Add(1)
	w.l.opts.Observer.Failed()
	w.l.appended(fmt.Errorf("commit event log: %w", err))
	for _, r := range batch {
		if r.err == nil {
			r.err = fmt.Errorf("commit event log: %w", err)
		}
		r.records = nil
		spendAll(r.events)
		close(r.done)
	}
}
