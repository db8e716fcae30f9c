package eventlog

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Options tune a Log. The zero value is a sensible production setting.
type Options struct {
	// LockTimeout bounds how long Open waits for another process to
	// release the file. Default 2s.
	LockTimeout time.Duration

	// CheckpointInterval and CheckpointEvery set how often a signed
	// checkpoint is written: after this much time or this many events
	// since the last one, whichever comes first. Defaults 1s and 1000.
	CheckpointInterval time.Duration
	CheckpointEvery    uint64

	// MaxBatch bounds the events committed in one transaction. Default 8192.
	MaxBatch int

	// MaxPayload bounds one event's plaintext payload. Default 4 MiB.
	MaxPayload int

	// MaxEventsPerKey is how many events one data key seals before the log
	// rotates to a new one by itself, keeping far below the 2^32 messages
	// AES-GCM with random nonces allows. Default 2^28.
	MaxEventsPerKey uint64

	// JournalSize is the size of the journal file beside the log, where
	// appends become durable with one fdatasync before the flusher moves
	// them into the bbolt file. Default DefaultJournalSize; at least 64
	// KiB; negative turns the journal off, so that every append is a
	// bbolt commit (two fdatasyncs).
	JournalSize int64

	// FlushDelay is how long events may stay in the journal alone before
	// they are moved into the bbolt file, and FlushEvents how many may
	// wait at most. Defaults 20ms and 4096.
	FlushDelay  time.Duration
	FlushEvents int

	// IndexTypes are event types ScanBack finds without reading the
	// events between them: rare types looked up by the newest first
	// (custody's records, read while sealed). Every appender of the file
	// keeps the index the file names, so only the opener that decides it
	// (Nexus) sets this; changing it re-indexes the file once, on open.
	IndexTypes []string

	// Observer, if set, hears of every commit, for metrics.
	Observer Observer

	// mmapSize is bbolt's initial mapping (default 1 GiB); tests make
	// it small so that the file outgrows it, and bbolt remaps, early.
	mmapSize int

	// JournalSync makes the journal's writes durable. Default fdatasync;
	// tests inject failures and stalls here.
	JournalSync func(*os.File) error

	// Logger receives warnings (loose file permissions, checkpoint
	// failures). Default slog.Default().
	Logger *slog.Logger

	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time

	// ID, if set (16 bytes), is the identity a new file gets instead of
	// a random one, and the one an existing file must have: the replicas
	// of a cluster derive the same ID, so that their files are one log.
	ID []byte

	// Replicator, if set, makes the log a replica of a replicated log:
	// every write goes through it (see Replicator), the journal is off,
	// and only changes applied with ApplyChange reach the file.
	Replicator Replicator
}

func (o Options) withDefaults() Options {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = time.Second
	}
	if o.CheckpointEvery == 0 {
		o.CheckpointEvery = 1000
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 8192
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 4 << 20
	}
	if o.MaxPayload > MaxEnvelopeLen-fixedHeaderLen-MaxTypeLen-64 {
		o.MaxPayload = MaxEnvelopeLen - fixedHeaderLen - MaxTypeLen - 64
	}
	if o.MaxEventsPerKey == 0 {
		o.MaxEventsPerKey = 1 << 28
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	if o.Replicator != nil {
		// Raft's log is where a replicated change is durable first;
		// each change is one bbolt commit on every replica.
		o.JournalSize = -1
	}
	switch {
	case o.JournalSize == 0:
		o.JournalSize = DefaultJournalSize
	case o.JournalSize > 0 && o.JournalSize < 64<<10:
		o.JournalSize = 64 << 10
	}
	if o.FlushDelay <= 0 {
		o.FlushDelay = 20 * time.Millisecond
	}
	if o.FlushEvents <= 0 {
		o.FlushEvents = 4096
	}
	if o.JournalSync == nil {
		o.JournalSync = fdatasync
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Log is an open event log. Its methods are safe for concurrent use.
type Log struct {
	path string
	db   *bolt.DB
	opts Options
	// indexed are the types bucketTypeIndex holds (nil: none); set by
	// Open, read-only after.
	indexed map[string]bool
	id      []byte
	origin  string
	// readOnly marks a log opened with OpenReadOnly: it has no writer
	// and no flusher (w and f are nil), and its db is read-only.
	readOnly bool

	ring atomic.Pointer[ring] // nil while sealed

	// mu guards size and notify: the committed size and the channel closed
	// (and replaced) after every commit, which wakes subscribers.
	mu     sync.Mutex
	size   uint64
	notify chan struct{}
	// last is the newest event's stamp (kept for a replicated log).
	last lastStamp
	// raftIndex is the last Raft entry a replicated log applied (guarded
	// by flushMu): what tells a replay from a change that does not fit.
	raftIndex uint64

	// mapped counts bytes read or written through bbolt's mmap since the
	// mapping was last released (see releaseMapped).
	mapped atomic.Int64

	// tail holds the events the journal has and bbolt not yet; tailMu
	// guards it (see tail). flushMu is held by whatever writes bbolt.
	tailMu  sync.RWMutex
	tail    *tail
	flushMu sync.Mutex
	j       *journal // nil when the journal is off
	f       *flusher

	w       *writer
	health  health
	closed  chan struct{}
	closeMu sync.RWMutex
	isDone  bool
}

// Open opens the log at path, creating it (mode 0600, in a directory of
// mode 0700) if it does not exist. The log starts sealed. If another
// process holds the file, Open fails with ErrInUse after opts.LockTimeout.
func Open(ctx context.Context, path string, opts Options) (*Log, error) {
	opts = opts.withDefaults()
	if err := prepareDir(filepath.Dir(path), opts.Logger); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout: opts.LockTimeout,
		// The freelist is written with every commit (bbolt's default).
		// Without it bbolt rebuilds it on open by reading every page,
		// which made a restart's resident memory grow by the file's size
		// (434 MiB more for a one-million-event log); commits now come
		// in large batches from the journal's flusher, so the extra page
		// per commit costs little.
		NoFreelistSync:  false,
		FreelistType:    bolt.FreelistMapType,
		InitialMmapSize: cmp.Or(opts.mmapSize, 1<<30),
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open event log %s: %w (no lock within %s)", path, ErrInUse, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	warnLooseMode(path, 0o077, opts.Logger)
	l := &Log{path: path, db: db, opts: opts, notify: make(chan struct{}), closed: make(chan struct{})}
	if err := l.init(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	if err := l.prepareIndex(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open event log %s: %w", path, err)
	}
	if opts.JournalSize > 0 {
		if l.j, err = openJournal(journalPath(path), l.id, opts.JournalSize, opts.JournalSync); err == nil {
			if err = l.replay(l.j); err != nil {
				l.j.close()
			}
		}
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open event log %s: %w", path, err)
		}
	}
	l.tail = newTail(l.size)
	l.w = newWriter(l)
	l.f = newFlusher(l, &l.w.stats)
	go l.w.run()
	return l, nil
}

func prepareDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create event log directory: %w", err)
	}
	warnLooseMode(dir, 0o077, log)
	return nil
}

// warnLooseMode logs when path is accessible to group or others. It warns
// rather than fails: volume mounts (a Kubernetes emptyDir is 0777) often
// dictate directory modes, and the log's content is encrypted anyway.
func warnLooseMode(path string, mask os.FileMode, log *slog.Logger) {
	fi, err := os.Stat(path)
	if err == nil && fi.Mode().Perm()&mask != 0 {
		log.Warn("event log path is accessible to other users", "path", path, "mode", fi.Mode().Perm().String())
	}
}

// init creates the buckets and the log identity on first open, checks the
// format version, and reads the committed size.
func (l *Log) init(ctx context.Context) error {
	err := l.db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if have := meta.Get(metaID); have != nil && l.opts.ID != nil && !bytes.Equal(have, l.opts.ID) {
			return fmt.Errorf("the file is log %x, not %x (the cluster's): it belongs to another log", have, l.opts.ID)
		}
		if meta.Get(metaID) == nil {
			id := make([]byte, 16)
			rand.Read(id)
			if l.opts.ID != nil {
				id = bytes.Clone(l.opts.ID)
			}
			if err := meta.Put(metaID, id); err != nil {
				return err
			}
			if err := meta.Put(metaFormat, u32key(formatVersion)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return l.db.View(func(tx *bolt.Tx) error {
		id, err := readIdentity(tx)
		if err != nil {
			return err
		}
		l.id = id
		l.origin = originFor(l.id)
		l.size = lastSeq(tx)
		if v := tx.Bucket(bucketMeta).Get(metaRaftIndex); len(v) == 8 {
			l.raftIndex = beUint64(v)
		}
		return nil
	})
}

// originFor names a log in its checkpoints and as the checkpoint key name.
func originFor(id []byte) string { return "spike.ist/eventlog/" + hex.EncodeToString(id) }

// Path returns the file the log lives in.
func (l *Log) Path() string { return l.path }

// Origin returns the log's name as it appears in its checkpoints.
func (l *Log) Origin() string { return l.origin }

// Size returns the number of committed events, which is also the sequence
// number of the last one.
func (l *Log) Size() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Bytes returns how many bytes the log uses: bbolt's high-water mark,
// which moves with every commit, and the events only the journal holds
// yet. The file itself is grown ahead of it, in steps of up to 16 MiB, so
// it can be larger.
func (l *Log) Bytes(ctx context.Context) (int64, error) {
	var n int64
	err := l.view(ctx, func(s *snap) error {
		n = s.tx.Size()
		for _, env := range s.envs {
			n += int64(len(env))
		}
		return nil
	})
	return n, err
}

// Sealed reports whether the log is locked.
func (l *Log) Sealed() bool { return l.ring.Load() == nil }

// VerifierKey returns the note verifier key for the log's checkpoints, as
// recorded in the file; "" if the log has never been unlocked. An auditor
// should obtain it once from a trusted source and verify against that copy,
// not re-read it from a file they are checking.
func (l *Log) VerifierKey(ctx context.Context) (string, error) {
	var v string
	err := l.viewDB(ctx, func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get(metaVerifier))
		return nil
	})
	return v, err
}

// Initialized reports whether the log has ever been unlocked, that is,
// whether a root key already seals it.
func (l *Log) Initialized(ctx context.Context) (bool, error) {
	var ok bool
	err := l.viewDB(ctx, func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketMeta).Get(metaKeyCheck) != nil
		return nil
	})
	return ok, err
}

// Unlock loads the key ring with the 32-byte root key. On a log that has
// never been unlocked it creates the key ring. A wrong key returns
// ErrWrongRootKey and changes nothing. The caller keeps ownership of
// rootKey and should zero it.
func (l *Log) Unlock(ctx context.Context, rootKey []byte) error {
	if len(rootKey) != RootKeySize {
		return fmt.Errorf("unlock: root key is %d bytes, want %d", len(rootKey), RootKeySize)
	}
	if l.readOnly {
		return l.unlockReadOnly(ctx, rootKey)
	}
	return l.w.do(ctx, func(tx *bolt.Tx, st *writeState) error {
		meta := tx.Bucket(bucketMeta)
		var (
			r   *ring
			err error
		)
		if meta.Get(metaKeyCheck) == nil {
			r, err = initRing(tx, rootKey, l.id, l.origin, st.size+1, l.opts.Now())
		} else {
			r, err = loadRing(tx, rootKey, l.id, l.origin)
		}
		if err != nil {
			return err
		}
		st.ring = r
		return nil
	})
}

// Lock drops the key ring and zeroes what Go allows. Appends and
// decrypting reads fail with ErrSealed until the next Unlock.
func (l *Log) Lock(ctx context.Context) error {
	if l.readOnly {
		if r := l.ring.Swap(nil); r != nil {
			r.signer.zero()
		}
		return nil
	}
	return l.w.do(ctx, func(tx *bolt.Tx, st *writeState) error {
		st.ring = nil
		return nil
	})
}

// RotateDataKey starts a new data-key epoch: events appended afterwards
// are sealed under a fresh random key. Earlier events keep their key.
func (l *Log) RotateDataKey(ctx context.Context) error {
	if l.readOnly {
		return ErrReadOnly
	}
	return l.w.do(ctx, func(tx *bolt.Tx, st *writeState) error {
		if st.ring == nil {
			return ErrSealed
		}
		r, err := st.ring.withNewDataKey(tx, st.size+1, l.opts.Now())
		if err != nil {
			return err
		}
		st.ring = r
		return nil
	})
}

// Rewrap rewraps every stored key under a key-encryption key derived from
// newRootKey, in one transaction. Afterwards only newRootKey unlocks the
// log; the checkpoint signing key, and so the verifier key, stay the same.
func (l *Log) Rewrap(ctx context.Context, newRootKey []byte) error {
	if len(newRootKey) != RootKeySize {
		return fmt.Errorf("rewrap: root key is %d bytes, want %d", len(newRootKey), RootKeySize)
	}
	if l.readOnly {
		return ErrReadOnly
	}
	return l.w.do(ctx, func(tx *bolt.Tx, st *writeState) error {
		if st.ring == nil {
			return ErrSealed
		}
		r, err := st.ring.rewrapped(tx, newRootKey)
		if err != nil {
			return err
		}
		st.ring = r
		return nil
	})
}

// Close writes a final checkpoint if the log is unlocked and has events
// since the last one, stops the writer, and closes the file.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.isDone {
		l.closeMu.Unlock()
		return nil
	}
	l.isDone = true
	close(l.closed)
	l.closeMu.Unlock()
	if l.readOnly {
		return l.closeReadOnly()
	}
	<-l.w.stopped
	if r := l.ring.Swap(nil); r != nil {
		r.signer.zero()
	}
	if l.j != nil {
		l.j.close()
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("close event log: %w", err)
	}
	return nil
}

// viewDB runs f in a bbolt read transaction, for what only bbolt holds:
// metadata, checkpoints and file size. Events go through view.
func (l *Log) viewDB(ctx context.Context, f func(tx *bolt.Tx) error) error {
	return l.view(ctx, func(s *snap) error { return f(s.tx) })
}

// committed publishes a new committed size and ring and wakes subscribers.
func (l *Log) committed(size uint64) {
	l.mu.Lock()
	grew := size != l.size
	l.size = size
	ch := l.notify
	if grew {
		l.notify = make(chan struct{})
	}
	l.mu.Unlock()
	if grew {
		close(ch)
	}
}

// watch returns the committed size and a channel closed when it grows.
func (l *Log) watch() (uint64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size, l.notify
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// releaseEvery is how many bytes of the file may be touched through the
// mmap before its pages are released from the resident set again.
const releaseEvery = 16 << 20

// touched records that n bytes of the file were read or written through
// the mapping, and releases the mapping once enough have accumulated, so
// resident memory stays flat however large the log grows.
func (l *Log) touched(n int) {
	if l.mapped.Add(int64(n)) < releaseEvery {
		return
	}
	l.mapped.Store(0)
	releaseMapped(l.db)
}

// readIdentity checks the file's format version and returns a copy of
// the log's identity, from the meta bucket.
func readIdentity(tx *bolt.Tx) ([]byte, error) {
	meta := tx.Bucket(bucketMeta)
	f := meta.Get(metaFormat)
	if len(f) != 4 {
		return nil, fmt.Errorf("format version: %w", ErrMalformed)
	}
	if v := binary.BigEndian.Uint32(f); v > formatVersion {
		return nil, fmt.Errorf("file format version %d is newer than this build understands (%d); upgrade spike", v, formatVersion)
	}
	id := meta.Get(metaID)
	if len(id) != 16 {
		return nil, fmt.Errorf("log identity: %w", ErrMalformed)
	}
	return slices.Clone(id), nil
}
