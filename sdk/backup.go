package sdk

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// BackupResult describes a backup written by [Client.Backup].
type BackupResult struct {
	// Events is the number of events the copy holds; it ends exactly
	// at Checkpoint, the signed checkpoint note at that size.
	Events     uint64
	Checkpoint string
	// CopyBytes is the length of the log's copy, FileBytes that of the
	// whole file (header and footer included).
	CopyBytes, FileBytes int64
	// SHA256 is the copy's digest, checked against the file's footer.
	SHA256 [sha256.Size]byte
	// VerifierKey is the key the copied log records for its
	// checkpoints (see api.BackupHeader: a convenience, not an anchor).
	VerifierKey string
	// Created is when Nexus began the copy; NexusVersion which Nexus
	// made it.
	Created      time.Time
	NexusVersion string
}

// Backup has Nexus stream a consistent copy of its event log, taken
// while it serves (the leader's, on a cluster), and writes the backup
// file (see api.BackupHeader) to w as it arrives. It checks the file
// as it goes, and fails unless the whole of it arrived and its digest
// matched: a caller writing to a file must discard it if Backup fails.
// Only the pilot superuser may take a backup, and each is recorded in
// the log (system.backed_up). Nexus takes one at a time: a second
// meanwhile is refused as busy (429, errors.Is(err, api.CodeBusy)).
func (c *Client) Backup(ctx context.Context, w io.Writer) (*BackupResult, error) {
	op := api.OpOperatorBackup
	var body io.ReadCloser
	err := c.retry(ctx, op, func(ctx context.Context) error {
		var err error
		body, err = c.json.Open(ctx, transport.Call{BaseURL: c.nexus, Path: op.Path(), Action: string(op.Action()), Request: api.BackupRequest{}})
		return err
	})
	if err != nil {
		return nil, callError(op, "", err)
	}
	defer body.Close()
	cw := &countingWriter{w: w}
	br, err := api.NewBackupReader(io.TeeReader(body, cw))
	if err != nil {
		return nil, backupError(err)
	}
	if _, err := io.Copy(io.Discard, br); err != nil {
		return nil, backupError(err)
	}
	h := br.Header()
	sum, _ := br.SHA256()
	return &BackupResult{Events: h.Events, Checkpoint: h.Checkpoint, CopyBytes: h.Bytes, FileBytes: cw.n, SHA256: sum,
		VerifierKey: h.VerifierKey, Created: h.Created, NexusVersion: h.NexusVersion}, nil
}

// backupError is a backup that did not arrive whole: a bad file is a bad
// answer, anything else (the connection broke, w failed) is as it came.
func backupError(err error) *Error {
	if errors.Is(err, api.ErrBadBackup) {
		err = fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	return &Error{Op: api.OpOperatorBackup, Err: err}
}

// countingWriter counts what it passes on.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
