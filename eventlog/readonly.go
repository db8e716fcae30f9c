package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"
)

// A log opened with OpenReadOnly is a copy under examination: an
// auditor's backup, read with the root key to replay its history. Nothing
// may change it, not even what Open does as a matter of course (create
// buckets, re-index types, create or replay the journal, sign a last
// checkpoint at Close). So it is opened the way VerifyFile opens a file:
// bbolt read-only (O_RDONLY, a shared lock, no lock file), with no writer
// and no flusher. The journal beside it, if the backup kept one, is read
// the same way, and the events it holds beyond the bbolt file's end are
// kept in memory, where an open log keeps events not yet flushed: every
// reader sees them, and nothing is written.

// ErrReadOnly is returned by operations that would change a log opened
// with OpenReadOnly.
var ErrReadOnly = errors.New("event log is open read-only")

// OpenReadOnly opens the log at path without changing the file, its
// directory or its journal in any way. The file must exist and be an
// event log. Of opts, only LockTimeout and Logger apply. The log starts
// sealed; Unlock loads its keys (never creates them); appends and key
// changes fail with ErrReadOnly. If another process holds the file for
// writing, OpenReadOnly fails with ErrInUse: open a copy.
func OpenReadOnly(ctx context.Context, path string, opts Options) (_ *Log, err error) {
	defer faultsAsErrors(&err)()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open event log %s read-only: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("open event log %s read-only: not a regular file", path)
	}
	db, err := bolt.Open(path, 0, &bolt.Options{ReadOnly: true, Timeout: opts.LockTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open event log %s read-only: %w; open a copy (Nexus holds the live file)", path, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open event log %s read-only: %w", path, err)
	}
	l := &Log{path: path, db: db, opts: opts, readOnly: true, notify: make(chan struct{}), closed: make(chan struct{})}
	err = l.initReadOnly()
	if err == nil {
		err = l.readJournal(journalPath(path))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s read-only: %w", path, err)
	}
	return l, nil
}

// initReadOnly reads what init and prepareIndex read, writing nothing:
// a file without the buckets is not a log, however it came to be.
func (l *Log) initReadOnly() error {
	return l.db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("bucket %q missing: not an event log: %w", b, ErrMalformed)
			}
		}
		id, err := readIdentity(tx)
		if err != nil {
			return err
		}
		l.id = id
		l.origin = originFor(l.id)
		l.size = lastSeq(tx)
		if stored := string(tx.Bucket(bucketMeta).Get(metaIndexed)); stored != "" {
			l.indexed = typeSet(strings.Split(stored, "\n"))
		}
		return nil
	})
}

// readJournal reads the journal at path, if there is one, and keeps the
// events it holds beyond the bbolt file's end in the tail, as replay
// would have written them into the file. A journal that continues the
// log from a later event than the file's end (the file is older than
// its journal) or that belongs to another log is refused: its events
// are not this file's next ones, and nothing here can repair that.
func (l *Log) readJournal(path string) error {
	l.tail = newTail(l.size)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if fi.Size() < journalHeaderLen {
		return fmt.Errorf("journal %s is shorter than its header: %w", path, ErrMalformed)
	}
	j := &journal{f: f, size: fi.Size()}
	if err := j.readHeader(l.id); err != nil {
		return err
	}
	t := l.tail
	err = l.db.View(func(tx *bolt.Tx) error {
		next := l.size + 1
		return j.records(func(first uint64, evs []journalEvent) error {
			last := first + uint64(len(evs)) - 1
			switch {
			case last < next:
				return nil // flushed already, or left from an earlier pass
			case first > next:
				return fmt.Errorf("the journal continues the log from event %d, but %s ends at event %d: "+
					"the file is older than its journal; copy both at once (from a snapshot), or move %s away to read the file alone: %w",
					first, l.path, next-1, path, ErrTampered)
			}
			for _, e := range evs[next-first:] {
				if err := t.addReadOnly(tx, next, e); err != nil {
					return err
				}
				next++
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("read journal: %w", err)
	}
	if n := len(t.envs); n > 0 {
		l.opts.Logger.Info("read-only event log: events read from its journal", "events", n, "size", t.size())
	}
	l.size = t.size()
	return nil
}

// addReadOnly adds event seq, read from the journal, to the tail: its
// envelope, the tree hashes it stores (read from bbolt in tx and from
// the tail) and its value-key changes.
func (t *tail) addReadOnly(tx *bolt.Tx, seq uint64, e journalEvent) error {
	h, _, _, err := decodeEnvelope(e.env)
	if err != nil || h.Seq != seq {
		return &IntegrityError{Seq: seq, Reason: "journal holds an envelope that is not this event"}
	}
	s := snap{tx: tx, t: t, base: t.base, envs: t.envs, hashBase: t.hashBase, hashes: t.hashes}
	hs, err := tlog.StoredHashesForRecordHash(int64(seq-1), tlog.RecordHash(e.env), &s)
	if err != nil {
		return fmt.Errorf("tree hashes for seq %d: %w", seq, err)
	}
	t.envs = append(t.envs, e.env)
	t.hashes = append(t.hashes, hs...)
	for _, k := range e.newKeys {
		t.keys[k.id] = k.wrapped
		t.keyOps = append(t.keyOps, tailKey{seq: seq, id: k.id, val: k.wrapped})
	}
	for _, id := range e.destroyed {
		t.keys[id] = destroyedTombstone
		t.keyOps = append(t.keyOps, tailKey{seq: seq, id: id, val: destroyedTombstone})
	}
	return nil
}

// ReadOnly reports whether the log was opened with OpenReadOnly.
func (l *Log) ReadOnly() bool { return l.readOnly }

// unlockReadOnly loads the key ring of a read-only log: the keys the
// file holds, never new ones.
func (l *Log) unlockReadOnly(ctx context.Context, rootKey []byte) error {
	var r *ring
	err := l.viewDB(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get(metaKeyCheck) == nil {
			return errors.New("unlock: this log was never unlocked, so no root key seals it and it holds no readable events")
		}
		var err error
		r, err = loadRing(tx, rootKey, l.id, l.origin)
		return err
	})
	if err != nil {
		return err
	}
	if old := l.ring.Swap(r); old != nil {
		old.signer.zero()
	}
	return nil
}

// verifyReadOnly verifies a read-only log as VerifyFile verifies a file,
// and then the events only its journal holds: those decode, follow on
// from the file's last event and are hashed into the tree (by
// readJournal, from their own bytes). No checkpoint signs them yet: a
// checkpoint is written only when events move into the file.
func (l *Log) verifyReadOnly(ctx context.Context, vkey string, opts VerifyOptions) (_ Report, err error) {
	defer faultsAsErrors(&err)()
	if err := checkStructure(l.db); err != nil {
		return Report{}, err
	}
	t := l.tail
	rep, err := verifyDB(ctx, l.db, l.ring.Load(), vkey, opts, false)
	if err != nil || len(t.envs) == 0 {
		return rep, err
	}
	var prev Header
	if t.base > 0 {
		err := l.db.View(func(tx *bolt.Tx) error {
			var err error
			prev, _, _, err = decodeEnvelope(tx.Bucket(bucketEvents).Get(u64key(t.base)))
			return err
		})
		if err != nil {
			return Report{}, &IntegrityError{Seq: t.base, Reason: err.Error()}
		}
	}
	for i, env := range t.envs {
		seq := t.base + 1 + uint64(i)
		h, _, _, err := decodeEnvelope(env)
		if err != nil {
			return Report{}, &IntegrityError{Seq: seq, Reason: err.Error()}
		}
		if err := checkHeader(seq, h, prev); err != nil {
			return Report{}, err
		}
		prev = h
	}
	rep.Size = t.size()
	if opts.Progress != nil {
		opts.Progress(rep.Size, rep.Size)
	}
	return rep, nil
}

// checkStructure checks the bbolt file's page structure, turning a panic
// from a structurally corrupt file into an IntegrityError.
func checkStructure(db *bolt.DB) (err error) {
	defer faultsAsErrors(&err)()
	return db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if err := walkBucket(b); err != nil {
				return &IntegrityError{Reason: fmt.Sprintf("file structure: bucket %q: %v", name, err)}
			}
			return nil
		})
	})
}

// walkBucket reads every key and value of b and of the buckets nested in
// it, on the calling goroutine, checking that keys ascend: it touches
// every page a reader could reach, so that a page id pointing outside the
// file faults here, where faultsAsErrors turns it into an error. (bbolt's
// own Tx.Check walks on a goroutine of its own, where a fault would end
// the process.)
func walkBucket(b *bolt.Bucket) error {
	var prev []byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("keys out of order at %x", k)
		}
		prev = k
		if v != nil {
			continue
		}
		nested := b.Bucket(k)
		if nested == nil {
			return fmt.Errorf("key %x: neither a value nor a bucket", k)
		}
		if err := walkBucket(nested); err != nil {
			return fmt.Errorf("bucket %x: %w", k, err)
		}
	}
	return nil
}

// faultsAsErrors makes a damaged file an error rather than a crash on
// the calling goroutine; use it as defer faultsAsErrors(&err)(). bbolt
// maps the file and follows the page ids it finds there without bounds
// checks, so in a damaged file a read can fault (SIGBUS past the end of
// the file, SIGSEGV past the map) or trip one of bbolt's assertions (a
// panic). Until the returned function runs, faults are panics
// (runtime/debug.SetPanicOnFault), and it turns any panic into an
// *IntegrityError in *err.
func faultsAsErrors(err *error) func() {
	old := debug.SetPanicOnFault(true)
	return func() {
		if p := recover(); p != nil {
			*err = &IntegrityError{Reason: fmt.Sprintf("file structure is corrupt: %v", p)}
		}
		debug.SetPanicOnFault(old)
	}
}

// closeReadOnly closes a read-only log: there is no writer to stop and
// nothing to sign.
func (l *Log) closeReadOnly() error {
	if r := l.ring.Swap(nil); r != nil {
		r.signer.zero()
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close event log: %w", err)
	}
	return nil
}
