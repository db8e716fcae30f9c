package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// The audit routes answer from the projection's access history and from
// the log's tree; they need read on api.SystemPathAudit (the pilot
// auditor role, the superuser, or a policy granting it). Searching the
// history is not itself recorded: it reveals who did what, never a
// value; a refusal is recorded like any other.

func auditPath[T any](T) string { return api.SystemPathAudit }

func (s *Service) secretHistory(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpSecretHistory
	req, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.SecretHistoryRequest])
	if !ok {
		return refusal
	}
	return s.history(ctx, op, projections.HistoryQuery{Target: req.Path}, req.Page, func(evs []api.AuditEvent, next uint64) any {
		return api.SecretHistoryResponse{Events: evs, Next: next}
	})
}

func (s *Service) auditList(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpAuditList
	req, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.AuditListRequest])
	if !ok {
		return refusal
	}
	if msg := unknownTypes(req.Types); msg != "" {
		return refuseInvalid(msg)
	}
	q := projections.HistoryQuery{Target: req.Path, TargetPrefix: req.PathPrefix, Actor: req.Actor, Types: req.Types, Outcomes: req.Outcomes}
	return s.history(ctx, op, q, req.Page, func(evs []api.AuditEvent, next uint64) any {
		return api.AuditListResponse{Events: evs, Next: next}
	})
}

// unknownTypes says which of types the event catalogue does not know, and
// which it does; "" if it knows them all. A misspelt type would
// otherwise match nothing, and an empty answer would read as "no such
// events".
func unknownTypes(types []string) string {
	var bad []string
	for _, t := range types {
		if _, ok := events.CurrentSchema(t); !ok {
			bad = append(bad, strconv.Quote(t))
		}
	}
	if len(bad) == 0 {
		return ""
	}
	noun := "type"
	if len(bad) > 1 {
		noun = "types"
	}
	return fmt.Sprintf("unknown event %s %s; the event types are %s", noun, strings.Join(bad, ", "), strings.Join(events.Types(), ", "))
}

// refuseInvalid is a 400 that says what was wrong (an [api.Problem]).
func refuseInvalid(msg string) transport.Response {
	return transport.Response{Status: http.StatusBadRequest, Body: api.Problem{Err: api.CodeBadRequest, Reason: api.ReasonInvalid, Message: msg}}
}

// history runs q over one page and shapes the answer with wrap.
func (s *Service) history(ctx context.Context, op api.Op, q projections.HistoryQuery, page api.Page, wrap func([]api.AuditEvent, uint64) any) transport.Response {
	q.After, q.Limit = page.After, page.Limit
	if page.Since != nil {
		q.From = *page.Since
	}
	if page.Until != nil {
		q.To = *page.Until
	}
	// Every event answered so far is in the history it searches.
	err := s.applier.current(ctx)
	var rows []projections.Access
	var next uint64
	if err == nil {
		rows, next, err = s.proj.History(ctx, q)
	}
	if err != nil {
		s.logger.Error("history query failed", "op", op.String(), "err", err)
		return internalError(op)
	}
	evs := make([]api.AuditEvent, len(rows))
	for i, a := range rows {
		evs[i] = auditEvent(a)
	}
	return transport.Response{Body: wrap(evs, next)}
}

// refusedType is the type of a refused write's event, whose detail
// starts with the action, as a denial's does.
var refusedType = (&events.RequestRefused{}).Type()

func auditEvent(a projections.Access) api.AuditEvent {
	e := api.AuditEvent{Seq: a.Seq, Time: a.Time.UTC(), Type: a.Type, Actor: a.Actor, Path: a.Target,
		Versions: a.Versions, Outcome: a.Outcome, RequestID: a.RequestID, Detail: a.Detail}
	if a.Outcome == events.OutcomeDenied || a.Type == refusedType {
		e.Action, _, _ = strings.Cut(a.Detail, " ")
	}
	return e
}

func (s *Service) auditCheckpoint(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpAuditCheckpoint
	if _, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.AuditCheckpointRequest]); !ok {
		return refusal
	}
	cp, ok, err := s.log.LatestCheckpoint(ctx)
	if err != nil {
		s.logger.Error("read checkpoint", "err", err)
		return internalError(op)
	}
	if !ok {
		return notFound(op)
	}
	vkey, err := s.log.VerifierKey(ctx)
	if err != nil {
		s.logger.Error("read verifier key", "err", err)
		return internalError(op)
	}
	return transport.Response{Body: api.AuditCheckpointResponse{Checkpoint: string(cp.Note), Size: cp.Size, RootHash: cp.Root[:], VerifierKey: vkey}}
}

// treeSize resolves a requested tree size: 0 is the latest checkpoint's.
// It returns the checkpoint signed at that size, if there is one.
func (s *Service) treeSize(ctx context.Context, size uint64) (uint64, string, error) {
	if size == 0 {
		cp, ok, err := s.log.LatestCheckpoint(ctx)
		if err != nil {
			return 0, "", err
		}
		if !ok {
			return 0, "", projections.ErrNotFound
		}
		return cp.Size, string(cp.Note), nil
	}
	if size > s.log.Size() {
		return 0, "", projections.ErrNotFound
	}
	cp, ok, err := s.log.CheckpointAt(ctx, size)
	if err != nil {
		return 0, "", err
	}
	if !ok {
		return size, "", nil
	}
	return size, string(cp.Note), nil
}

func (s *Service) auditProof(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpAuditProof
	req, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.AuditProofRequest])
	if !ok {
		return refusal
	}
	size, note, err := s.treeSize(ctx, req.TreeSize)
	if err != nil {
		return s.notFoundOrLog(op, err)
	}
	if req.Seq > size {
		return notFound(op)
	}
	proof, err := s.log.InclusionProof(ctx, req.Seq, size)
	if err != nil {
		s.logger.Error("inclusion proof", "err", err)
		return internalError(op)
	}
	leaf, err := s.log.LeafHash(ctx, req.Seq)
	if err != nil {
		s.logger.Error("leaf hash", "seq", req.Seq, "err", err)
		return internalError(op)
	}
	return transport.Response{Body: api.AuditProofResponse{Seq: req.Seq, TreeSize: size, LeafHash: leaf[:], Proof: hashes(proof), Checkpoint: note}}
}

func (s *Service) auditConsistency(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpAuditConsistency
	req, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.AuditConsistencyRequest])
	if !ok {
		return refusal
	}
	size, note, err := s.treeSize(ctx, req.NewSize)
	if err != nil {
		return s.notFoundOrLog(op, err)
	}
	if req.OldSize > size {
		return notFound(op)
	}
	proof, err := s.log.ConsistencyProof(ctx, req.OldSize, size)
	if err != nil {
		s.logger.Error("consistency proof", "err", err)
		return internalError(op)
	}
	return transport.Response{Body: api.AuditConsistencyResponse{OldSize: req.OldSize, NewSize: size, Proof: hashes(proof), Checkpoint: note}}
}

func (s *Service) restorePointList(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpRestorePointList
	req, refusal, ok := admit(ctx, s, r, api.PermRead, auditPath[api.RestorePointListRequest])
	if !ok {
		return refusal
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	points := []api.RestorePoint{}
	var next uint64
	errDone := errors.New("page done")
	err := s.log.Checkpoints(ctx, func(size uint64, msg []byte) error {
		if size <= req.After {
			return nil
		}
		rec, err := s.log.GetSealed(ctx, size) // only its time: no need to decrypt
		if err != nil {
			return err
		}
		if req.Until != nil && !rec.Time.Before(*req.Until) {
			return errDone // times never decrease along the log
		}
		if req.Since != nil && rec.Time.Before(*req.Since) {
			return nil
		}
		if len(points) == limit {
			next = points[limit-1].Seq
			return errDone
		}
		root, err := s.log.TreeHash(ctx, size)
		if err != nil {
			return err
		}
		points = append(points, api.RestorePoint{Seq: size, Time: rec.Time.UTC(), RootHash: root[:]})
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		s.logger.Error("list restore points", "err", err)
		return internalError(op)
	}
	return transport.Response{Body: api.RestorePointListResponse{Points: points, Next: next}}
}

// notFoundOrLog is notFoundOr, logging what is not a 404.
func (s *Service) notFoundOrLog(op api.Op, err error) transport.Response {
	if !isNotFound(err) && !errors.Is(err, eventlog.ErrNotFound) {
		s.logger.Error("audit query failed", "op", op.String(), "err", err)
		return internalError(op)
	}
	return notFound(op)
}

func hashes[H ~[32]byte](hs []H) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}
