package service

import (
	"context"
	"maps"
	"strconv"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// Patch and rollback (extensions) write a new version made from one the
// path holds, inside one step of the command loop: no other write comes
// between reading that version and writing the new one. They need write
// permission on the path, as a put does (neither shows the caller any
// data), are refused and recorded as a put is (check-and-set), and number
// the new version as a put does.

func (s *Service) secretPatch(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretPatch
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretPatchRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	if size := valuesSize(req.Values); size > s.maxValue {
		return refuseTooLarge(size, s.maxValue).response() // too large whatever it merges into
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		w := write{op: op, path: req.Path, cas: req.CAS, via: "patch"}
		st, out, ok := s.existingForWrite(ctx, r, w, nil)
		if !ok {
			return out
		}
		cur, err := s.proj.Secret(ctx, req.Path, 0)
		if err != nil {
			return s.unreadableWrite(ctx, r, w, 0, nil, err)
		}
		data := cur.Data
		maps.Copy(data, req.Values)
		for _, k := range req.Remove {
			delete(data, k)
		}
		defer clear(data)
		if size := valuesSize(data); size > s.maxValue {
			// Only the state makes it too large: a refusal to record.
			f := refuseTooLarge(size, s.maxValue)
			f.message = "merged into version " + strconv.Itoa(cur.Version) + ", " + f.message
			return refuse(r, op, req.Path, []int{cur.Version}, f)
		}
		out, _ = s.writeVersion(ctx, r, w, st, true, data)
		return out
	})
}

func (s *Service) secretRollback(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretRollback
	req, refusal, ok := admit(ctx, s, r, api.PermWrite, func(q api.SecretRollbackRequest) string { return q.Path })
	if !ok {
		return refusal
	}
	return s.do(ctx, req.Path, func(ctx context.Context) outcome {
		w := write{op: op, path: req.Path, cas: req.CAS, via: "rollback", from: req.Version}
		named := []int{req.Version}
		st, out, ok := s.existingForWrite(ctx, r, w, named)
		if !ok {
			return out
		}
		old, err := s.proj.Secret(ctx, req.Path, req.Version)
		if err != nil {
			return s.unreadableWrite(ctx, r, w, req.Version, named, err)
		}
		defer clear(old.Data)
		out, _ = s.writeVersion(ctx, r, w, st, true, old.Data)
		return out
	})
}

// existingForWrite reads the state of w's path, which must exist, and
// applies its check-and-set rule; when it refuses, the outcome records
// and answers that.
func (s *Service) existingForWrite(ctx context.Context, r *transport.Request, w write, named []int) (*pathState, outcome, bool) {
	st, exists, err := s.state.load(ctx, s.proj, w.path)
	switch {
	case err != nil && !isNotFound(err):
		return nil, answerNow(internalError(w.op)), false
	case !exists:
		return nil, refuse(r, w.op, w.path, named, refuseNoSuchPath(w.path)), false
	}
	if f, ok := checkCAS(st, w.cas); !ok {
		return nil, refuse(r, w.op, w.path, named, f), false
	}
	return st, outcome{}, true
}

// unreadableWrite refuses a write built from a version that cannot be
// read (deleted, destroyed, pruned or never written), saying which.
func (s *Service) unreadableWrite(ctx context.Context, r *transport.Request, w write, version int, named []int, err error) outcome {
	if !isNotFound(err) {
		return answerNow(internalError(w.op))
	}
	f, err := s.unreadable(ctx, w.path, version, err)
	if err != nil {
		return answerNow(internalError(w.op))
	}
	return refuse(r, w.op, w.path, named, f)
}
