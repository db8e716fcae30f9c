package projections

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
)

// Replay answers a history query from the log alone: it reads the events
// q's range covers, in order, and calls fn with the access rows of each
// event that matches, all rows of one event in one call. They are the
// rows History answers for q from a projection of the same log, built by
// the same code (historyOf), so an auditor holding only a copy of the
// log and the root key sees what Nexus would show. q.Limit is ignored:
// fn returns an error to stop (ReplayPage pages as History does).
//
// Nothing is written anywhere, and no secret value is opened: the access
// history never holds one, so the per-value keys are never used.
// log must be unlocked.
func Replay(ctx context.Context, log *eventlog.Log, q HistoryQuery, fn func(rows []Access) error) error {
	if log.Sealed() {
		return fmt.Errorf("replay: %w", eventlog.ErrSealed)
	}
	lo, hi, err := replayRange(ctx, log, q)
	if err != nil || lo >= hi {
		return err
	}
	m := NewMatcher(q)
	var rows []Access
	return log.Scan(ctx, lo+1, hi, func(r eventlog.Record) error {
		var err error
		if rows, err = m.Rows(rows[:0], r); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		return fn(rows)
	})
}

// Matcher derives the access rows of events one at a time, for a reader
// that has the events already (a live tail following the log): the rows
// Replay and History answer, by the same code. Only its filters count;
// a query's range and page are the reader's to apply.
type Matcher struct{ m matcher }

// NewMatcher returns a matcher for q's filters.
func NewMatcher(q HistoryQuery) *Matcher { return &Matcher{m: newMatcher(q)} }

// Rows appends to dst the rows of r that match, all of them (one per
// path for an event about several, when the query filters by path). An
// event of a type the query leaves out is not decoded: the type is in
// the clear header.
func (m *Matcher) Rows(dst []Access, r eventlog.Record) ([]Access, error) {
	if len(m.m.types) > 0 && !m.m.types[r.Type] {
		return dst, nil
	}
	pl, err := Decode(r)
	if err != nil {
		return dst, fmt.Errorf("seq %d (%s): %w", r.Seq, r.Type, err)
	}
	return m.m.rows(dst, r, pl), nil
}

// errPageFull stops Replay once ReplayPage has read past a page.
var errPageFull = errors.New("page full")

// ReplayPage is Replay in pages: it returns what History returns for q,
// the same rows and the same cursor, from the log alone.
func ReplayPage(ctx context.Context, log *eventlog.Log, q HistoryQuery) ([]Access, uint64, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	if limit > MaxHistoryPage {
		return nil, 0, fmt.Errorf("history: limit %d exceeds %d", limit, MaxHistoryPage)
	}
	var out []Access
	err := Replay(ctx, log, q, func(rows []Access) error {
		out = append(out, rows...)
		if len(out) > limit {
			return errPageFull
		}
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return nil, 0, err
	}
	if len(out) <= limit {
		return out, 0, nil
	}
	// As History: a page never ends inside one event's rows; an event
	// with more rows than the limit comes whole, alone (and then the
	// rows read are exactly that event's, since each call is whole).
	cut, last := limit, out[limit].Seq
	for cut > 0 && out[cut-1].Seq == last {
		cut--
	}
	if cut > 0 {
		return out[:cut], out[cut-1].Seq, nil
	}
	return out, last, nil
}

// replayRange turns q's cursor and time window into the seq range
// (lo, hi] to read, as planHistory does: event times never decrease
// along the log, so the window is found by binary search.
func replayRange(ctx context.Context, log *eventlog.Log, q HistoryQuery) (lo, hi uint64, err error) {
	lo, hi = q.After, log.Size()
	if !q.From.IsZero() {
		from, err := log.SeqAt(ctx, q.From.Add(-time.Nanosecond))
		if err != nil {
			return 0, 0, fmt.Errorf("replay: %w", err)
		}
		lo = max(lo, from)
	}
	if !q.To.IsZero() {
		if hi, err = log.SeqAt(ctx, q.To.Add(-time.Nanosecond)); err != nil {
			return 0, 0, fmt.Errorf("replay: %w", err)
		}
	}
	return lo, hi, nil
}

// matcher is a HistoryQuery's filters, checked in memory.
type matcher struct {
	target, prefix string
	hasTarget      bool // a target filter: events about several paths match by path
	actor          string
	types          map[string]bool
	outcomes       map[string]bool
}

func newMatcher(q HistoryQuery) matcher {
	m := matcher{target: q.Target, prefix: q.TargetPrefix, actor: q.Actor,
		types: set(append(nonEmpty(q.Type), q.Types...)), outcomes: set(append(nonEmpty(q.Outcome), q.Outcomes...))}
	m.hasTarget = m.target != "" || m.prefix != ""
	return m
}

func set(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func (m matcher) matchTarget(t string) bool {
	return (m.target == "" || t == m.target) && strings.HasPrefix(t, m.prefix)
}

// rows appends to dst the rows of one event that match: its own row,
// and, when the query filters by target, the rows of the paths an event
// about several paths changed (in path order, as History sorts them).
func (m matcher) rows(dst []Access, r eventlog.Record, pl events.Payload) []Access {
	h := historyOf(pl)
	meta := pl.EventMeta()
	if (m.actor != "" && meta.Actor != m.actor) || (len(m.outcomes) > 0 && !m.outcomes[h.outcome]) {
		return dst
	}
	row := Access{Seq: r.Seq, Time: fromNanos(r.Time.UnixNano()), Actor: meta.Actor, RequestID: meta.RequestID,
		Type: r.Type, Outcome: h.outcome}
	if m.matchTarget(h.target) {
		a := row
		a.Target, a.Version, a.Detail, a.Versions = h.target, h.version, h.detail, rowVersions(h.version, h.versions)
		dst = append(dst, a)
	}
	if !m.hasTarget || len(h.paths) == 0 {
		return dst
	}
	paths := slices.SortedFunc(slices.Values(h.paths), func(a, b pathHistory) int { return cmp.Compare(a.target, b.target) })
	for _, ph := range paths {
		if m.matchTarget(ph.target) {
			a := row
			a.Target, a.Version, a.Detail, a.Versions = ph.target, ph.version, ph.detail, rowVersions(ph.version, ph.versions)
			dst = append(dst, a)
		}
	}
	return dst
}

// rowVersions is a row's Versions as History reads them back: the
// versions listed, or the one version, or none.
func rowVersions(version int, vs []int) []int {
	if len(vs) > 0 {
		return slices.Clone(vs)
	}
	if version > 0 {
		return []int{version}
	}
	return nil
}
