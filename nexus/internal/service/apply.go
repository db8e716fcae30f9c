package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/projections"
)

// applier applies committed events to the projection, in log order.
//
// Events that only record (reads, denials, cipher uses, refusals) change
// nothing a command is built from, so the loop answers their commands as
// soon as they are durable and hands them here to be held: they are
// applied together, within holdFor, in one SQLite transaction instead of
// one per step. Anything that reads the access history asks for them
// first (current), and an event that changes state is applied after
// them, so the projection only ever moves forward in log order.
type applier struct {
	proj   *projections.Projection
	logger *slog.Logger

	// mu serialises applies and catch-ups. held has a lock of its own:
	// the loop's answerer holds reads' records before it answers them,
	// and must not wait out an apply of earlier ones (tens of
	// milliseconds of SQLite at thousands of reads a second).
	mu     sync.Mutex
	heldMu sync.Mutex
	held   []eventlog.Record
	// applyFn applies records to the projection, given what the loop
	// knows of some of them: proj.ApplyKnown, or a test's stand-in.
	applyFn func(context.Context, []eventlog.Record, map[uint64]projections.Known) error
	// wake tells the background goroutine that records are held (cap 1).
	wake chan struct{}
	// full tells it to apply them now, without waiting out holdFor.
	full chan struct{}
	// caughtUp is set when the projection caught up from the log, which
	// may have applied events appended past the loop: the loop then
	// forgets the write state it keeps.
	caughtUp atomic.Bool
	// behind is why the projection is behind the log (nil: it is not).
	// Set when an apply and the catch-up after it both failed (a full
	// disk under SQLite): events the log holds are then missing from
	// the projection, so nothing may be built or answered from it until
	// a catch-up succeeds (see Service.step and Service.guard).
	behind atomic.Pointer[error]
}

// holdFor bounds how long a durable record waits to be applied, and
// holdMax how many are held before they are applied at once. Audit
// queries do not wait for either: they apply what is held first
// (current). Each SQLite commit of the history writes the pages of five
// B-trees, so fewer, larger commits cost less: against 10 ms and 1,024,
// these took 10 % off the server's CPU per get at 8 and 32 callers.
const (
	holdFor = 100 * time.Millisecond
	holdMax = 4096
)

func newApplier(proj *projections.Projection, logger *slog.Logger) *applier {
	return &applier{proj: proj, logger: logger, applyFn: proj.ApplyKnown, wake: make(chan struct{}, 1), full: make(chan struct{}, 1)}
}

// apply applies what is held and then recs, in one transaction; known is
// what the loop knows of some of recs, by seq (may be nil). If that
// fails, the projection catches up from the log instead: every event
// held or given is durable there.
func (a *applier) apply(ctx context.Context, recs []eventlog.Record, known map[uint64]projections.Known) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applyLocked(ctx, recs, known)
}

func (a *applier) applyLocked(ctx context.Context, recs []eventlog.Record, known map[uint64]projections.Known) error {
	// Records held from here on are later in the log than these: the
	// loop holds a read's records only once they are durable, and
	// applies a write's only after the reads queued before it are held.
	all := a.takeHeld()
	if len(all) > 0 {
		all = append(all, recs...)
	} else {
		all = recs
	}
	var err error
	if a.lagging() == nil {
		err = a.applyFn(ctx, all, known)
	} else {
		err = errBehind // the records do not follow what is applied
	}
	if err != nil {
		// Out of order (something appended to the log past the loop) or
		// a failed transaction: the log has it all.
		cerr := a.proj.CatchUp(ctx)
		if cerr == nil {
			a.caughtUp.Store(true)
			a.behind.Store(nil)
			a.logger.Debug("projection caught up from the log", "after", err)
			return nil
		}
		err = fmt.Errorf("%w; catching up from the log: %w", err, cerr)
		a.behind.Store(&err)
	}
	return err
}

// errBehind is why an apply is not tried while the projection is behind.
var errBehind = errors.New("the projection is behind the log")

// lagging returns why the projection is behind the log, or nil.
func (a *applier) lagging() error {
	if err := a.behind.Load(); err != nil {
		return *err
	}
	return nil
}

// catchUp applies whatever the log holds past the projection, held
// records included (they are in the log), and clears behind if it
// succeeds; if it fails, the projection is behind until a catch-up
// succeeds.
func (a *applier) catchUp(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.takeHeld()
	if err := a.proj.CatchUp(ctx); err != nil {
		a.behind.Store(&err)
		return err
	}
	a.behind.Store(nil)
	return nil
}

// hold keeps recs, all record-only and durable, to be applied within
// holdFor or once holdMax are held.
func (a *applier) hold(recs []eventlog.Record) {
	a.heldMu.Lock()
	a.held = append(a.held, recs...)
	n := len(a.held)
	a.heldMu.Unlock()
	signal(a.wake)
	if n >= holdMax {
		signal(a.full)
	}
}

// current applies whatever is held, so a query that follows sees every
// event answered so far; if the projection is behind, it catches up.
func (a *applier) current(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holding() == 0 && a.lagging() == nil {
		return nil
	}
	return a.applyLocked(ctx, nil, nil)
}

// takeHeld returns what is held and holds nothing from then on.
func (a *applier) takeHeld() []eventlog.Record {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	held := a.held
	a.held = nil
	return held
}

// holding returns how many records are held.
func (a *applier) holding() int {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	return len(a.held)
}

// finish applies what is still held, with a context of its own (ctx has
// ended), so a clean shutdown leaves the projection at the log's end.
func (a *applier) finish(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.current(ctx); err != nil {
		a.logger.Warn("apply held records at shutdown; the next start catches up from the log", "err", err)
	}
}

// run applies held records in the background until ctx ends.
func (a *applier) run(ctx context.Context) {
	t := time.NewTimer(holdFor)
	t.Stop()
	for {
		select {
		case <-a.wake:
		case <-ctx.Done():
			return
		}
		t.Reset(holdFor)
		select {
		case <-t.C:
		case <-a.full:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return
		}
		if err := a.current(ctx); err != nil && ctx.Err() == nil {
			a.logger.Error("apply held records", "err", err)
		}
	}
}

// signal sends on a channel of capacity one without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
