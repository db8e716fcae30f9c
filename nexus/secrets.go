package nexus

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
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
func decode[T api.Request](r *transport.Request) (T, bool) {
	v, err := api.Decode[T](bytes.NewReader(r.Body), int64(len(r.Body))+1)
	return v, err == nil
}

func (s *Service) secretPut(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretPut
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretPutRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	if valuesSize(req.Values) > s.maxValue {
		// Too large is refused before anything is recorded or changed.
		return badRequest(op)
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome { return s.buildPut(ctx, r, req) })
}

// buildPut writes version max+1 (never reusing a number, unlike SPIKE's
// current+1), prunes the oldest versions beyond the path's maximum for
// real, and shreds their value keys in the same append.
func (s *Service) buildPut(ctx context.Context, r *transport.Request, req api.SecretPutRequest) outcome {
	op := api.OpSecretPut
	st, exists, err := s.state.load(ctx, s.proj, req.Path)
	if err != nil && !isNotFound(err) {
		return answerNow(internalError(op))
	}
	if !exists {
		st = &pathState{maxVersions: s.maxVersions}
	}
	if req.CAS == nil && st.casRequired {
		return answerNow(badRequest(op)) // the path requires check-and-set
	}
	if req.CAS != nil && *req.CAS != st.current {
		return answerNow(transport.Response{Status: http.StatusConflict, Body: api.ErrorResponseFor(op, api.CodeConflict)})
	}
	next := 1
	for _, v := range st.versions {
		next = max(next, v.version+1)
	}
	w := &events.SecretVersionWritten{Path: req.Path, Version: next, CAS: req.CAS}
	if !exists {
		w.MaxVersions = st.maxVersions
	}
	var shred []eventlog.ValueKeyID
	if st.maxVersions > 0 { // 0: unlimited
		w.Pruned, shred = s.pruneOldest(ctx, req.Path, st.versions, len(st.versions)+1-st.maxVersions)
	}
	plain, err := json.Marshal(req.Values)
	if err != nil {
		return answerNow(badRequest(op))
	}
	vk := eventlog.NewValueKey()
	w.ValueKey = vk.ID().String()
	w.Sealed, err = vk.Seal(plain, events.ValueAAD(req.Path, next))
	seal.Zero(plain)
	if err != nil {
		return answerNow(internalError(op))
	}
	ev := event(r, w)
	ev.NewValueKeys = []*eventlog.ValueKey{vk}
	ev.DestroyValueKeys = shred
	resp := api.SecretPutResponse{Version: next}
	prev := st
	if !exists {
		prev = nil
	}
	return outcome{events: []eventlog.Event{ev}, answer: transport.Response{Body: resp},
		durable: func() { s.state.written(req.Path, prev, next, w.ValueKey, w.Pruned, st.maxVersions) }}
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
		answer := transport.Response{Body: api.SecretGetResponse{Data: sv.Data, Version: sv.Version}}
		if err != nil {
			read.Outcome, answer = events.OutcomeNotFound, notFound(op)
		}
		return outcome{events: []eventlog.Event{event(r, read)}, answer: answer}
	})
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
			return answerNow(notFoundOr(op, err))
		}
		var vs []int
		for _, info := range undestroyed(meta, req.Versions) {
			vs = append(vs, info.Version)
		}
		if len(vs) == 0 {
			return answerNow(transport.Response{Body: api.SecretDeleteResponse{}})
		}
		return outcome{events: []eventlog.Event{event(r, &events.SecretVersionsDeleted{Path: req.Path, Versions: vs})},
			answer: transport.Response{Body: api.SecretDeleteResponse{}}}
	})
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
			return answerNow(notFoundOr(op, err))
		}
		want := req.Versions
		if len(want) == 0 {
			// SPIKE targets the current, undeleted version here (bug #8);
			// the most recently deleted one is what an operator means.
			if v, ok := lastDeleted(meta); ok {
				want = []int{v}
			}
		}
		var vs []int
		for _, v := range wanted(want, meta.CurrentVersion) {
			if info, ok := versionInfo(meta, v); ok && info.Deleted != nil && !info.Destroyed {
				vs = append(vs, v)
			}
		}
		if len(vs) == 0 {
			return answerNow(notFound(op)) // nothing was undeleted, as SPIKE answers
		}
		return outcome{events: []eventlog.Event{event(r, &events.SecretVersionsUndeleted{Path: req.Path, Versions: vs})},
			answer: transport.Response{Body: api.SecretUndeleteResponse{}}}
	})
}

// secretList lists paths. A caller with the list permission (on
// spike/system/secret) sees every path, as in SPIKE; any other caller sees
// only the paths it may read, where SPIKE refuses it outright. Prefix,
// cursor and page size are extensions.
func (s *Service) secretList(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretList
	req, ok := decode[api.SecretListRequest](r)
	if !ok || req.Validate() != nil {
		return badRequest(op)
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

func (s *Service) secretMetadata(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretMetadataGet
	req, refusal, ok := admit(ctx, s, r, api.PermRead, func(q api.SecretMetadataGetRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	meta, err := s.proj.Metadata(ctx, req.Path)
	if err != nil {
		return notFoundOr(op, err)
	}
	v := req.Version
	if v == 0 {
		v = meta.CurrentVersion
	}
	if info, ok := versionInfo(meta, v); !ok || info.Deleted != nil || info.Destroyed {
		return notFound(op)
	}
	resp := api.SecretMetadataGetResponse{Versions: map[int]api.SecretVersionInfo{}, Metadata: api.SecretMetadata{
		CurrentVersion: meta.CurrentVersion, OldestVersion: meta.OldestVersion, CreatedTime: meta.Created,
		UpdatedTime: meta.Updated, MaxVersions: meta.MaxVersions}}
	for _, info := range meta.Versions {
		resp.Versions[info.Version] = api.SecretVersionInfo{CreatedTime: info.Created, Version: info.Version, DeletedTime: info.Deleted}
	}
	return transport.Response{Body: resp}
}

// wanted resolves SPIKE's version list: empty means the current version,
// and 0 inside it does too.
func wanted(vs []int, current int) []int {
	if len(vs) == 0 {
		vs = []int{0}
	}
	var out []int
	for _, v := range vs {
		if v == 0 {
			v = current
		}
		if v > 0 && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
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

func notFoundOr(op api.Op, err error) transport.Response {
	if isNotFound(err) {
		return notFound(op)
	}
	return internalError(op)
}
