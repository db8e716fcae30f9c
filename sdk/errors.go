package sdk

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// The kinds of failure a caller acts on. Every [*Error] whose answer was
// one of these matches it with errors.Is.
var (
	// ErrNotFound: the secret, version or policy does not exist, or every
	// version asked for is deleted or destroyed (404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: no policy grants the caller's SPIFFE ID this
	// operation on this path (401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotReady: Nexus is sealed or still starting (503), and stayed so
	// for as long as the client was willing to retry.
	ErrNotReady = errors.New("nexus not ready")
	// ErrBadRequest: the arguments break a rule of the API, checked
	// locally before sending or by Nexus (400).
	ErrBadRequest = errors.New("bad request")
	// ErrConflict: a check-and-set write expected another version, or a
	// shard was given to a Nexus that is not sealed (409).
	ErrConflict = errors.New("conflict")
	// ErrBadAnswer: Nexus answered, but with something the client cannot
	// read: a body that does not decode, a field out of range, an answer
	// larger than any can be. The [*Error] has Status 0. It points at a
	// Nexus of another version, or something else answering in its place.
	ErrBadAnswer = errors.New("malformed answer")
	// ErrConfig: New was given options, or read environment variables,
	// that it cannot use (a Nexus URL that is not https://host:port, a
	// bad trust root or timeout, conflicting options). It is not an
	// [*Error]: nothing was sent. Telling it apart from a missing SVID
	// lets a command line report it as a usage error.
	ErrConfig = errors.New("invalid configuration")
)

// Error is the error of every failed call. Its message names the
// operation and the path (or policy name), and never quotes a secret
// value.
type Error struct {
	// Op is the operation that failed.
	Op api.Op
	// Path is the secret path, or the policy name, the call was about;
	// "" for operations on neither.
	Path string
	// Status is Nexus's HTTP status, 0 when there was no answer (the
	// arguments were refused locally, or the connection failed).
	Status int
	// Code is the error code of the answer (for a local refusal,
	// api.CodeBadRequest); "" when there was no answer.
	Code api.ErrorCode
	// Reason, Message and CurrentVersion say more about a refusal when
	// Nexus gave them (an [api.Problem]): why a write conflicted, what
	// a field breaks, the version a check-and-set should expect.
	Reason         api.Reason
	Message        string
	CurrentVersion *int
	// Err is the underlying error: the validation failure, the network
	// error, or the transport's status error.
	Err error
}

func (e *Error) Error() string {
	msg := "sdk: " + e.Op.String()
	if e.Path != "" {
		msg += " " + e.Path
	}
	switch {
	case e.Status != 0:
		msg += ": " + e.kind() + " (" + statusText(e.Status, e.Code) + ")"
		if e.Message != "" {
			msg += ": " + e.Message
		}
	case e.Code == api.CodeBadRequest && e.Err != nil:
		msg += ": " + ErrBadRequest.Error() + ": " + e.Err.Error()
	case e.Err != nil:
		msg += ": " + e.Err.Error()
	default:
		msg += ": failed"
	}
	return msg
}

func statusText(status int, code api.ErrorCode) string {
	if code == "" {
		return fmt.Sprint(status)
	}
	return fmt.Sprintf("%d %s", status, code)
}

// kind describes the answer in words: the sentinel it matches, or the
// status text.
func (e *Error) kind() string {
	if s := e.sentinel(); s != nil {
		return s.Error()
	}
	if t := http.StatusText(e.Status); t != "" {
		return "nexus answered " + t
	}
	return "nexus answered an unknown status"
}

// sentinel is the Err… value the failure matches, nil for none.
func (e *Error) sentinel() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusServiceUnavailable:
		return ErrNotReady
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusConflict:
		return ErrConflict
	case 0:
		if e.Code == api.CodeBadRequest {
			return ErrBadRequest
		}
	}
	return nil
}

// Is reports whether target is the sentinel this failure matches, or its
// error code: errors.Is(err, sdk.ErrNotFound), errors.Is(err,
// api.CodeDecryptionFailed).
func (e *Error) Is(target error) bool {
	if s := e.sentinel(); s != nil && target == s {
		return true
	}
	code, ok := target.(api.ErrorCode)
	return ok && e.Code != "" && code == e.Code
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// callError turns what the transport returned into an *Error.
func callError(op api.Op, path string, err error) *Error {
	e := &Error{Op: op, Path: path, Err: err}
	var se *transport.StatusError
	if errors.As(err, &se) {
		e.Status, e.Code = se.Status, se.Code
		e.Reason, e.Message, e.CurrentVersion = se.Reason, se.Message, se.CurrentVersion
		if e.Code == "" {
			e.Code = codeForStatus(se.Status)
		}
	}
	return e
}

// invalidError is a local refusal of bad arguments.
func invalidError(op api.Op, path string, err error) *Error {
	return &Error{Op: op, Path: path, Code: api.CodeBadRequest, Err: err}
}

// codeForStatus is the code of an answer whose body carried none.
func codeForStatus(status int) api.ErrorCode {
	switch status {
	case http.StatusConflict:
		return api.CodeConflict
	case http.StatusTooManyRequests:
		return api.CodeBusy
	}
	if c := api.CodeForStatus(status); c != api.CodePeerConnection {
		return c
	}
	return ""
}

// errBadAnswer reports a 200 answer with a field the client cannot use.
func errBadAnswer(field string) error {
	return fmt.Errorf("%w: bad %s", ErrBadAnswer, field)
}

// configError is a configuration New cannot use: it matches ErrConfig
// and reads as its own message.
type configError struct{ err error }

func configErrorf(format string, a ...any) error {
	return &configError{err: fmt.Errorf(format, a...)}
}

func (c *configError) Error() string        { return c.err.Error() }
func (c *configError) Unwrap() error        { return c.err }
func (c *configError) Is(target error) bool { return target == ErrConfig }
