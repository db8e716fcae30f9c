// Package commit is the one way Nexus writes its event log. The command
// loop and custody (which records before the loop runs, while Nexus
// unseals) both commit through a Committer, so a replicated log (Raft,
// in cluster/) takes the local one's place in one spot, and every event
// Nexus writes passes one point where the log's Observer counts it.
//
// A commit makes events durable in log order; it does not apply them.
// Applying committed records to the projection stays with whoever reads
// the projection (the command loop's applier), which holds record-only
// events back to apply many at once: under Raft every replica applies
// the records the group committed the same way.
package commit

import (
	"context"

	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/eventlog"
)

// ErrNotLeader is the error of a commit on a replica that is not (or is
// no longer) the cluster's leader: the log's writer replicates through
// cluster.Node, whose error this is. Nothing was committed through this
// replica, and the caller answers 503 so that the client retries,
// through a replica that forwards to the new leader.
var ErrNotLeader = cluster.ErrNotLeader

// Committer makes events durable, each call's events consecutive and in
// one order that every reader of the log sees.
type Committer interface {
	// Check reports whether Commit would take events, without
	// committing them; see eventlog.Log.Check (it spends the value keys
	// of events it refuses).
	Check(events ...eventlog.Event) error
	// MaxPayload is the largest event payload committed, in bytes.
	MaxPayload() int
	// Submit queues events and returns without waiting for them to be
	// durable. Submissions are committed in the order made.
	Submit(ctx context.Context, events ...eventlog.Event) (Pending, error)
	// Commit is Submit and Wait: it returns the events' records once
	// they are durable.
	Commit(ctx context.Context, events ...eventlog.Event) ([]eventlog.Record, error)
}

// Pending is a submission not yet waited for.
type Pending interface {
	// Wait waits until the events are durable (or failed) and returns
	// their records.
	Wait() ([]eventlog.Record, error)
}

// Local commits to a single Nexus's own event log.
type Local struct {
	log *eventlog.Log
}

// NewLocal returns a Committer that appends to log.
func NewLocal(log *eventlog.Log) *Local { return &Local{log: log} }

// Check reports whether the log takes events.
func (l *Local) Check(events ...eventlog.Event) error { return l.log.Check(events...) }

// MaxPayload returns the log's payload limit.
func (l *Local) MaxPayload() int { return l.log.MaxPayload() }

// Submit queues events in the log. Its errors are the log's, unwrapped:
// callers tell a full disk from a refused event by them.
func (l *Local) Submit(ctx context.Context, events ...eventlog.Event) (Pending, error) {
	p, err := l.log.Submit(ctx, events...)
	if err != nil {
		return nil, err // not a nil *eventlog.Pending in a non-nil Pending
	}
	return p, nil
}

// Commit appends events to the log and waits until they are durable.
func (l *Local) Commit(ctx context.Context, events ...eventlog.Event) ([]eventlog.Record, error) {
	return l.log.Append(ctx, events...)
}
