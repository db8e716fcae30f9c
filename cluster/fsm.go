package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/spikeledger/spike/eventlog"
)

// fsm is the replicated state machine: each committed Raft entry is an
// eventlog change, applied to this replica's own log. Its snapshots are
// consistent copies of the log's file; restoring one brings the log up
// to it (eventlog.Log.Restore).
type fsm struct {
	log    *eventlog.Log
	logger *slog.Logger
	// broken is the first change this replica failed to apply: it has
	// stopped following the group and says so until it restarts.
	broken atomic.Pointer[error]
}

var _ raft.FSM = (*fsm)(nil)

// Apply applies one committed change. Its error, returned as the
// entry's response, fails the leader's Replicate; on a follower it
// marks the replica broken, since a later change cannot apply over a
// missing one.
func (f *fsm) Apply(entry *raft.Log) any {
	if entry.Type != raft.LogCommand {
		return nil
	}
	if p := f.broken.Load(); p != nil {
		return *p
	}
	if err := f.log.ApplyChange(entry.Index, entry.Data); err != nil {
		if errors.Is(err, eventlog.ErrStaleChange) {
			return err // refused alike by every replica: nothing changed
		}
		err = fmt.Errorf("apply raft entry %d: %w", entry.Index, err)
		f.broken.Store(&err)
		f.logger.Error("cluster: this replica could not apply a committed change and stops following; restart it (it catches up from the leader)", "index", entry.Index, "err", err)
		return err
	}
	return nil
}

// Snapshot begins a copy of the log as it is after the last applied
// entry; raft persists it in the background.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if p := f.broken.Load(); p != nil {
		// Raft counts the refused entries as applied: a snapshot now
		// would let it forget them while this log lacks them.
		return nil, fmt.Errorf("snapshot: this replica stopped applying: %w", *p)
	}
	s, err := f.log.Snapshot()
	if err != nil {
		return nil, err
	}
	return snapshot{s}, nil
}

// Restore brings the log up to a snapshot sent by the leader.
func (f *fsm) Restore(r io.ReadCloser) error {
	defer r.Close()
	if err := f.log.Restore(context.Background(), r); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	f.logger.Info("cluster: installed a snapshot of the log", "size", f.log.Size())
	return nil
}

type snapshot struct{ s *eventlog.Snapshot }

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.s.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s snapshot) Release() { s.s.Release() }
