package service

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
	"github.com/spikeledger/spike/nexus/internal/authz"
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

// restoreTarget is what a path should read after the restore: data (of
// version version then), nothing readable (gone), or data destroyed
// since (destroyed). known marks a path that existed at the point or
// exists now.
type restoreTarget struct {
	path      string
	data      map[string]string
	version   int
	gone      bool
	destroyed bool
	known     bool
}

// restoreArgs are the fields a plan and an apply share.
type restoreArgs struct {
	scope projections.Scope
	seq   uint64
	time  *time.Time
	point uint64
}

// restorePoint is a resolved point: its sequence number and time.
type restorePoint struct {
	seq  uint64
	time time.Time
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
	args := restoreArgs{scope: projections.Scope{Paths: req.Paths, Prefix: req.Prefix}, seq: req.AsOfSeq, time: req.AsOfTime, point: req.Point}
	if resp, ok := s.allowRestore(ctx, r, op, args.scope); !ok {
		return resp
	}
	// From here on a refusal is recorded, through the loop, before the
	// caller hears of it: a restore is a write.
	refused := func(f refusal) transport.Response {
		target := ""
		if len(args.scope.Paths) == 1 {
			target = args.scope.Paths[0]
		}
		return s.read(ctx, restoreKey, func(context.Context) outcome { return refuse(r, op, target, nil, f) })
	}
	release, f, ok := s.restoreSlot(ctx)
	if !ok {
		return f.response() // load shed, not a refusal of the request itself: no event
	}
	defer release()
	at, targets, f, ok := s.restoreState(ctx, args)
	if !ok {
		if f.status == 0 {
			return internalError(op)
		}
		return refused(f)
	}
	if resp, ok := s.allowTargets(ctx, r, op, args.scope, targets); !ok {
		return resp
	}
	return s.submit(&command{ctx: ctx, key: restoreKey, write: true, barrier: true, reply: make(chan transport.Response, 1),
		build: func(ctx context.Context) outcome {
			return s.applyRestore(ctx, r, req, at, args.scope, targets)
		}})
}

func (s *Service) restorePlan(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpRestorePlan
	req, err := decode[api.RestorePlanRequest](r)
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		return invalidRequest(err).response()
	}
	if resp, ok := s.checkStoredPaths(ctx, op, req); !ok {
		return resp
	}
	args := restoreArgs{scope: projections.Scope{Paths: req.Paths, Prefix: req.Prefix}, seq: req.AsOfSeq, time: req.AsOfTime, point: req.Point}
	// A plan shows versions and key names, never values: what an
	// auditor may see of history, as restore-point list; anyone who may
	// apply the restore may plan it too.
	auditor := s.authz.Load().Decide(r.Peer, api.SystemPathAudit, api.PermRead) != authz.Denied
	if !auditor {
		if resp, ok := s.allowRestore(ctx, r, op, args.scope); !ok {
			return resp
		}
	}
	release, f, ok := s.restoreSlot(ctx)
	if !ok {
		return f.response()
	}
	defer release()
	at, targets, f, ok := s.restoreState(ctx, args)
	if !ok {
		if f.status == 0 {
			return internalError(op)
		}
		return f.response() // a plan changes nothing: its refusals are not events
	}
	if !auditor {
		if resp, ok := s.allowTargets(ctx, r, op, args.scope, targets); !ok {
			return resp
		}
	}
	// The base is read before the state it is compared with: a change
	// applied meanwhile is after the base, so an apply with this base
	// refuses rather than act on a plan that missed it.
	base := s.proj.LastApplied()
	actions, err := s.planRestore(ctx, args.scope, targets)
	if err != nil {
		s.logger.Error("restore plan", "as_of_seq", at.seq, "err", err)
		return internalError(op)
	}
	return transport.Response{Body: api.RestorePlanResponse{BaseSeq: base, AsOfSeq: at.seq, AsOfTime: at.time.UTC(), Actions: actions, Counts: api.Count(actions)}}
}

// allowRestore authorises a restore of scope: write on each named path,
// super on spike/system/secret for every path. A prefix is checked path
// by path once its paths are known (allowTargets).
func (s *Service) allowRestore(ctx context.Context, r *transport.Request, op api.Op, scope projections.Scope) (transport.Response, bool) {
	if scope.All() {
		return s.allow(ctx, r, op, api.SystemPathSecret, api.PermSuper)
	}
	for _, p := range scope.Paths {
		if resp, ok := s.allow(ctx, r, op, p, api.PermWrite); !ok {
			return resp, false
		}
	}
	return transport.Response{}, true
}

// defaultRestoreWait is how long a restore waits for the one running
// before it to finish before it is refused as busy.
const defaultRestoreWait = 10 * time.Second

// restoreSlot takes the one slot of restore work (a plan or an apply):
// each rebuilds past state outside the command loop, so without a bound
// concurrent restores would each hold a projection in memory at once.
// A restore waits for the slot up to s.restoreWait, then is refused
// (429, busy). release gives the slot back.
func (s *Service) restoreSlot(ctx context.Context) (release func(), f refusal, ok bool) {
	t := time.NewTimer(s.restoreWait)
	defer t.Stop()
	select {
	case s.restoring <- struct{}{}:
		return func() { <-s.restoring }, refusal{}, true
	case <-t.C:
	case <-ctx.Done():
	}
	return nil, refusal{status: http.StatusTooManyRequests, code: api.CodeBusy, reason: api.ReasonBusy,
		message: "a restore (plan or apply) is running and restores run one at a time: try again when it is done"}, false
}

// restoreState resolves the point and reads what each path in scope read
// then. A refusal with status 0 is an internal error, already logged.
func (s *Service) restoreState(ctx context.Context, args restoreArgs) (restorePoint, []restoreTarget, refusal, bool) {
	at, f, ok := s.resolvePoint(ctx, args)
	if !ok {
		return at, nil, f, false
	}
	targets, err := s.restoreTargets(ctx, at.seq, args.scope)
	if err != nil {
		s.logger.Error("restore: rebuild the earlier state", "as_of_seq", at.seq, "err", err)
		return at, nil, refusal{}, false
	}
	if len(args.scope.Paths) > 0 && !slices.ContainsFunc(targets, func(tg restoreTarget) bool { return tg.known }) {
		return at, nil, refuseNotFound(api.ReasonNoSuchPath, "no secret at %s, at seq %d or now", strings.Join(args.scope.Paths, ", "), at.seq), false
	}
	if args.scope.Prefix != "" && len(targets) == 0 {
		return at, nil, refuseNotFound(api.ReasonNoSuchPath, "no secret under %s, at seq %d or now", args.scope.Prefix, at.seq), false
	}
	return at, targets, refusal{}, true
}

// allowTargets authorises write on each path of a prefix's restore, once
// they are known: a policy that grants write under the prefix is enough.
func (s *Service) allowTargets(ctx context.Context, r *transport.Request, op api.Op, scope projections.Scope, targets []restoreTarget) (transport.Response, bool) {
	if scope.Prefix == "" {
		return transport.Response{}, true // checked before: allowRestore
	}
	for _, tg := range targets {
		if resp, ok := s.allow(ctx, r, op, tg.path, api.PermWrite); !ok {
			return resp, false
		}
	}
	return transport.Response{}, true
}

// resolvePoint turns the point asked for into a sequence number and time.
func (s *Service) resolvePoint(ctx context.Context, args restoreArgs) (restorePoint, refusal, bool) {
	size := s.log.Size()
	at := projections.AsOf{Seq: args.seq}
	switch {
	case args.point != 0:
		if _, ok, err := s.log.CheckpointAt(ctx, args.point); err != nil {
			s.logger.Error("restore: find the restore point", "err", err)
			return restorePoint{}, refusal{}, false
		} else if !ok {
			return restorePoint{}, refuseNotFound(api.ReasonNoSuchPoint, "no restore point at seq %d: spike restore list shows the log's signed checkpoints", args.point), false
		}
		at.Seq = args.point
	case args.seq > size:
		return restorePoint{}, refuseFuture("no such point in the log yet: seq %d is beyond its end, %d", args.seq, size), false
	case args.time != nil:
		if now := time.Now(); args.time.After(now) {
			return restorePoint{}, refuseFuture("no such point in the log yet: %s is in the future (it is now %s)", args.time.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), false
		}
		at.Time = *args.time
	}
	seq, err := at.Resolve(ctx, s.log)
	if err != nil {
		s.logger.Error("restore: find the point", "err", err)
		return restorePoint{}, refusal{}, false
	}
	if seq == 0 {
		return restorePoint{}, refuseNotFound(api.ReasonBeforeStart, "no such point in the log: %s is before its first event, so there is nothing to restore to", at.Time.UTC().Format(time.RFC3339Nano)), false
	}
	rec, err := s.log.GetSealed(ctx, seq) // only its time
	if err != nil {
		s.logger.Error("restore: read the point", "seq", seq, "err", err)
		return restorePoint{}, refusal{}, false
	}
	return restorePoint{seq: seq, time: rec.Time}, refusal{}, true
}

// restoreKey is the conflict key of a restore; as a barrier it conflicts
// with everything anyway.
const restoreKey = "\x00restore"

// restoreTargets rebuilds the state of scope at seq in a scratch
// projection (replaying only the events of its paths) and reads, for
// each path in scope (every path of it then and now, unless paths are
// named), what a reader saw.
func (s *Service) restoreTargets(ctx context.Context, seq uint64, scope projections.Scope) ([]restoreTarget, error) {
	// Derive the projection key under the root key's lock, but replay
	// without it: a replay takes as long as the scope's history is long.
	var key []byte
	err := s.withKey(func(root []byte) error {
		var err error
		key, err = projections.KeyFromRoot(root)
		return err
	})
	if err != nil {
		return nil, err
	}
	past, err := projections.BuildAsOfScope(ctx, s.proj, seq, scope, projections.Options{Memory: true, Key: key, Logger: s.logger})
	seal.Zero(key)
	if err != nil {
		return nil, err
	}
	defer past.Close()
	named := len(scope.Paths) > 0
	paths := scope.Paths
	if !named {
		then, err := past.PathsIn(ctx, scope)
		if err != nil {
			return nil, err
		}
		now, err := s.proj.PathsIn(ctx, scope)
		if err != nil {
			return nil, err
		}
		paths = append(then, now...)
		slices.Sort(paths)
		paths = slices.Compact(paths)
	}
	targets := make([]restoreTarget, 0, len(paths))
	for _, path := range paths {
		known := true // every path then or now, when none is named
		if named {
			if known, err = existsIn(ctx, path, past, s.proj); err != nil {
				return nil, err
			}
		}
		sv, err := past.Secret(ctx, path, 0)
		switch {
		case err == nil:
			targets = append(targets, restoreTarget{path: path, data: sv.Data, version: sv.Version, known: true})
		case errors.Is(err, projections.ErrVersionDestroyed):
			targets = append(targets, restoreTarget{path: path, destroyed: true, known: true})
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

// planRestore compares each target with the state now and says what a
// restore does to each path: the plan. It changes nothing; the apply
// runs it inside the loop, where the state cannot move under it. A path
// of a scope (not named) written since the targets were read had
// nothing readable at the point, so it is planned as gone.
func (s *Service) planRestore(ctx context.Context, scope projections.Scope, targets []restoreTarget) ([]api.RestoreAction, error) {
	if len(scope.Paths) == 0 {
		now, err := s.proj.PathsIn(ctx, scope)
		if err != nil {
			return nil, err
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
	actions := make([]api.RestoreAction, 0, len(targets))
	for _, tg := range targets {
		a, err := s.planPath(ctx, tg)
		if err != nil {
			return nil, err
		}
		actions = append(actions, a)
	}
	return actions, nil
}

// planPath is the action of one path.
func (s *Service) planPath(ctx context.Context, tg restoreTarget) (api.RestoreAction, error) {
	a := api.RestoreAction{Path: tg.path, AsOfVersion: tg.version}
	now, err := s.proj.Secret(ctx, tg.path, 0)
	if err != nil && !isNotFound(err) {
		return a, err
	}
	readable := err == nil
	if readable {
		a.FromVersion = now.Version
	}
	switch {
	case tg.destroyed:
		a.Action, a.Reason = api.RestoreImpossible, "the data it had then has been destroyed since"
	case tg.gone && readable:
		meta, err := s.proj.Metadata(ctx, tg.path)
		if err != nil {
			return a, err
		}
		for _, v := range meta.Versions {
			if v.Deleted == nil && !v.Destroyed {
				a.Deleted = append(a.Deleted, v.Version)
			}
		}
		a.Action = api.RestoreDelete
	case tg.gone:
		a.Action, a.Reason = api.RestoreNothing, "nothing readable then or now"
	case !readable || !maps.Equal(now.Data, tg.data):
		a.Action, a.Keys = api.RestoreWrite, slices.Sorted(maps.Keys(tg.data))
	default:
		a.Action, a.Reason = api.RestoreNothing, "reads now as it did then"
	}
	return a, nil
}

// applyRestore is the restore in the loop: it checks the plan's base,
// plans again against the state as it is (which, the base checked,
// is the state the plan saw) and executes that plan.
func (s *Service) applyRestore(ctx context.Context, r *transport.Request, req api.RestorePointApplyRequest, at restorePoint, scope projections.Scope, targets []restoreTarget) outcome {
	op := api.OpRestorePointApply
	target := ""
	if len(scope.Paths) == 1 {
		target = scope.Paths[0]
	}
	if req.BaseSeq != 0 && !req.Force {
		path, seq, changed, err := s.proj.ChangedSince(ctx, scope, req.BaseSeq)
		if err != nil {
			s.logger.Error("restore: changes since the plan", "base_seq", req.BaseSeq, "err", err)
			return answerNow(internalError(op))
		}
		if changed {
			return refuse(r, op, target, nil, refusal{status: http.StatusConflict, code: api.CodeConflict, reason: api.ReasonPlanStale,
				message: fmt.Sprintf("%s changed at seq %d, after the plan's base seq %d: plan again (spike restore plan), or apply with --force", path, seq, req.BaseSeq)})
		}
	}
	actions, err := s.planRestore(ctx, scope, targets)
	if err != nil {
		s.logger.Error("restore plan", "as_of_seq", at.seq, "err", err)
		return answerNow(internalError(op))
	}
	if !req.Force {
		if i := slices.IndexFunc(actions, func(a api.RestoreAction) bool { return a.Action == api.RestoreImpossible }); i >= 0 {
			return refuse(r, op, target, nil, refusal{status: http.StatusConflict, code: api.CodeConflict, reason: api.ReasonDestroyed,
				message: fmt.Sprintf("%s had data at seq %d that has been destroyed since: it cannot be restored (--force restores the other paths)", actions[i].Path, at.seq)})
		}
	}
	data := make(map[string]map[string]string, len(targets))
	for _, tg := range targets {
		data[tg.path] = tg.data
	}
	return s.executeRestore(ctx, r, at, scope, actions, data)
}

// executeRestore makes the events of a plan: the restore record, naming
// the point and every change, then a new version or deletes per path
// whose action says so. It fills in the versions written.
func (s *Service) executeRestore(ctx context.Context, r *transport.Request, at restorePoint, scope projections.Scope, actions []api.RestoreAction, data map[string]map[string]string) outcome {
	op := api.OpRestorePointApply
	var evs []eventlog.Event
	var changes []events.RestoreChange
	var changed []string
	for i, a := range actions {
		switch a.Action {
		case api.RestoreDelete:
			evs = append(evs, event(r, &events.SecretVersionsDeleted{Path: a.Path, Versions: a.Deleted}))
			changes = append(changes, events.RestoreChange{Path: a.Path, Deleted: a.Deleted})
		case api.RestoreWrite:
			// With the current version as CAS, so a path that requires
			// check-and-set takes the restore as it would a careful put.
			st, exists, err := s.state.load(ctx, s.proj, a.Path)
			if err != nil && !isNotFound(err) {
				return answerNow(internalError(op))
			}
			if !exists {
				st = &pathState{maxVersions: s.maxVersions}
			}
			cur := st.current
			put, v := s.writeVersion(ctx, r, write{op: op, path: a.Path, cas: &cur, via: "restore"}, st, exists, data[a.Path])
			if len(put.events) == 0 {
				return answerNow(put.answer)
			}
			evs = append(evs, put.events...)
			changes = append(changes, events.RestoreChange{Path: a.Path, Written: v})
			actions[i].Written = v
		default:
			continue
		}
		changed = append(changed, a.Path)
	}
	record := event(r, &events.RestorePointApplied{Paths: scope.Paths, Prefix: scope.Prefix, AsOfSeq: at.seq, AsOfTime: at.time, Changes: changes})
	counts := api.Count(actions)
	return outcome{events: append([]eventlog.Event{record}, evs...), durable: s.state.forgetAll,
		answerAfter: func(recs []eventlog.Record) transport.Response {
			return transport.Response{Body: api.RestorePointApplyResponse{Seq: recs[0].Seq, AsOfSeq: at.seq, AsOfTime: at.time.UTC(),
				Paths: changed, Actions: actions, Counts: &counts}}
		}}
}
