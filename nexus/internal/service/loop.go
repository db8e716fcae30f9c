package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

// A loop is one term of the command loop: the queue Run takes commands
// from while this replica leads. A replica of a cluster leads, follows
// and leads again, so the service starts a term with each Run and ends
// it when Run returns; commands queued for an ended term are answered
// 503 and never built by a later one, whose leader may see another
// state.
type loop struct {
	cmds chan *command
	// stopped is closed when the term ends: a command queued after that
	// is never answered, so every wait on the loop also waits on it.
	stopped chan struct{}
	once    sync.Once
}

func newLoop() *loop {
	return &loop{cmds: make(chan *command, 1024), stopped: make(chan struct{})}
}

// stop ends the term, then answers what is still queued. Closing
// stopped first means a submitter that queues after the drain sees the
// term gone instead of waiting for an answer. It may be called more
// than once, and concurrently.
func (l *loop) stop() {
	l.once.Do(func() { close(l.stopped) })
	for {
		select {
		case c := <-l.cmds:
			c.reply <- errStopped
		default:
			return
		}
	}
}

func (l *loop) isStopped() bool {
	select {
	case <-l.stopped:
		return true
	default:
		return false
	}
}

// lead returns the term a Run takes commands from: the current one if
// it has not ended (the first, which commands submitted before Run
// already wait in), otherwise a new one. It returns nil once the
// service is closed.
func (s *Service) lead() *loop {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	if s.isClosed() {
		return nil
	}
	l := s.loop.Load()
	if l.isStopped() {
		l = newLoop()
		s.loop.Store(l)
	}
	return l
}

// standBy ends the current term, if one is open, for a Follow: what it
// holds is answered 503, as is everything submitted until the next Run.
// It reports false once the service is closed.
func (s *Service) standBy() bool {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	s.loop.Load().stop()
	return !s.isClosed()
}

// Close ends the service for good, as Nexus shuts down: a Run or Follow
// running returns, later ones return at once, every submission is
// answered 503, and audit tails end. To stop leading, cancel Run's
// context instead: Follow or Run may follow that.
func (s *Service) Close() {
	s.loopMu.Lock()
	defer s.loopMu.Unlock()
	s.closeOnce.Do(func() { close(s.closed) })
	s.loop.Load().stop()
}

func (s *Service) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// catchUp brings the projection to the log's end, as a term starts:
// while no loop ran, a follower's log gained events appended by
// replication, past the service. The loop's write state is forgotten
// and the policies recompiled, as either may no longer match.
func (s *Service) catchUp(ctx context.Context) error {
	before := s.proj.LastApplied()
	err := s.applier.catchUp(ctx)
	s.applier.caughtUp.Store(false)
	s.state.forgetAll()
	if s.proj.LastApplied() != before {
		if rerr := s.recompile(ctx); rerr != nil {
			s.logger.Error("recompile policies", "err", rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("catch the projection up from %d to the log's %d: %w", s.proj.LastApplied(), s.log.Size(), err)
	}
	return nil
}

// refuseNotLeader answers a command whose events the committer refused
// because this replica does not lead: nothing of it was done, and a
// client retries (through a replica that reaches the new leader).
var refuseNotLeader = refusal{status: http.StatusServiceUnavailable, code: api.CodeNotReady, reason: api.ReasonNotLeader,
	message: "this Nexus replica is not the cluster's leader, or no longer is: nothing was done; try again"}.response()

// uncommitted returns the answer to commands whose commit failed with
// err having committed nothing, and false for any other failure: the
// replica does not lead (commit.ErrNotLeader), or the term ended (ctx,
// the loop's, has) before the events were taken, which is the only time
// a committer fails with the context's error.
func uncommitted(ctx context.Context, err error) (transport.Response, bool) {
	switch {
	case errors.Is(err, commit.ErrNotLeader):
		return refuseNotLeader, true
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return errStopped, true
	}
	return transport.Response{}, false
}

// failedCommit answers every command of seg after a failed commit:
// 503 if nothing was committed because of leadership or the term's end,
// otherwise as a failed append (failed). Nothing of seg is applied.
func (s *Service) failedCommit(ctx context.Context, seg []built, err error) {
	r, ok := uncommitted(ctx, err)
	if !ok {
		s.failed(seg, "append", err, false)
		return
	}
	s.state.forgetAll()
	s.logger.Debug("command loop: nothing committed", "err", err, "commands", len(seg))
	answerAll(seg, r)
}
