package service

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
)

// A refusal is an answer that says why: the status and "err" code a
// SPIKE v0.8 client knows (unchanged from before reasons existed), and an
// api.Problem body with the reason, a message a person can act on and,
// where it helps, the path's current version.
type refusal struct {
	status  int
	code    api.ErrorCode
	reason  api.Reason
	message string
	current *int
}

func (f refusal) response() transport.Response {
	return transport.Response{Status: f.status, Body: api.Problem{Err: f.code, Reason: f.reason, Message: f.message, CurrentVersion: f.current}}
}

// outcome is what the refusal records as its event's outcome: not_found
// when what was named is not there (or not yet, or no longer readable),
// conflict when the state refuses it (check-and-set, destroyed data, a
// merge grown too large).
func (f refusal) outcome() string {
	switch f.reason {
	case api.ReasonNoSuchPath, api.ReasonNoSuchVersion, api.ReasonDeleted, api.ReasonNotDeleted,
		api.ReasonFuture, api.ReasonBeforeStart, api.ReasonNoSuchPoint:
		return events.OutcomeNotFound
	}
	return events.OutcomeConflict
}

// refuse is the outcome of a write refused by the state it found: the
// refusal recorded as a request.refused event, and its answer once that
// is durable. The path's write state stays as it is: nothing changed.
func refuse(r *transport.Request, op api.Op, target string, versions []int, f refusal) outcome {
	ev := event(r, &events.RequestRefused{Path: target, Action: op.String(), Outcome: f.outcome(), Reason: string(f.reason), Versions: versions})
	return outcome{events: []eventlog.Event{ev}, answer: f.response(), durable: func() {}}
}

// invalidRequest is the 400 of a body that does not decode or breaks a
// validation rule: the field and the rule, never the value. It is not
// an event (docs/auditor.md, "What is an event").
func invalidRequest(err error) refusal {
	return refusal{status: http.StatusBadRequest, code: api.CodeBadRequest, reason: api.ReasonInvalid, message: problemMessage(err)}
}

// problemMessage is an api error as a person reads it: "path: empty",
// without the "api: invalid" a Go caller sees.
func problemMessage(err error) string {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return fe.Field + ": " + fe.Reason
	}
	return strings.TrimPrefix(err.Error(), "api: ")
}

func refuseTooLarge(size, limit int) refusal {
	return refusal{status: http.StatusBadRequest, code: api.CodeBadRequest, reason: api.ReasonTooLarge,
		message: fmt.Sprintf("the secret's data is %d bytes (keys and values together); the limit is %s", size, SizeText(limit))}
}

// SizeText writes a byte count as the limit is usually spoken of:
// "1048576 bytes (1 MiB)".
func SizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d bytes (%d MiB)", n, n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d bytes (%d KiB)", n, n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// refuseCASRequired answers a write without check-and-set to a path that
// requires it: 400, as before reasons existed.
func refuseCASRequired(current int) refusal {
	return refusal{status: http.StatusBadRequest, code: api.CodeBadRequest, reason: api.ReasonCASRequired, current: &current,
		message: fmt.Sprintf("the path requires check-and-set: send cas with the current version, %d", current)}
}

func refuseCASMismatch(cas, current int) refusal {
	return refusal{status: http.StatusConflict, code: api.CodeConflict, reason: api.ReasonCASMismatch, current: &current,
		message: fmt.Sprintf("check-and-set expected version %d, but the current version is %d", cas, current)}
}

// refuseNotFound is a 404 with its reason.
func refuseNotFound(reason api.Reason, format string, a ...any) refusal {
	return refusal{status: http.StatusNotFound, code: api.CodeNotFound, reason: reason, message: fmt.Sprintf(format, a...)}
}

func refuseNoSuchPath(path string) refusal {
	return refuseNotFound(api.ReasonNoSuchPath, "no secret at %s", path)
}

// refuseFuture answers a point after the log's end: 400, a request that
// cannot be right, though only the log can tell.
func refuseFuture(format string, a ...any) refusal {
	return refusal{status: http.StatusBadRequest, code: api.CodeBadRequest, reason: api.ReasonFuture, message: fmt.Sprintf(format, a...)}
}
