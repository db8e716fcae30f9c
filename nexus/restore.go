package nexus

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// A restore brings secret paths back to what a reader saw at an earlier
// point of the log. It rewrites nothing: a path whose readable data then
// differs from now gets a new version with that data (as Vault's
// rollback does); a path that then had nothing readable has its live
// versions soft-deleted. So a restore can itself be undone, by a restore
// to the point just before it. Destroyed data stays destroyed: a path
// whose data then has since been destroyed cannot be restored, and the
// request fails naming that path.
//
// The earlier state is rebuilt outside the command loop (a scratch
// projection replayed up to the point), so the loop never waits on it;
// the loop then compares it with the state as it is, as a barrier that
// no other command overtakes.

// restoreTarget is what a path should read after the restore: data, or
// nothing readable (gone). known marks a path that existed at the point
// or exists now.
type restoreTarget struct {
	path  string
	data  map[string]string
	gone  bool
	known bool
}

// destroyedSinceError: the data a path had at the point was destroyed
// after it.
type destroyedSinceError struct{ path string }

func (e *destroyedSinceError) Error() string {
	return "the data " + e.path + " had then has been destroyed since"
}

func (s *Service) restorePointApply(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpRestorePointApply
	req, err := decode[api.RestorePointApplyRequest](r)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		// A restore names its paths only once they are checked, so a
		// malformed one is refused before authorisation.
		return invalidRequest(err).response()
	}
	if resp, ok := s.checkStoredPaths(ctx, op, req); !ok {
		return resp
	}
	scope := req.Paths
	if len(scope) == 0 {
		// Every path: only a caller who may write everywhere.
		if resp, ok := s.allow(ctx, r, op, api.SystemPathSecret, api.PermSuper); !ok {
			return resp
		}
	}
	for _, p := range scope {
		if resp, ok := s.allow(ctx, r, op, p, api.PermWrite); !ok {
			return resp
		}
	}
	// From here on a refusal is recorded, through the loop, before the
	// caller hears of it: a restore is a write.
	refused := func(f refusal) transport.Response {
		target := ""
		if len(scope) == 1 {
			target = scope[0]
		}
		return s.read(ctx, restoreKey, func(context.Context) outcome { return refuse(r, op, target, nil, f) })
	}
	if size := s.log.Size(); req.AsOfSeq > size {
		return refused(refuseFuture("no such point in the log yet: seq %d is beyond its end, %d", req.AsOfSeq, size))
	}
	at := projections.AsOf{Seq: req.AsOfSeq}
	if req.AsOfTime != nil {
		if now := time.Now(); req.AsOfTime.After(now) {
			return refused(refuseFuture("no such point in the log yet: %s is in the future (it is now %s)", req.AsOfTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)))
		}
		at.Time = *req.AsOfTime
	}
	seq, err := at.Resolve(ctx, s.log)
	if err != nil {
		s.logger.Error("restore: find the point", "err", err)
		return internalError(op)
	}
	if seq == 0 {
		return refused(refuseNotFound(api.ReasonBeforeStart, "no such point in the log: %s is before its first event, so there is nothing to restore to", at.Time.UTC().Format(time.RFC3339Nano)))
	}
	rec, err := s.log.GetSealed(ctx, seq) // only its time
	if err != nil {
		return internalError(op)
	}
	targets, err := s.restoreTargets(ctx, seq, scope)
	var gone *destroyedSinceError
	if errors.As(err, &gone) {
		return refused(refusal{status: http.StatusConflict, code: api.CodeConflict, reason: api.ReasonDestroyed,
			message: fmt.Sprintf("%s had data at seq %d that has been destroyed since: it cannot be restored", gone.path, seq)})
	}
	if err != nil {
		s.logger.Error("restore: rebuild the earlier state", "as_of_seq", seq, "err", err)
		return internalError(op)
	}
	if len(scope) > 0 && !slices.ContainsFunc(targets, func(tg restoreTarget) bool { return tg.known }) {
		return refused(refuseNotFound(api.ReasonNoSuchPath, "no secret at %s, at seq %d or now", strings.Join(scope, ", "), seq))
	}
	return s.submit(&command{ctx: ctx, key: restoreKey, write: true, barrier: true, reply: make(chan transport.Response, 1),
		build: func(ctx context.Context) outcome {
			return s.buildRestore(ctx, r, seq, rec.Time, scope, targets)
		}})
}

// restoreKey is the conflict key of a restore; as a barrier it conflicts
// with everything anyway.
const restoreKey = "\x00restore"

// restoreTargets replays the log up to seq into a scratch projection and
// reads, for each path in scope (every path then and now when scope is
// empty), what a reader saw.
func (s *Service) restoreTargets(ctx context.Context, seq uint64, scope []string) ([]restoreTarget, error) {
	// Derive the projection key under the root key's lock, but replay
	// without it: a replay takes as long as the log is long.
	var key []byte
	err := s.withKey(func(root []byte) error {
		var err error
		key, err = projections.KeyFromRoot(root)
		return err
	})
	if err != nil {
		return nil, err
	}
	past, err := projections.BuildAsOf(ctx, s.log, projections.AsOf{Seq: seq}, projections.Options{Memory: true, Key: key, Logger: s.logger})
	seal.Zero(key)
	if err != nil {
		return nil, err
	}
	defer past.Close()
	named := len(scope) > 0
	if !named {
		then, err := past.Paths(ctx)
		if err != nil {
			return nil, err
		}
		now, err := s.proj.Paths(ctx)
		if err != nil {
			return nil, err
		}
		scope = append(then, now...)
		slices.Sort(scope)
		scope = slices.Compact(scope)
	}
	targets := make([]restoreTarget, 0, len(scope))
	for _, path := range scope {
		known := true // every path then or now, when none is named
		if named {
			if known, err = existsIn(ctx, path, past, s.proj); err != nil {
				return nil, err
			}
		}
		sv, err := past.Secret(ctx, path, 0)
		switch {
		case err == nil:
			targets = append(targets, restoreTarget{path: path, data: sv.Data, known: true})
		case errors.Is(err, projections.ErrVersionDestroyed):
			return nil, &destroyedSinceError{path: path}
		case isNotFound(err):
			targets = append(targets, restoreTarget{path: path, gone: true, known: known})
		default:
			return nil, err
		}
	}
	return targets, nil
}

// existsIn reports whether any of the projections has path.
func existsIn(ctx context.Context, path string, ps ...*projections.Projection) (bool, error) {
	for _, p := range ps {
		_, err := p.Metadata(ctx, path)
		if err == nil {
			return true, nil
		}
		if !isNotFound(err) {
			return false, err
		}
	}
	return false, nil
}

// buildRestore compares each target with the state now and makes the
// events: the restore record, naming the point and every change, then a
// new version or deletes per path that differs.
func (s *Service) buildRestore(ctx context.Context, r *transport.Request, seq uint64, t time.Time, scope []string, targets []restoreTarget) outcome {
	op := api.OpRestorePointApply
	if len(scope) == 0 {
		// Every path means every path now, too: one written since the
		// targets were read had nothing readable at the point.
		now, err := s.proj.Paths(ctx)
		if err != nil {
			return answerNow(internalError(op))
		}
		known := make(map[string]bool, len(targets))
		for _, tg := range targets {
			known[tg.path] = true
		}
		for _, p := range now {
			if !known[p] {
				targets = append(targets, restoreTarget{path: p, gone: true, known: true})
			}
		}
		slices.SortFunc(targets, func(a, b restoreTarget) int { return strings.Compare(a.path, b.path) })
	}
	var evs []eventlog.Event
	var changes []events.RestoreChange
	var changed []string
	for _, tg := range targets {
		now, err := s.proj.Secret(ctx, tg.path, 0)
		if err != nil && !isNotFound(err) {
			return answerNow(internalError(op))
		}
		readable := err == nil
		switch {
		case tg.gone && readable:
			meta, err := s.proj.Metadata(ctx, tg.path)
			if err != nil {
				return answerNow(internalError(op))
			}
			var live []int
			for _, v := range meta.Versions {
				if v.Deleted == nil && !v.Destroyed {
					live = append(live, v.Version)
				}
			}
			evs = append(evs, event(r, &events.SecretVersionsDeleted{Path: tg.path, Versions: live}))
			changes = append(changes, events.RestoreChange{Path: tg.path, Deleted: live})
		case !tg.gone && (!readable || !maps.Equal(now.Data, tg.data)):
			// With the current version as CAS, so a path that requires
			// check-and-set takes the restore as it would a careful put.
			st, exists, err := s.state.load(ctx, s.proj, tg.path)
			if err != nil && !isNotFound(err) {
				return answerNow(internalError(op))
			}
			if !exists {
				st = &pathState{maxVersions: s.maxVersions}
			}
			cur := st.current
			put, v := s.writeVersion(ctx, r, write{op: op, path: tg.path, cas: &cur, via: "restore"}, st, exists, tg.data)
			if len(put.events) == 0 {
				return answerNow(put.answer)
			}
			evs = append(evs, put.events...)
			changes = append(changes, events.RestoreChange{Path: tg.path, Written: v})
		default:
			continue
		}
		changed = append(changed, tg.path)
	}
	record := event(r, &events.RestorePointApplied{Paths: scope, AsOfSeq: seq, AsOfTime: t, Changes: changes})
	return outcome{events: append([]eventlog.Event{record}, evs...), durable: s.state.forgetAll,
		answerAfter: func(recs []eventlog.Record) transport.Response {
			return transport.Response{Body: api.RestorePointApplyResponse{Seq: recs[0].Seq, AsOfSeq: seq, AsOfTime: t.UTC(), Paths: changed}}
		}}
}
