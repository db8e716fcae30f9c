package members

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

// admit decodes and validates r's body as T, then lets only the
// superuser past. It returns the answer to send when it refuses: 400 for
// the body (not recorded), 401 for anyone else (recorded as
// access.denied before the answer leaves).
func admit[T api.Request](ctx context.Context, m *Members, r *transport.Request) (T, transport.Response, bool) {
	var zero T
	op := zero.Op()
	req, err := api.DecodeRequest[T](bytes.NewReader(r.Body), int64(len(r.Body))+1)
	if err != nil {
		return req, problem(http.StatusBadRequest, api.CodeBadRequest, api.ReasonInvalid, fieldText(err)), false
	}
	r.Subject = api.SystemPathCluster
	if m.cfg.Roles.IsPilotSuperuser(r.Peer) {
		return req, transport.Response{}, true
	}
	denied := &events.AccessDenied{Path: api.SystemPathCluster, Action: op.String(), Reason: "only the superuser may manage the cluster"}
	if err := m.cfg.Recorder.Record(ctx, event(r, denied)); err != nil {
		// Nothing was done, and nobody may learn of a refusal that is
		// not in the log: the caller retries.
		m.cfg.Logger.Error("cluster: record a denial", "op", op.String(), "request_id", r.ID, "err", err)
		return req, transport.Response{Status: http.StatusServiceUnavailable, Body: api.ErrorResponseFor(op, api.CodeNotReady)}, false
	}
	return req, transport.Response{Status: http.StatusUnauthorized, Body: api.ErrorResponseFor(op, api.CodeUnauthorized)}, false
}

// fieldText is a validation error as a person reads it: "id: empty".
func fieldText(err error) string {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return fe.Field + ": " + fe.Reason
	}
	return strings.TrimPrefix(err.Error(), "api: ")
}

func problem(status int, code api.ErrorCode, reason api.Reason, msg string) transport.Response {
	return transport.Response{Status: status, Body: api.Problem{Err: code, Reason: reason, Message: msg}}
}

// clusterOff answers any membership operation on a Nexus that runs
// alone.
func clusterOff(op api.Op) transport.Response {
	return problem(http.StatusConflict, api.CodeConflict, api.ReasonClusterOff,
		fmt.Sprintf("clustering is off: this Nexus runs as a single node and has no cluster members (%s needs a Nexus started with clustering on)", op))
}

// refusal is a change the cluster refused because of its membership.
type refusal struct {
	status  int
	code    api.ErrorCode
	reason  api.Reason
	outcome string // events.OutcomeNotFound or OutcomeConflict
	message string
}

// refuse records a refused change as request.refused, under the
// member's pseudo-path, then answers it. If the refusal cannot be
// recorded the caller is told to retry, as for a denial.
func (m *Members) refuse(ctx context.Context, r *transport.Request, op api.Op, id string, f refusal) transport.Response {
	ev := &events.RequestRefused{Path: api.SystemPathCluster + "/" + id, Action: op.String(), Outcome: f.outcome, Reason: string(f.reason)}
	if err := m.cfg.Recorder.Record(ctx, event(r, ev)); err != nil {
		m.cfg.Logger.Error("cluster: record a refusal", "op", op.String(), "request_id", r.ID, "err", err)
		return transport.Response{Status: http.StatusServiceUnavailable, Body: api.ErrorResponseFor(op, api.CodeNotReady)}
	}
	return problem(f.status, f.code, f.reason, f.message)
}

// failed answers a cluster that could not do what it was asked: 409
// when clustering is off, 503 when there is no leader to do it now (the
// client retries), 500 otherwise. Nothing changed, so nothing is
// recorded.
func (m *Members) failed(op api.Op, what string, err error) transport.Response {
	switch {
	case errors.Is(err, ErrClusterOff):
		return clusterOff(op)
	case errors.Is(err, ErrNoLeader), errors.Is(err, commit.ErrNotLeader):
		m.cfg.Logger.Warn("cluster: no leader for a membership operation", "op", op.String(), "err", err)
		return problem(http.StatusServiceUnavailable, api.CodeNotReady, api.ReasonNoLeader,
			fmt.Sprintf("cannot %s now: %s; retry once the cluster has a leader (spike status shows it)", what, detail(err)))
	}
	m.cfg.Logger.Error("cluster: membership operation failed", "op", op.String(), "err", err)
	return problem(http.StatusInternalServerError, api.CodeInternal, "",
		fmt.Sprintf("the cluster could not %s: see Nexus's log", what))
}

// unrecorded answers a change the cluster made whose event could not be
// committed: 500, so the operator looks (the change is in force; the log
// does not say so).
func (m *Members) unrecorded(op api.Op, id string, err error) transport.Response {
	m.cfg.Logger.Error("cluster: membership changed but not recorded", "op", op.String(), "member", id, "err", err)
	return problem(http.StatusInternalServerError, api.CodeInternal, "",
		fmt.Sprintf("%s of %s was made, but recording it in the event log failed: see Nexus's log, and spike operator cluster list for the members", op, id))
}

// detail is a cluster error's message, for an answer: what a Cluster
// says of a conflict or a missing leader names members and addresses,
// never anything secret.
func detail(err error) string { return err.Error() }

// event encodes a payload carrying the request's actor and id.
func event(r *transport.Request, p events.Payload) eventlog.Event {
	meta := p.EventMeta()
	meta.Actor, meta.RequestID = r.Peer.String(), r.ID
	b, err := events.Encode(p)
	if err != nil {
		// Our own structs always encode; a failure here is a bug.
		panic(err)
	}
	return eventlog.Event{Type: p.Type(), Schema: p.Schema(), Payload: b}
}
