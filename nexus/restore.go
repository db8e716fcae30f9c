package nexus

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
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
// request fails naming nothing but the count.
//
// The earlier state is rebuilt outside the command loop (a scratch
// projection replayed up to the point), so the loop never waits on it;
// the loop then compares it with the state as it is, as a barrier that
// no other command overtakes.

// restoreTarget is what a path should read after the restore: data, or
// nothing readable (gone).
type restoreTarget struct {
	path string
	data map[string]string
	gone bool
}

// errDestroyedSince: the data to restore was destroyed after the point.
var errDestroyedSince = errors.New("data to restore was destroyed since")

func (s *Service) restorePointApply(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpRestorePointApply
	req, ok := decode[api.RestorePointApplyRequest](r)
	if !ok || req.Validate() != nil {
		// A restore names its paths only once they are checked, so a
		// malformed one is refused before authorisation.
		return badRequest(op)
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
	at := projections.AsOf{Seq: req.AsOfSeq}
	if req.AsOfTime != nil {
		at.Time = *req.AsOfTime
	}
	if at.Seq > s.log.Size() {
		return notFound(op) // a point beyond the log
	}
	seq, err := at.Resolve(ctx, s.log)
	if err != nil {
		s.logger.Error("restore: find the point", "err", err)
		return internalError(op)
	}
	if seq == 0 {
		return notFound(op) // an instant before the log's first event
	}
	rec, err := s.log.GetSealed(ctx, seq) // only its time
	if err != nil {
		return internalError(op)
	}
	targets, err := s.restoreTargets(ctx, seq, scope)
	if errors.Is(err, errDestroyedSince) {
		return transport.Response{Status: http.StatusConflict, Body: api.ErrorResponseFor(op, api.CodeConflict)}
	}
	if err != nil {
		s.logger.Error("restore: rebuild the earlier state", "as_of_seq", seq, "err", err)
		return internalError(op)
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
	if len(scope) == 0 {
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
		sv, err := past.Secret(ctx, path, 0)
		switch {
		case err == nil:
			targets = append(targets, restoreTarget{path: path, data: sv.Data})
		case errors.Is(err, projections.ErrVersionDestroyed):
			return nil, errDestroyedSince
		case isNotFound(err):
			targets = append(targets, restoreTarget{path: path, gone: true})
		default:
			return nil, err
		}
	}
	return targets, nil
}

// buildRestore compares each target with the state now and makes the
// events: the restore record, then a new version or deletes per path
// that differs.
func (s *Service) buildRestore(ctx context.Context, r *transport.Request, seq uint64, t time.Time, scope []string, targets []restoreTarget) outcome {
	op := api.OpRestorePointApply
	evs := []eventlog.Event{event(r, &events.RestorePointApplied{Paths: scope, AsOfSeq: seq, AsOfTime: t})}
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
				targets = append(targets, restoreTarget{path: p, gone: true})
			}
		}
	}
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
		case !tg.gone && (!readable || !maps.Equal(now.Data, tg.data)):
			// With the current version as CAS, so a path that requires
			// check-and-set takes the restore as it would a careful put.
			st, exists, err := s.state.load(ctx, s.proj, tg.path)
			if err != nil && !isNotFound(err) {
				return answerNow(internalError(op))
			}
			cur := 0
			if exists {
				cur = st.current
			}
			put := s.buildPut(ctx, r, api.SecretPutRequest{Path: tg.path, Values: tg.data, CAS: &cur})
			if len(put.events) == 0 {
				return answerNow(put.answer) // e.g. the path now requires CAS: refused as a put would be
			}
			evs = append(evs, put.events...)
		default:
			continue
		}
		changed = append(changed, tg.path)
	}
	return outcome{events: evs, durable: s.state.forgetAll,
		answerAfter: func(recs []eventlog.Record) transport.Response {
			return transport.Response{Body: api.RestorePointApplyResponse{Seq: recs[0].Seq, AsOfSeq: seq, AsOfTime: t.UTC(), Paths: changed}}
		}}
}
