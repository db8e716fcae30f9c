package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/seal"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// decode reads a request body as SPIKE does: decode, authorise, then
// validate (so an unauthorised bad request gets 401, not 400).
func decode[T api.Request](r *transport.Request) (T, error) {
	return api.Decode[T](bytes.NewReader(r.Body), int64(len(r.Body))+1)
}

func (s *Service) secretPut(ctx context.Context, r *transport.Request) transport.Response {
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretPutRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	if size := valuesSize(req.Values); size > s.maxValue {
		// Too large is refused before anything is recorded or changed.
		return refuseTooLarge(size, s.maxValue).response()
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		w := newWrite(api.OpSecretPut, req.Path, req.CAS)
		st, exists, f, ok := s.loadForWrite(ctx, r, w)
		if !ok {
			return f
		}
		out, _ := s.writeVersion(ctx, r, w, st, exists, req.Values)
		return out
	})
}

// write is a request to write a new version: a put, or a patch,
// rollback or restore (via) that writes one.
type write struct {
	op   api.Op
	path string
	cas  *int
	via  string
	from int // the version a rollback copies
}

func newWrite(op api.Op, path string, cas *int) write { return write{op: op, path: path, cas: cas} }

// loadForWrite reads the path's state for w and checks w's check-and-set
// against it; when it refuses, the outcome records and answers that.
func (s *Service) loadForWrite(ctx context.Context, r *transport.Request, w write) (st *pathState, exists bool, refused outcome, ok bool) {
	st, exists, err := s.state.load(ctx, s.proj, w.path)
	if err != nil && !isNotFound(err) {
		return nil, false, answerNow(internalError(w.op)), false
	}
	if !exists {
		st = &pathState{maxVersions: s.maxVersions}
	}
	if f, ok := checkCAS(st, w.cas); !ok {
		return nil, false, refuse(r, w.op, w.path, nil, f), false
	}
	return st, exists, outcome{}, true
}

// checkCAS applies a path's check-and-set rule to a write.
func checkCAS(st *pathState, cas *int) (refusal, bool) {
	switch {
	case cas == nil && st.casRequired:
		return refuseCASRequired(st.current), false
	case cas != nil && *cas != st.current:
		return refuseCASMismatch(*cas, st.current), false
	}
	return refusal{}, true
}

// writeVersion writes data as version max+1 of w's path (never reusing a
// number, unlike SPIKE's current+1: above every version the path holds,
// and above every version it had before a metadata delete removed it),
// prunes the oldest versions beyond the path's maximum for real, and
// shreds their value keys in the same append. It returns the version.
func (s *Service) writeVersion(ctx context.Context, r *transport.Request, w write, st *pathState, exists bool, data map[string]string) (outcome, int) {
	next := 1
	for _, v := range st.versions {
		next = max(next, v.version+1)
	}
	if len(st.versions) == 0 {
		floor, err := s.proj.VersionFloor(ctx, w.path)
		if err != nil {
			return answerNow(internalError(w.op)), 0
		}
		next = floor + 1
	}
	ev := &events.SecretVersionWritten{Path: w.path, Version: next, CAS: w.cas, Via: w.via, From: w.from}
	if !exists {
		ev.MaxVersions = st.maxVersions
	}
	var shred []eventlog.ValueKeyID
	if st.maxVersions > 0 { // 0: unlimited
		ev.Pruned, shred = s.pruneOldest(ctx, w.path, st.versions, len(st.versions)+1-st.maxVersions)
	}
	plain, err := json.Marshal(data)
	if err != nil {
		return answerNow(invalidRequest(err).response()), 0
	}
	vk := eventlog.NewValueKey()
	ev.ValueKey = vk.ID().String()
	ev.Sealed, err = vk.Seal(plain, events.ValueAAD(w.path, next))
	// Sealed for the projection here, while the value is at hand, rather
	// than opened again from the log to be resealed when it is applied.
	known := projections.Known{Payload: ev, Value: s.proj.SealValue(w.path, next, plain)}
	seal.Zero(plain)
	if err != nil {
		return answerNow(internalError(w.op)), 0
	}
	le := event(r, ev)
	le.NewValueKeys = []*eventlog.ValueKey{vk}
	le.DestroyValueKeys = shred
	prev := st
	if !exists {
		prev = nil
	}
	return outcome{events: []eventlog.Event{le}, known: []projections.Known{known}, answer: transport.Response{Body: writtenResponse(w.op, next)},
		durable: func() { s.state.written(w.path, prev, next, ev.ValueKey, ev.Pruned, st.maxVersions) }}, next
}

// writtenResponse is the answer of an operation that wrote version v.
func writtenResponse(op api.Op, v int) any {
	switch op {
	case api.OpSecretPatch:
		return api.SecretPatchResponse{Version: v}
	case api.OpSecretRollback:
		return api.SecretRollbackResponse{Version: v}
	}
	return api.SecretPutResponse{Version: v}
}

func valuesSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}

// pruneOldest picks the n oldest of versions (ascending) to prune, with
// the live value keys to shred in the same append; none when n <= 0.
func (s *Service) pruneOldest(ctx context.Context, path string, versions []versionState, n int) (pruned []int, shred []eventlog.ValueKeyID) {
	for _, v := range versions[:max(0, min(n, len(versions)))] {
		pruned = append(pruned, v.version)
		if id, ok := s.liveValueKey(ctx, path, v); ok {
			shred = append(shred, id)
		}
	}
	return pruned, shred
}

// liveValueKey is the value key of a version whose data still exists.
func (s *Service) liveValueKey(ctx context.Context, path string, v versionState) (eventlog.ValueKeyID, bool) {
	if v.destroyed {
		return eventlog.ValueKeyID{}, false
	}
	text := v.valueKey
	if text == "" {
		var err error
		if text, err = s.proj.ValueKey(ctx, path, v.version); err != nil || text == "" {
			return eventlog.ValueKeyID{}, false
		}
	}
	id, err := ulid.ParseStrict(text)
	if err != nil {
		return eventlog.ValueKeyID{}, false
	}
	// Destroying a key twice fails the whole append: skip dead ones.
	live, err := s.log.ValueKeyLive(ctx, id)
	return id, err == nil && live
}

func (s *Service) secretGet(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretGet
	req, refusal, ok := admit(ctx, s, r, api.PermRead, func(q api.SecretGetRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	return s.read(ctx, req.Path, func(ctx context.Context) outcome {
		sv, err := s.proj.Secret(ctx, req.Path, req.Version)
		if err != nil && !isNotFound(err) {
			return answerNow(internalError(op))
		}
		read := &events.SecretRead{Path: req.Path, Version: sv.Version, Outcome: events.OutcomeOK}
		created := sv.Created
		answer := transport.Response{Body: api.SecretGetResponse{Data: sv.Data, Version: sv.Version, CreatedTime: &created}}
		if err != nil {
			f, ierr := s.unreadable(ctx, req.Path, req.Version, err)
			if ierr != nil {
				return answerNow(internalError(op))
			}
			read.Outcome, read.Reason, answer = events.OutcomeNotFound, string(f.reason), f.response()
		}
		return outcome{events: []eventlog.Event{event(r, read)}, answer: answer}
	})
}

// unreadable says why version of path (0: the current one) could not be
// read, given the projection's error: no such path, no such version,
// deleted or destroyed.
func (s *Service) unreadable(ctx context.Context, path string, version int, err error) (refusal, error) {
	switch {
	case errors.Is(err, projections.ErrVersionDestroyed):
		return refuseNotFound(api.ReasonDestroyed, "no secret at %s version %d: it is destroyed, its data gone for good", path, version), nil
	case errors.Is(err, projections.ErrVersionDeleted):
		return refuseNotFound(api.ReasonDeleted, "no secret at %s version %d: it is deleted; undelete brings it back", path, version), nil
	}
	meta, merr := s.proj.Metadata(ctx, path)
	if isNotFound(merr) {
		return refuseNoSuchPath(path), nil
	}
	if merr != nil {
		return refusal{}, merr
	}
	if version != 0 {
		return noSuchVersion(meta, version), nil
	}
	return noCurrent(meta), nil
}

// noCurrent is the refusal of a path that exists with no readable
// version: every version is deleted (undelete one) or destroyed.
func noCurrent(meta projections.SecretMetadata) refusal {
	if v, ok := lastDeleted(meta); ok {
		return refuseNotFound(api.ReasonDeleted, "no secret at %s: every version is deleted or destroyed; undelete brings back a deleted one (the last deleted is %d)", meta.Path, v)
	}
	if len(meta.Versions) == 0 {
		return refuseNotFound(api.ReasonNoSuchVersion, "no secret at %s: it has no versions yet", meta.Path)
	}
	return refuseNotFound(api.ReasonDestroyed, "no secret at %s: every version is destroyed", meta.Path)
}

// noSuchVersion refuses a version the path does not hold: pruned, if it
// is older than every version held, or never written.
func noSuchVersion(meta projections.SecretMetadata, version int) refusal {
	if len(meta.Versions) > 0 && version < meta.Versions[0].Version {
		return refuseNotFound(api.ReasonNoSuchVersion, "no secret at %s version %d: it was pruned (%s)", meta.Path, version, heldText(meta))
	}
	return refuseNotFound(api.ReasonNoSuchVersion, "no secret at %s version %d: %s", meta.Path, version, heldText(meta))
}

// heldText names the versions a path holds, for a message.
func heldText(meta projections.SecretMetadata) string {
	if len(meta.Versions) == 0 {
		return "it holds no versions"
	}
	return fmt.Sprintf("it holds versions %d to %d", meta.Versions[0].Version, meta.Versions[len(meta.Versions)-1].Version)
}

func (s *Service) secretDelete(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretDelete
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretDeleteRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		meta, err := s.proj.Metadata(ctx, req.Path)
		if err != nil {
			return s.refusedOrFailed(r, op, req.Path, req.Versions, err)
		}
		// Only versions this delete changes: neither destroyed nor
		// deleted already. A delete that finds nothing to do is still
		// recorded, and answered as SPIKE answers it (200).
		var vs []int
		for _, info := range undestroyed(meta, req.Versions) {
			if info.Deleted == nil {
				vs = append(vs, info.Version)
			}
		}
		return outcome{events: []eventlog.Event{event(r, &events.SecretVersionsDeleted{Path: req.Path, Versions: vs})},
			answer: transport.Response{Body: api.SecretDeleteResponse{Versions: vs, CurrentVersion: currentAfter(meta, vs, nil)}}}
	})
}

// refusedOrFailed answers a write that could not read its path's
// metadata: a recorded no_such_path, or a 500. The versions recorded are
// those named, resolved as wanted does (a path that does not exist has
// no current version for a 0 to name).
func (s *Service) refusedOrFailed(r *transport.Request, op api.Op, path string, versions []int, err error) outcome {
	if isNotFound(err) {
		f := refuseNoSuchPath(path)
		if op == api.OpSecretUndelete {
			f.message = "nothing to undelete at " + path + ": no secret there"
		}
		return refuse(r, op, path, wanted(versions, 0), f)
	}
	s.logger.Error("read metadata", "op", op.String(), "request_id", r.ID, "err", err)
	return answerNow(internalError(op))
}

// currentAfter is the path's current version once the versions in gone
// stop being readable and those in back become readable again: the
// highest readable one, 0 if none.
func currentAfter(meta projections.SecretMetadata, gone, back []int) *int {
	cur := 0
	for _, info := range meta.Versions {
		readable := info.Deleted == nil && !info.Destroyed
		if slices.Contains(gone, info.Version) {
			readable = false
		}
		if slices.Contains(back, info.Version) {
			readable = true
		}
		if readable {
			cur = max(cur, info.Version)
		}
	}
	return &cur
}

func (s *Service) secretUndelete(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretUndelete
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretUndeleteRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		meta, err := s.proj.Metadata(ctx, req.Path)
		if err != nil {
			return s.refusedOrFailed(r, op, req.Path, req.Versions, err)
		}
		want := req.Versions
		if len(want) == 0 {
			// SPIKE targets the current, undeleted version here (bug #8);
			// the most recently deleted one is what an operator means.
			v, ok := lastDeleted(meta)
			if !ok {
				return refuse(r, op, req.Path, nil, refuseNotFound(api.ReasonNotDeleted, "nothing to undelete at %s: no version is deleted", req.Path))
			}
			want = []int{v}
		}
		named := wanted(want, meta.CurrentVersion)
		var vs []int
		for _, v := range named {
			if info, ok := versionInfo(meta, v); ok && info.Deleted != nil && !info.Destroyed {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			// Nothing was undeleted: 404, as SPIKE answers, saying why.
			return refuse(r, op, req.Path, named, whyNotUndeleted(meta, named))
		}
		return outcome{events: []eventlog.Event{event(r, &events.SecretVersionsUndeleted{Path: req.Path, Versions: vs})},
			answer: transport.Response{Body: api.SecretUndeleteResponse{Versions: vs, CurrentVersion: currentAfter(meta, nil, vs)}}}
	})
}

// whyNotUndeleted explains an undelete that found nothing to undelete
// among vs: a version destroyed outranks one that does not exist, which
// outranks one that is not deleted.
func whyNotUndeleted(meta projections.SecretMetadata, vs []int) refusal {
	var destroyed, missing []int
	for _, v := range vs {
		info, ok := versionInfo(meta, v)
		switch {
		case !ok:
			missing = append(missing, v)
		case info.Destroyed:
			destroyed = append(destroyed, v)
		}
	}
	switch {
	case len(destroyed) > 0:
		return refuseNotFound(api.ReasonDestroyed, "nothing to undelete at %s: %s %s destroyed", meta.Path, versionsText(destroyed), isAre(destroyed))
	case len(missing) > 0:
		return refuseNotFound(api.ReasonNoSuchVersion, "nothing to undelete at %s: it has no %s (%s)", meta.Path, versionsText(missing), heldText(meta))
	}
	return refuseNotFound(api.ReasonNotDeleted, "nothing to undelete at %s: %s %s not deleted", meta.Path, versionsText(vs), isAre(vs))
}

// versionsText names versions for a message: "version 2", "versions 1, 3".
func versionsText(vs []int) string {
	if len(vs) == 1 {
		return "version " + strconv.Itoa(vs[0])
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = strconv.Itoa(v)
	}
	return "versions " + strings.Join(s, ", ")
}

func isAre(vs []int) string {
	if len(vs) == 1 {
		return "is"
	}
	return "are"
}

// secretList lists paths. A caller with the list permission (on
// spike/system/secret) sees every path, as in SPIKE; any other caller sees
// only the paths it may read, where SPIKE refuses it outright. Prefix,
// cursor and page size are extensions.
func (s *Service) secretList(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretList
	req, err := api.DecodeRequest[api.SecretListRequest](bytes.NewReader(r.Body), int64(len(r.Body))+1)
	if err != nil {
		return invalidRequest(err).response()
	}
	authz := s.authz.Load()
	all := authz.Allow(r.Peer, api.SystemPathSecret, api.PermList)
	paths, err := s.proj.Paths(ctx)
	if err != nil {
		return internalError(op)
	}
	keys := []string{}
	next := ""
	for _, p := range paths {
		if !strings.HasPrefix(p, req.Prefix) || (req.After != "" && p <= req.After) {
			continue
		}
		if !all && !authz.Allow(r.Peer, p, api.PermRead) {
			continue
		}
		if req.Limit > 0 && len(keys) == req.Limit {
			next = keys[len(keys)-1]
			break
		}
		keys = append(keys, p)
	}
	return transport.Response{Body: api.SecretListResponse{Keys: keys, Next: next}}
}

// secretMetadata answers a path's metadata. Like SPIKE it is 404 when
// the version asked for (the current one by default) cannot be read; with
// includeDeleted (extension) it answers whenever the path exists, so an
// operator sees what there is to undelete.
func (s *Service) secretMetadata(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretMetadataGet
	req, refusal, ok := admit(ctx, s, r, api.PermRead, func(q api.SecretMetadataGetRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	meta, err := s.proj.Metadata(ctx, req.Path)
	if isNotFound(err) {
		return refuseNoSuchPath(req.Path).response()
	}
	if err != nil {
		return internalError(op)
	}
	if req.Version != 0 {
		info, ok := versionInfo(meta, req.Version)
		switch {
		case !ok:
			return noSuchVersion(meta, req.Version).response()
		case req.IncludeDeleted:
		case info.Destroyed:
			return refuseNotFound(api.ReasonDestroyed, "no readable version %d at %s: it is destroyed", req.Version, req.Path).response()
		case info.Deleted != nil:
			return refuseNotFound(api.ReasonDeleted, "no readable version %d at %s: it is deleted (includeDeleted shows it; undelete brings it back)", req.Version, req.Path).response()
		}
	} else if meta.CurrentVersion == 0 && !req.IncludeDeleted {
		return noCurrent(meta).response()
	}
	resp := api.SecretMetadataGetResponse{Versions: map[int]api.SecretVersionInfo{}, Metadata: api.SecretMetadata{
		CurrentVersion: meta.CurrentVersion, OldestVersion: meta.OldestVersion, CreatedTime: meta.Created,
		UpdatedTime: meta.Updated, MaxVersions: meta.MaxVersions}}
	for _, info := range meta.Versions {
		resp.Versions[info.Version] = api.SecretVersionInfo{CreatedTime: info.Created, Version: info.Version, DeletedTime: info.Deleted, Destroyed: info.Destroyed}
	}
	return transport.Response{Body: resp}
}

// wanted resolves SPIKE's version list: empty means the current version,
// and 0 inside it does too. The result is ascending, each version once:
// what accepted and refused requests alike record.
func wanted(vs []int, current int) []int {
	if len(vs) == 0 {
		vs = []int{0}
	}
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if v == 0 {
			v = current
		}
		if v > 0 {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// undestroyed resolves SPIKE's version list (see wanted) to the versions
// the path holds whose data is not destroyed, ascending: what delete and
// destroy act on.
func undestroyed(m projections.SecretMetadata, requested []int) []projections.VersionInfo {
	var out []projections.VersionInfo
	for _, v := range wanted(requested, m.CurrentVersion) {
		if info, ok := versionInfo(m, v); ok && !info.Destroyed {
			out = append(out, info)
		}
	}
	return out
}

func versionInfo(m projections.SecretMetadata, v int) (projections.VersionInfo, bool) {
	for _, info := range m.Versions {
		if info.Version == v {
			return info, true
		}
	}
	return projections.VersionInfo{}, false
}

// lastDeleted is the version deleted most recently (the highest, on a tie).
func lastDeleted(m projections.SecretMetadata) (int, bool) {
	best, found := projections.VersionInfo{}, false
	for _, info := range m.Versions {
		if info.Deleted == nil || info.Destroyed {
			continue
		}
		if !found || !info.Deleted.Before(*best.Deleted) {
			best, found = info, true
		}
	}
	return best.Version, found
}

// notFoundOr answers a read that could not find what it named: SPIKE's
// 404, or a 500 for any other error.
func notFoundOr(op api.Op, err error) transport.Response {
	if isNotFound(err) {
		return notFound(op)
	}
	return internalError(op)
}
