package service

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/buildinfo"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

// A backup streams a consistent copy of the log to the superuser as an
// api backup file. The copy is the event log's own (eventlog.StartBackup):
// a read transaction taken after everything acknowledged is durable and
// signed, copied while the command loop goes on appending beside it. The
// backup is recorded, and the copy begins, before the answer starts, so
// a log that cannot be copied is an error status rather than a broken
// file; a copy that fails later ends the stream without its footer, which
// every reader refuses. On a cluster the handler runs on the leader
// (followers forward every request to it), whose copy ends at a
// checkpoint it commits through Raft for the copy.
//
// One backup runs at a time: each pins the pages it copies, and a second
// would only halve the speed of both.

// backupBuffer is how much of a copy is written to the connection at
// once: the stream flushes every write.
const backupBuffer = 1 << 20

func (s *Service) backup(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpOperatorBackup
	if _, err := decode[api.BackupRequest](r); err != nil {
		return invalidRequest(err).response()
	}
	if resp, ok := s.superuserOnly(ctx, r, op, "back up the log"); !ok {
		return resp
	}
	if !s.backingUp.CompareAndSwap(false, true) {
		return transport.Response{Status: http.StatusTooManyRequests, Body: api.Problem{Err: api.CodeBusy, Reason: api.ReasonBusy,
			Message: "a backup is being taken already: wait for it to end"}}
	}
	// Fail closed: no copy leaves without a record of it. The record goes
	// first (see events.BackedUp), so the copy holds it.
	if resp := s.record(ctx, event(r, &events.BackedUp{Events: s.log.Size()})); resp.Status >= http.StatusBadRequest {
		s.backingUp.Store(false)
		return resp
	}
	c, err := s.log.StartBackup(ctx)
	if err != nil {
		s.backingUp.Store(false)
		if errors.Is(err, eventlog.ErrSealed) || errors.Is(err, eventlog.ErrClosed) {
			return fail(http.StatusServiceUnavailable, api.CodeNotReady)
		}
		// On a cluster the copy's checkpoint commits through Raft: a
		// replica that does not lead (a request forwarded to it as it
		// lost the lead) did nothing, and the caller retries.
		if errors.Is(err, commit.ErrNotLeader) {
			return refuseNotLeader
		}
		s.logger.Error("backup: begin the copy", "err", err)
		return internalError(op)
	}
	info := c.Info()
	h := api.BackupHeader{Events: info.Size, Checkpoint: string(info.Checkpoint), Bytes: info.Bytes, VerifierKey: c.VerifierKey(),
		Created: time.Now().UTC(), NexusVersion: buildinfo.Version()}
	if err := h.Validate(); err != nil {
		c.Close()
		s.backingUp.Store(false)
		s.logger.Error("backup: describe the copy", "err", err)
		return internalError(op)
	}
	return transport.Response{ContentType: api.ContentTypeBackup, Stream: func(ctx context.Context, w io.Writer) error {
		defer s.backingUp.Store(false)
		defer c.Close()
		return s.writeBackup(ctx, w, c, h, r.ID)
	}}
}

// writeBackup writes the backup file: header, copy, footer.
func (s *Service) writeBackup(ctx context.Context, w io.Writer, c *eventlog.BackupCopy, h api.BackupHeader, requestID string) error {
	start := time.Now()
	bw := bufio.NewWriterSize(w, backupBuffer)
	if err := api.WriteBackupHeader(bw, h); err != nil {
		return err
	}
	info, err := c.WriteTo(ctx, bw)
	if err != nil {
		// No footer: the caller's reader refuses what it got.
		s.logger.Error("backup failed", "request_id", requestID, "err", err)
		return err
	}
	if err := api.WriteBackupFooter(bw, info.SHA256); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	s.logger.Info("backup taken", "request_id", requestID, "events", info.Size, "bytes", info.Bytes, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
