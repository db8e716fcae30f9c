package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// When Nexus cannot write its data directory (the filesystem is full),
// it fails closed: no command is answered without its events durable,
// so a write is refused and so is an audited read, whose secret.read
// cannot be recorded. The event log keeps what it made durable in its
// journal and retries moving it into its file (eventlog.Log.Err says
// why it cannot); when SQLite cannot apply events the log already holds,
// the projection is behind, and nothing is built or answered from it
// until the command loop's probe has caught it up. Either way Nexus
// serves again by itself once space is freed, /readyz says why it is
// not ready meanwhile, and the log says so once an episode.

// probeEvery is how often the command loop retries catching the
// projection up while it is behind (and checks whether an episode is
// over): the longest a freed disk waits to be used again.
const probeEvery = 500 * time.Millisecond

// noSpace reports whether err is a write that found no room: the
// filesystem full, or a quota spent. The projection's SQLite errors for
// a full disk wrap ENOSPC too (projections.asNoSpace).
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// cause is err as /readyz says it: "no space left on device" for a full
// disk, otherwise the error itself.
func cause(err error) string {
	if noSpace(err) {
		return "no space left on device"
	}
	return err.Error()
}

// Unready says why the service cannot answer as it should, or "" when
// it can: the projection behind the log, or the log unable to write its
// files (while its journal has room appends still succeed, but the
// room is running out).
func (s *Service) Unready() string {
	if err := s.applier.lagging(); err != nil {
		return fmt.Sprintf("projection: %d events behind the event log: %s", s.Lag(), cause(err))
	}
	if err := s.log.Err(); err != nil {
		return "event log: " + cause(err)
	}
	return ""
}

// Answers while the disk is full, with the reason no_space.
var (
	// refuseNoSpace answers a command whose events could not be made
	// durable: nothing of it happened. 503 state_not_ready, which
	// clients (SPIKE's and ours) retry, as they may.
	refuseNoSpace = refusal{status: http.StatusServiceUnavailable, code: api.CodeNotReady, reason: api.ReasonNoSpace,
		message: "Nexus cannot record this request: its data directory has no space left. Nothing was done; Nexus serves again by itself once space is freed."}.response()
	// refuseNoSpaceRecorded answers a command whose events are in the
	// log but could not be applied to the projection: it takes effect
	// when the projection catches up. Not 503, which clients retry as
	// "nothing was done": a retry would do it twice. 500, as for any
	// outcome the caller must check.
	refuseNoSpaceRecorded = refusal{status: http.StatusInternalServerError, code: api.CodeInternal, reason: api.ReasonNoSpace,
		message: "Nexus recorded this change in its event log but its data directory has no space left to apply it. It takes effect by itself once space is freed: read before repeating it."}.response()
)

// storageAnswer is the answer to commands whose append (recorded false)
// or apply (recorded true) failed with err: for a full disk 503 no_space
// (nothing done) or 500 no_space (recorded, not applied); otherwise 500.
func storageAnswer(err error, recorded bool) transport.Response {
	switch {
	case !noSpace(err):
		return errInternal
	case recorded:
		return refuseNoSpaceRecorded
	}
	return refuseNoSpace
}

// behindAnswer answers a command refused because the projection is
// behind the log: nothing of it was done.
func behindAnswer(err error) transport.Response {
	if noSpace(err) {
		return refuseNoSpace
	}
	return refusal{status: http.StatusServiceUnavailable, code: api.CodeNotReady,
		message: "Nexus's projection is behind its event log and catching up; try again shortly."}.response()
}

// guard refuses every request while the projection is behind the log:
// a read outside the command loop (metadata, a list, settings) would
// answer from a projection missing what the log holds.
func (s *Service) guard(h transport.Handler) transport.Handler {
	return func(ctx context.Context, r *transport.Request) transport.Response {
		if err := s.applier.lagging(); err != nil {
			return behindAnswer(err)
		}
		return h(ctx, r)
	}
}

// outage logs storage failures once an episode: when the first command
// fails, and when the probe finds everything writable again.
type outage struct {
	mu    sync.Mutex
	since time.Time // zero: no episode
}

// failed notes a failed append or apply; it returns true for the first
// of an episode, which the caller logs.
func (o *outage) failed() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.since.IsZero() {
		return false
	}
	o.since = time.Now()
	return true
}

// over ends the episode, returning how long it lasted (0: none).
func (o *outage) over() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return 0
	}
	d := time.Since(o.since)
	o.since = time.Time{}
	return d
}

// storageFailed logs a failed append or apply, once an episode.
func (s *Service) storageFailed(what string, err error) {
	if !s.outage.failed() {
		s.logger.Debug("command loop: "+what+" failed", "err", err)
		return
	}
	s.logger.Error("command loop: "+what+" failed: refusing writes and audited reads until Nexus can record them again; it retries by itself",
		"err", err, "no_space", noSpace(err))
}

// probe runs in the command loop every probeEvery: it catches the
// projection up if it is behind, and ends an episode once nothing is
// failing.
func (s *Service) probe(ctx context.Context) {
	if s.applier.lagging() != nil {
		if err := s.applier.current(ctx); err != nil {
			return
		}
		if s.applier.caughtUp.Swap(false) {
			s.state.forgetAll()
		}
		// The events caught up with may have changed the policies.
		if err := s.recompile(ctx); err != nil {
			s.logger.Error("recompile policies", "err", err)
		}
	}
	if s.Unready() != "" {
		return
	}
	if d := s.outage.over(); d > 0 {
		s.logger.Info("command loop: Nexus records again", "after", d.Round(time.Millisecond))
	}
}
