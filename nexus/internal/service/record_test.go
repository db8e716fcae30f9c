package service

import (
	"context"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// TestRecordTellsTheTruth: custody records (a bootstrap, a shard export)
// go through the command loop, and their caller must learn the true
// outcome: told "not recorded" while the event is appended anyway, a
// retrying bootstrap would record a second system.bootstrapped. A
// caller whose context ends once its record is queued still waits for
// the answer; a record whose own bounded wait ends while it is queued is
// dropped, and says so.
func TestRecordTellsTheTruth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		wait     time.Duration // the record's bound; 0 keeps the default
		recorded bool
	}{
		{name: "caller cancelled after queueing", recorded: true},
		{name: "wait ended while queued", wait: 10 * time.Millisecond, recorded: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestService(t, 3)
			if tc.wait > 0 {
				s.recordWait = tc.wait
			}
			// Hold the loop in a build step, so the record waits in the
			// queue.
			running, release := make(chan struct{}), make(chan struct{})
			go s.do(context.Background(), "hold", func(context.Context) outcome {
				close(running)
				<-release
				return answerNow(transport.Response{})
			})
			<-running
			su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
			ev := event(&transport.Request{ID: "test", Peer: su}, &events.KeeperUnreachable{Keeper: "https://k:1", Error: "down"})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Record(ctx, ev) }()
			var err error
			returned := false
			for s.QueueDepth() == 0 && !returned { // queued behind the held step
				select {
				case err = <-done:
					returned = true // only a short wait can end before it queues
				case <-time.After(time.Millisecond):
				}
			}
			cancel()
			if !tc.recorded && !returned {
				err, returned = <-done, true // its own wait ends while it is queued
			}
			close(release)
			if !returned {
				err = <-done
			}
			// Whatever record said, let the loop finish what was queued.
			s.read(context.Background(), "sync", func(context.Context) outcome { return answerNow(transport.Response{}) })
			rows, _, qerr := s.proj.History(context.Background(), projections.HistoryQuery{Type: (&events.KeeperUnreachable{}).Type()})
			if qerr != nil {
				t.Fatal(qerr)
			}
			if (err == nil) != tc.recorded || len(rows) != map[bool]int{true: 1}[tc.recorded] {
				t.Fatalf("record = %v with %d events appended; want recorded %v", err, len(rows), tc.recorded)
			}
		})
	}
}
