package eventlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// BackupInfo describes a copy of the log written by Backup: what an
// installer checks the copy against.
type BackupInfo struct {
	// Size is the number of events the copy holds.
	Size uint64
	// Checkpoint is the signed checkpoint note at exactly Size.
	Checkpoint []byte
	// Bytes is the length of the copy.
	Bytes int64
	// SHA256 is the digest of the copy's bytes.
	SHA256 [32]byte
}

// Backup writes a consistent copy of the log's file to w while the log
// keeps serving appends. Every event acknowledged before the call is in
// the copy, and the copy ends exactly at a signed checkpoint, which info
// returns. The log must be unlocked: a sealed log cannot sign the
// checkpoint the copy must end at.
func (l *Log) Backup(ctx context.Context, w io.Writer) (info BackupInfo, err error) {
	c, err := l.StartBackup(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	defer c.Close()
	return c.WriteTo(ctx, w)
}

// A BackupCopy is a copy of the log begun by StartBackup and not yet
// written: what it will hold is fixed, so a caller can describe it (to
// put a header before it) before writing it. It holds a read
// transaction until Close, which must be called.
type BackupCopy struct {
	tx   *bolt.Tx
	info BackupInfo
	vkey string
}

// StartBackup begins a copy as Backup does, and returns it unwritten.
func (l *Log) StartBackup(ctx context.Context) (*BackupCopy, error) {
	if l.readOnly {
		return nil, fmt.Errorf("back up event log: %w: it cannot sign the checkpoint a copy ends at", ErrReadOnly)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("back up event log: %w", err)
	}
	select {
	case <-l.closed:
		return nil, fmt.Errorf("back up event log: %w", ErrClosed)
	default:
	}
	backupTx := l.backupTx
	if l.replicated() {
		backupTx = func() (*bolt.Tx, error) { return l.backupTxReplicated(ctx) }
	}
	tx, err := backupTx()
	if err != nil {
		return nil, fmt.Errorf("back up event log: %w", err)
	}
	c := &BackupCopy{tx: tx, vkey: string(tx.Bucket(bucketMeta).Get(metaVerifier))}
	c.info.Size = lastSeq(tx)
	c.info.Checkpoint = bytes.Clone(tx.Bucket(bucketCheckpoints).Get(u64key(c.info.Size)))
	c.info.Bytes = tx.Size()
	if c.info.Checkpoint == nil {
		// flushLocked(true) signs at the end of what it wrote, and tx
		// began before anything else could commit. Only a checkpoint
		// whose transaction failed after signing leaves none here.
		tx.Rollback()
		return nil, fmt.Errorf("back up event log: no checkpoint at its end, event %d", c.info.Size)
	}
	return c, nil
}

// Info describes the copy: its size, checkpoint and length (Bytes, what
// WriteTo will write); SHA256 is known only once it is written.
func (c *BackupCopy) Info() BackupInfo {
	i := c.info
	i.Checkpoint = bytes.Clone(i.Checkpoint)
	return i
}

// VerifierKey returns the verifier key the copied log records: the key
// its checkpoints verify with if the copy is what it says.
func (c *BackupCopy) VerifierKey() string { return c.vkey }

// Close ends the copy's read transaction. It may be called more than
// once.
func (c *BackupCopy) Close() {
	if c.tx != nil {
		c.tx.Rollback()
		c.tx = nil
	}
}

// WriteTo writes the copy to w, once, and returns its description with
// its digest.
func (c *BackupCopy) WriteTo(ctx context.Context, w io.Writer) (info BackupInfo, err error) {
	if c.tx == nil {
		return BackupInfo{}, errors.New("back up event log: the copy is closed")
	}
	defer c.Close()
	info = c.Info()
	// The copy runs without flushMu: appends go on into the journal and
	// the flusher keeps committing. The read transaction pins the pages
	// it sees, so pages freed meanwhile are not reused until it ends and
	// the file may grow by what is committed during the copy. The one
	// thing it blocks is a remap: a commit that grows the file past the
	// mapping (1 GiB by default, see InitialMmapSize in Open) waits until
	// the copy ends. Through the journal, appends stall then only once
	// the journal is full too; without it (JournalSize < 0) every append
	// is such a commit and waits.
	h := sha256.New()
	n, err := c.tx.WriteTo(io.MultiWriter(ctxWriter{ctx, w}, h))
	if cerr := ctx.Err(); cerr != nil {
		// bbolt flattens the writer's error into text.
		err = cerr
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("back up event log: copy: %w", err)
	}
	if n != info.Bytes {
		return BackupInfo{}, fmt.Errorf("back up event log: copied %d bytes, the transaction is %d", n, info.Bytes)
	}
	h.Sum(info.SHA256[:0])
	return info, nil
}

// backupTx makes everything acknowledged so far durable in bbolt with a
// signed checkpoint at its end, and begins the read transaction the copy
// is taken in before anything else can commit.
func (l *Log) backupTx() (*bolt.Tx, error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	// Key operations publish the ring under flushMu, so it cannot be
	// dropped between this test and the checkpoint below.
	if l.ring.Load() == nil {
		return nil, fmt.Errorf("%w: a sealed log cannot sign the checkpoint a copy ends at", ErrSealed)
	}
	if err := l.f.flushLocked(true); err != nil {
		return nil, err
	}
	tx, err := l.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin read transaction: %w", err)
	}
	if lastSeq(tx) == 0 {
		tx.Rollback()
		return nil, errors.New("the log is empty: no checkpoint to end a copy at")
	}
	return tx, nil
}

// backupTxReplicated is backupTx for a replicated log, whose file only
// ApplyChange writes and whose checkpoints are replicated like events:
// the writer commits a checkpoint of everything so far through the
// Replicator and, once it is applied here and before it builds the next
// change, begins the read transaction. Only the leader's writer can
// commit, so nothing else changes the file in between there; on a
// follower the commit fails.
func (l *Log) backupTxReplicated(ctx context.Context) (*bolt.Tx, error) {
	if l.ring.Load() == nil {
		return nil, fmt.Errorf("%w: a sealed log cannot sign the checkpoint a copy ends at", ErrSealed)
	}
	var (
		tx   *bolt.Tx
		berr error
	)
	r := &request{checkpoint: true, done: make(chan struct{}), then: func() { tx, berr = l.db.Begin(false) }}
	if err := l.w.submit(ctx, r); err != nil {
		return nil, err
	}
	<-r.done
	switch {
	case r.err != nil:
		if tx != nil {
			tx.Rollback()
		}
		return nil, r.err
	case berr != nil:
		return nil, fmt.Errorf("begin read transaction: %w", berr)
	case tx == nil:
		return nil, errors.New("the writer began no read transaction")
	}
	if lastSeq(tx) == 0 {
		tx.Rollback()
		return nil, errors.New("the log is empty: no checkpoint to end a copy at")
	}
	return tx, nil
}

// ctxWriter stops a copy between writes once ctx is done: bbolt's
// WriteTo takes no context.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// InstallBackup writes a copy made by Backup, read from r, to path, where
// no log may exist yet (neither the file nor its journal). The copy is
// written to a temporary file beside path, made durable, and verified
// with VerifyFile against vkey; it must end exactly at want.Checkpoint,
// and match want.Size, want.Bytes and want.SHA256 where those are set
// (non-zero). Only then is it moved to path. On any failure nothing is
// left behind at path or beside it.
//
// A copy of a cluster replica's log records the last Raft entry that
// replica applied. The installed log starts a new Raft history (an
// installer never keeps Raft state beside it), whose entries are
// numbered from 1 again, so that record is removed: kept, it would make
// the log skip every new entry up to it as applied before, and drop
// acknowledged writes. The record is outside the tree the checkpoints
// sign, so the copy still verifies.
//
// The copy's type index is dropped too: it is outside what the
// checkpoints sign, so an edited one (hiding, say, a custody record from
// ScanBack) would verify all the same. The next Open that asks for an
// index rebuilds it from the verified events.
func InstallBackup(ctx context.Context, r io.Reader, path, vkey string, want BackupInfo) (rep Report, err error) {
	if len(want.Checkpoint) == 0 {
		return Report{}, fmt.Errorf("install backup %s: the expected checkpoint is missing", path)
	}
	cp, err := OpenCheckpoint(want.Checkpoint, vkey)
	if err != nil {
		return Report{}, fmt.Errorf("install backup %s: expected checkpoint: %w", path, err)
	}
	if want.Size != 0 && want.Size != cp.Size {
		return Report{}, fmt.Errorf("install backup %s: expected size %d, but the expected checkpoint is at %d", path, want.Size, cp.Size)
	}
	for _, p := range []string{path, journalPath(path)} {
		if _, err := os.Lstat(p); err == nil {
			return Report{}, fmt.Errorf("install backup: %s exists; install only into an empty place", p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return Report{}, fmt.Errorf("install backup: %w", err)
		}
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Report{}, fmt.Errorf("install backup: create directory: %w", err)
	}
	tmp, n, sum, err := writeTemp(ctx, dir, filepath.Base(path), r)
	if err != nil {
		return Report{}, fmt.Errorf("install backup %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if err := checkCopy(ctx, tmp, vkey, want, cp, n, sum, &rep); err != nil {
		return Report{}, fmt.Errorf("install backup %s: %w", path, err)
	}
	if err := forgetLocalState(tmp); err != nil {
		return Report{}, fmt.Errorf("install backup %s: %w", path, err)
	}
	// A hard link, unlike a rename, never replaces a file that appeared
	// at path after the check above.
	if err := os.Link(tmp, path); err != nil {
		return Report{}, fmt.Errorf("install backup: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		os.Remove(path)
		return Report{}, fmt.Errorf("install backup: remove temporary file: %w", err)
	}
	if err := syncDir(path); err != nil {
		return Report{}, fmt.Errorf("install backup %s: sync directory: %w", path, err)
	}
	return rep, nil
}

// writeTemp copies r into a new file (mode 0600) in dir and makes it
// durable, returning its name, length and SHA-256. On failure it removes
// the file.
func writeTemp(ctx context.Context, dir, base string, r io.Reader) (name string, n int64, sum [32]byte, err error) {
	f, err := os.CreateTemp(dir, "."+base+".install-*")
	if err != nil {
		return "", 0, sum, fmt.Errorf("create temporary file: %w", err)
	}
	name = f.Name()
	// The failure returns below clear name: remove the file by its own.
	tmp := name
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	if n, err = io.Copy(io.MultiWriter(ctxWriter{ctx, f}, h), r); err != nil {
		return "", 0, sum, fmt.Errorf("write copy: %w", err)
	}
	if err = f.Sync(); err != nil {
		return "", 0, sum, fmt.Errorf("sync copy: %w", err)
	}
	if err = f.Close(); err != nil {
		return "", 0, sum, fmt.Errorf("close copy: %w", err)
	}
	h.Sum(sum[:0])
	return name, n, sum, nil
}

// checkCopy checks the copy at tmp against what the installer expects:
// its length and digest, then its contents, which must end exactly at the
// expected checkpoint.
func checkCopy(ctx context.Context, tmp, vkey string, want BackupInfo, cp Checkpoint, n int64, sum [32]byte, rep *Report) error {
	if want.Bytes != 0 && n != want.Bytes {
		return fmt.Errorf("the copy is %d bytes, expected %d (truncated?)", n, want.Bytes)
	}
	if want.SHA256 != [32]byte{} && sum != want.SHA256 {
		return errors.New("checksum mismatch: the copy's SHA-256 is not the expected one")
	}
	got, err := VerifyFile(ctx, tmp, vkey, VerifyOptions{})
	if err != nil {
		return fmt.Errorf("damaged: %w", err)
	}
	// The checkpoints verify with vkey; the key the copy records must
	// be vkey too, since it is the one Unlock proves against the root
	// key. So a copy that installs here unlocks only under the root key
	// whose signing key made its checkpoints.
	if rec, err := recordedVerifierKey(tmp); err != nil {
		return err
	} else if rec != vkey {
		return errors.New("the copy records another verifier key than the one its checkpoints were verified with")
	}
	if got.Size != cp.Size {
		return fmt.Errorf("the copy ends at %d events, its checkpoint says %d", got.Size, cp.Size)
	}
	if !bytes.Equal(got.Latest.Note, want.Checkpoint) {
		return fmt.Errorf("the copy's newest checkpoint (at %d events) is not the expected one", got.Latest.Size)
	}
	*rep = got
	return nil
}

// recordedVerifierKey reads the verifier key a log file records.
func recordedVerifierKey(path string) (vkey string, err error) {
	defer faultsAsErrors(&err)()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		return "", fmt.Errorf("open copy: %w", err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		vkey = string(tx.Bucket(bucketMeta).Get(metaVerifier))
		return nil
	})
	return vkey, err
}

// forgetLocalState removes from the log file at path, durably, what the
// checkpoints do not sign and the copy must not carry over (see
// InstallBackup): the record of the last Raft entry applied, and the
// type index with the list of types it holds.
func forgetLocalState(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return fmt.Errorf("open copy: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			return errors.New("no metadata bucket")
		}
		for _, k := range [][]byte{metaRaftIndex, metaIndexed} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketTypeIndex) == nil {
			return nil
		}
		if err := tx.DeleteBucket(bucketTypeIndex); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketTypeIndex)
		return err
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("forget the copy's Raft index and type index: %w", err)
	}
	return nil
}
