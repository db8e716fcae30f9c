package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// The audit tail follows the log: the events that match an audit search,
// from a starting point on, then each one as it commits. It reads the log
// through its own subscription, so a follower that reads slowly only
// falls behind (and later catches up from the file): it never holds up
// appends. Rows come from projections.Matcher, the derivation audit list
// and audit replay use, so the three agree.

// DefaultMaxFollowers bounds the audit tails one caller (one SPIFFE ID)
// keeps open at once: each holds a connection and reads the log, and an
// auditor needs a few at most.
const DefaultMaxFollowers = 4

// tailBuffer is how much of a catch-up a follower writes at once.
const tailBuffer = 32 << 10

// followers counts the audit tails open, by caller.
type followers struct {
	mu sync.Mutex
	n  map[string]int
}

// acquire counts one more tail for id, unless id has limit already.
func (f *followers) acquire(id string, limit int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[id] >= limit {
		return false
	}
	if f.n == nil {
		f.n = map[string]int{}
	}
	f.n[id]++
	return true
}

func (f *followers) release(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.n[id]--; f.n[id] <= 0 {
		delete(f.n, id)
	}
}

func (s *Service) auditTail(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpAuditTail
	req, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.AuditTailRequest])
	if !ok {
		return refusal
	}
	if msg := unknownTypes(req.Types); msg != "" {
		return refuseInvalid(msg)
	}
	from, future, err := s.tailStart(ctx, req)
	if err != nil {
		s.logger.Error("audit tail: find the start", "err", err)
		return internalError(op)
	}
	if future != "" {
		return transport.Response{Status: http.StatusBadRequest, Body: api.Problem{Err: api.CodeBadRequest, Reason: api.ReasonFuture, Message: future}}
	}
	peer := r.Peer.String()
	if !s.followers.acquire(peer, s.maxFollowers) {
		return transport.Response{Status: http.StatusTooManyRequests, Body: api.Problem{Err: api.CodeBusy, Reason: api.ReasonTooManyFollowers,
			Message: fmt.Sprintf("this caller already follows the log %d times at once, as many as Nexus allows; end one first", s.maxFollowers)}}
	}
	s.metrics.Followers.Inc()
	q := projections.HistoryQuery{Target: req.Path, TargetPrefix: req.PathPrefix, Actor: req.Actor, Types: req.Types, Outcomes: req.Outcomes}
	return transport.Response{ContentType: api.ContentTypeNDJSON, Stream: func(ctx context.Context, w io.Writer) error {
		defer func() {
			s.followers.release(peer)
			s.metrics.Followers.Dec()
		}()
		return s.follow(ctx, w, from, q)
	}}
}

// tailStart resolves where a tail starts: the seq asked for (at most the
// next one), the first event at or after an instant, or the next event.
// future, if not "", says why From is refused.
func (s *Service) tailStart(ctx context.Context, req api.AuditTailRequest) (from uint64, future string, err error) {
	next := s.log.Size() + 1
	switch {
	case req.From > next:
		return 0, fmt.Sprintf("from %d is beyond the log's end: the next event is %d", req.From, next), nil
	case req.From > 0:
		return req.From, "", nil
	case req.Since != nil:
		// Times never decrease along the log: the events after the last
		// one before Since are those at or after it.
		before, err := s.log.SeqAt(ctx, req.Since.Add(-time.Nanosecond))
		if err != nil {
			return 0, "", err
		}
		return before + 1, "", nil
	}
	return next, "", nil
}

// follow writes the rows of each event from seq from on that m matches,
// as JSON lines, until ctx ends (the caller hung up, the server is
// shutting down) or the service stops. It starts with a heartbeat, so
// the caller learns where the tail starts, and sends one whenever it has
// written nothing for s.heartbeat.
func (s *Service) follow(ctx context.Context, w io.Writer, from uint64, q projections.HistoryQuery) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-s.closed: // shutting down: the log may close
			cancel()
		case <-stop:
		}
	}()
	t := &tailWriter{bw: bufio.NewWriterSize(w, tailBuffer), sub: s.log.Subscribe(from), m: projections.NewMatcher(q), every: s.heartbeat}
	err := t.run(ctx)
	if errors.Is(err, errTailWrite) {
		return err // the caller is gone, or stopped reading
	}
	// Tell the caller why the stream ends, and where to pick it up.
	end := api.AuditTailLine{Next: t.sub.Position(), Err: api.CodeNotReady, Message: "Nexus is shutting down or sealing; follow again from next"}
	if !errors.Is(err, context.Canceled) && !errors.Is(err, eventlog.ErrClosed) && !errors.Is(err, eventlog.ErrSealed) {
		s.logger.Error("audit tail failed", "next", end.Next, "err", err)
		end.Err, end.Message = api.CodeInternal, "the tail failed inside Nexus"
	}
	if t.line(end) == nil {
		_ = t.flush() // the caller may be gone already: nothing more to do
	}
	return err
}

// errTailWrite marks a failed write to the caller.
var errTailWrite = errors.New("audit tail: write")

// tailWriter is one follower's state.
type tailWriter struct {
	bw    *bufio.Writer
	enc   *json.Encoder
	sub   *eventlog.Subscription
	m     *projections.Matcher
	every time.Duration
	last  time.Time // when a line was last flushed
	rows  []projections.Access
}

func (t *tailWriter) run(ctx context.Context) error {
	t.enc = json.NewEncoder(t.bw)
	if err := t.heartbeat(); err != nil {
		return err
	}
	for {
		rec, err := t.next(ctx)
		if err != nil {
			return err
		}
		if t.rows, err = t.m.Rows(t.rows[:0], rec); err != nil {
			return err
		}
		for _, a := range t.rows {
			ev := auditEvent(a)
			if err := t.line(api.AuditTailLine{Event: &ev, Next: rec.Seq + 1}); err != nil {
				return err
			}
		}
	}
}

// next returns the next event. Before it may wait or read the log, it
// sends what is written, and while the log is quiet it sends heartbeats.
func (t *tailWriter) next(ctx context.Context) (eventlog.Record, error) {
	if t.sub.Buffered() > 0 {
		return t.sub.Next(ctx)
	}
	for {
		if err := t.flush(); err != nil {
			return eventlog.Record{}, err
		}
		wait := time.Until(t.last.Add(t.every))
		if wait <= 0 {
			if err := t.heartbeat(); err != nil {
				return eventlog.Record{}, err
			}
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		rec, err := t.sub.Next(wctx)
		cancel()
		if err == nil || ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return rec, err
		}
	}
}

func (t *tailWriter) heartbeat() error {
	if err := t.line(api.AuditTailLine{Next: t.sub.Position()}); err != nil {
		return err
	}
	return t.flush()
}

func (t *tailWriter) line(l api.AuditTailLine) error {
	if err := t.enc.Encode(l); err != nil {
		return fmt.Errorf("%w: %w", errTailWrite, err)
	}
	return nil
}

func (t *tailWriter) flush() error {
	if t.bw.Buffered() == 0 {
		return nil
	}
	if err := t.bw.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errTailWrite, err)
	}
	t.last = time.Now()
	return nil
}
