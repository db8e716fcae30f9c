package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// AuditTailQuery chooses what an audit tail follows: the filters of
// [AuditQuery], and where to start. With neither From nor Since, the tail
// starts with the next event the log commits.
type AuditTailQuery struct {
	Actor      string
	Path       string
	PathPrefix string
	Types      []string
	Outcomes   []string
	// From is the sequence number of the first event to consider: an
	// earlier stream's [AuditStream.Next] resumes it exactly.
	From uint64
	// Since, if not zero, starts at the first event recorded at or
	// after it.
	Since time.Time
}

// deadAfter is how long a tail waits for a line before it takes the
// connection for dead and follows again: Nexus sends a heartbeat every
// api.AuditTailHeartbeat.
const deadAfter = 4 * api.AuditTailHeartbeat

// AuditStream follows the event log: the events that match its query,
// oldest first, then each new one as it commits. When the connection
// drops, or Nexus ends the stream to shut down, it follows again from
// where it stopped (within the client's retry wait), so the events it
// returns have no gap and no duplicate. It is not safe for concurrent
// use, but Close may be called from any goroutine.
type AuditStream struct {
	c      *Client
	req    api.AuditTailRequest
	ctx    context.Context
	cancel context.CancelFunc
	next   uint64 // where the next stream starts: see api.AuditTailLine

	mu    sync.Mutex // guards body against Close and the watchdog
	body  io.ReadCloser
	lines *bufio.Scanner
	dog   *time.Timer
	err   error // sticky: the stream has ended
}

// AuditTail opens an audit tail. Nexus's refusals (not an auditor, a bad
// filter, too many tails open for this caller: [api.CodeBusy]) come
// from here; later failures from [AuditStream.Recv]. ctx bounds the
// whole tail: cancel it, or call Close, to stop.
func (c *Client) AuditTail(ctx context.Context, q AuditTailQuery) (*AuditStream, error) {
	req := api.AuditTailRequest{Actor: q.Actor, Path: q.Path, PathPrefix: q.PathPrefix, Types: q.Types, Outcomes: q.Outcomes, From: q.From}
	if !q.Since.IsZero() {
		since := q.Since
		req.Since = &since
	}
	if err := req.Validate(); err != nil {
		return nil, invalidError(req.Op(), q.Path, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &AuditStream{c: c, req: req, ctx: ctx, cancel: cancel}
	if err := s.open(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// open starts a stream, retrying as other calls do, and reads its first
// line, which says where it starts.
func (s *AuditStream) open() error {
	op := api.OpAuditTail
	var body io.ReadCloser
	err := s.c.retry(s.ctx, op, func(ctx context.Context) error {
		var err error
		body, err = s.c.json.Open(ctx, transport.Call{BaseURL: s.c.nexus, Path: op.Path(), Action: string(op.Action()), Request: s.req})
		return err
	})
	if err != nil {
		return callError(op, s.req.Path, err)
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 4096), api.MaxAuditTailLine)
	s.mu.Lock()
	s.body, s.lines = body, sc
	s.dog = time.AfterFunc(deadAfter, s.drop)
	s.mu.Unlock()
	first, err := s.line()
	if err == nil && (first.Event != nil || first.Err != "") {
		err = errBadAnswer("first line: not a heartbeat")
	}
	if err != nil {
		s.closeBody()
		return callError(op, s.req.Path, err)
	}
	s.next = first.Next
	return nil
}

// drop closes the body of a stream that went quiet, so the read waiting
// on it fails and Recv follows again.
func (s *AuditStream) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.body != nil {
		s.body.Close()
	}
}

func (s *AuditStream) closeBody() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dog != nil {
		s.dog.Stop()
	}
	if s.body != nil {
		s.body.Close()
		s.body = nil
	}
}

// line reads and checks one line.
func (s *AuditStream) line() (api.AuditTailLine, error) {
	if !s.lines.Scan() {
		err := s.lines.Err()
		if errors.Is(err, bufio.ErrTooLong) {
			return api.AuditTailLine{}, errBadAnswer("line: too long")
		}
		if err == nil {
			err = io.ErrUnexpectedEOF // a stream ends only with an error line
		}
		return api.AuditTailLine{}, err
	}
	s.dog.Reset(deadAfter)
	l, err := decodeTailLine(s.lines.Bytes())
	if err != nil {
		return l, err
	}
	if l.Next < s.next {
		return l, errBadAnswer("line: next went back")
	}
	return l, nil
}

// Recv returns the next event, waiting for it to commit. It returns the
// context's error once ctx ends or Close is called, and an *Error when
// Nexus ends the stream for good or cannot be reached again.
func (s *AuditStream) Recv() (api.AuditEvent, error) {
	for s.err == nil {
		if s.body == nil {
			if err := s.open(); err != nil {
				s.fail(err)
				break
			}
		}
		l, err := s.line()
		switch {
		case err == nil && l.Event != nil:
			s.next = l.Next
			return *l.Event, nil
		case err == nil && l.Err == "":
			s.next = l.Next // a heartbeat
		case err == nil && l.Err == api.CodeNotReady:
			// Nexus is shutting down or sealing: follow again.
			s.next = l.Next
			s.closeBody()
		case err == nil:
			s.fail(&Error{Op: api.OpAuditTail, Status: l.Err.Status(), Code: l.Err, Message: l.Message, Err: l.Err})
		case s.ctx.Err() != nil:
			s.fail(s.ctx.Err())
		case errors.Is(err, ErrBadAnswer):
			s.fail(callError(api.OpAuditTail, s.req.Path, err))
		default:
			// The connection dropped or went quiet: follow again from
			// where it stopped.
			s.c.logger.DebugContext(s.ctx, "sdk: audit tail dropped; following again", "next", s.next, "err", err)
			s.closeBody()
		}
		s.req.From, s.req.Since = s.next, nil
	}
	return api.AuditEvent{}, s.err
}

func (s *AuditStream) fail(err error) {
	s.err = err
	s.closeBody()
}

// Next returns the sequence number a new tail would start from to
// continue this one: every matching event before it has been returned.
func (s *AuditStream) Next() uint64 { return s.next }

// Close ends the stream. It may be called from any goroutine, and more
// than once.
func (s *AuditStream) Close() error {
	s.cancel()
	s.drop()
	return nil
}

// All returns the events as an iterator, until the stream fails or ends;
// the last pair carries the error (the context's, after Close or
// cancellation). Breaking out of the loop leaves the stream open.
func (s *AuditStream) All() iter.Seq2[api.AuditEvent, error] {
	return func(yield func(api.AuditEvent, error) bool) {
		for {
			ev, err := s.Recv()
			if err != nil {
				yield(ev, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// decodeTailLine reads one line of an audit tail strictly: one JSON
// object, with a position, and an event or an error but not both; an
// event's position is the one after it.
func decodeTailLine(b []byte) (api.AuditTailLine, error) {
	var l api.AuditTailLine
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 || b[0] != '{' {
		return l, errBadAnswer("line: not a JSON object")
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return api.AuditTailLine{}, fmt.Errorf("%w: line: %w", ErrBadAnswer, err)
	}
	switch {
	case l.Next == 0:
		return l, errBadAnswer("line: no next")
	case l.Event != nil && l.Err != "":
		return l, errBadAnswer("line: both an event and an error")
	case l.Event != nil && (l.Event.Seq == 0 || l.Next != l.Event.Seq+1):
		return l, errBadAnswer("line: event seq and next disagree")
	}
	return l, nil
}
