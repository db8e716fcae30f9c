package service

import (
	"context"
	"fmt"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/projections"
)

// Follow keeps the projection up with the log while another replica
// leads: replication appends the leader's sealed events to the local
// log, past the service, and Follow applies every event the log gains,
// in order, through the applier, as the command loop would have (events
// that only record are held and applied together; a policy change
// recompiles the policies). It appends nothing, and answers every
// command 503 (see Run). It returns nil when ctx ends or the service is
// closed, and an error if an event cannot be applied. Run and Follow
// may alternate on one service, one at a time.
func (s *Service) Follow(ctx context.Context) error {
	s.running.Lock()
	defer s.running.Unlock()
	if !s.standBy() {
		return nil // closed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.closed:
			cancel()
		case <-ctx.Done():
		}
	}()
	applied := make(chan struct{})
	go func() { s.applier.run(ctx); close(applied) }()
	defer func() {
		cancel()
		<-applied
		s.applier.finish(ctx)
	}()
	err := s.keepUp(ctx)
	if ctx.Err() != nil {
		return nil // ended, perhaps in the middle of an apply: the next Run catches up
	}
	return err
}

// keepUp applies the log's events as they come, until ctx ends or one
// cannot be applied.
func (s *Service) keepUp(ctx context.Context) error {
	if err := s.catchUp(ctx); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	sub := s.log.Subscribe(s.proj.LastApplied() + 1)
	for {
		recs, err := next(ctx, sub)
		if err != nil {
			return fmt.Errorf("follow: read the event log at %d: %w", sub.Position(), err)
		}
		// At the log's end, events that only record are held, as the
		// loop holds them; behind it (a snapshot installed, a burst
		// from the leader) everything is applied at once, a chunk per
		// transaction, so nothing piles up in memory.
		live := sub.Position() > s.log.Size()
		if err := s.applyFollowed(ctx, recs, live); err != nil {
			return fmt.Errorf("follow: apply events %d to %d: %w", recs[0].Seq, recs[len(recs)-1].Seq, err)
		}
		if s.applier.caughtUp.Swap(false) {
			// An apply fell back to catching up from the log, which
			// went past what sub has given: go on from there.
			sub = s.log.Subscribe(s.proj.LastApplied() + 1)
			if err := s.recompile(ctx); err != nil {
				s.logger.Error("recompile policies", "err", err)
			}
		}
	}
}

// next waits for the log's next event and returns it with every one
// after it that sub has read already (at most a chunk of the log).
func next(ctx context.Context, sub *eventlog.Subscription) ([]eventlog.Record, error) {
	rec, err := sub.Next(ctx)
	if err != nil {
		return nil, err
	}
	recs := make([]eventlog.Record, 1, 1+sub.Buffered())
	recs[0] = rec
	for sub.Buffered() > 0 {
		// Buffered events are returned without reading or waiting.
		if rec, err = sub.Next(ctx); err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	return recs, nil
}

// applyFollowed applies recs, or holds them when they only record and
// live says the follower is at the log's end, and recompiles the
// policies when recs change them.
func (s *Service) applyFollowed(ctx context.Context, recs []eventlog.Record, live bool) error {
	if live && recordsOnlyRecs(recs) {
		s.applier.hold(recs)
		return nil
	}
	if err := s.applier.apply(ctx, recs, nil); err != nil {
		return err
	}
	if changesPolicies(recs) {
		if err := s.recompile(ctx); err != nil {
			s.logger.Error("recompile policies", "err", err)
		}
	}
	return nil
}

// recordsOnlyRecs is recordsOnly for committed records.
func recordsOnlyRecs(recs []eventlog.Record) bool {
	for _, r := range recs {
		if !projections.RecordOnly(r.Type) {
			return false
		}
	}
	return true
}

// policyTypes are the events that change the policies the service
// compiles (see projections' apply).
var policyTypes = [...]string{(*events.PolicyPut)(nil).Type(), (*events.PolicyDeleted)(nil).Type()}

func changesPolicies(recs []eventlog.Record) bool {
	for _, r := range recs {
		if r.Type == policyTypes[0] || r.Type == policyTypes[1] {
			return true
		}
	}
	return false
}
