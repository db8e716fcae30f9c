package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
)

// Request is implemented by every request body.
type Request interface {
	// Op returns the operation the body is for.
	Op() Op
	// Validate checks the body against the operation's rules and returns
	// a *FieldError (wrapping ErrInvalid) for the first field that breaks
	// one.
	Validate() error
}

// DecodeRequest reads a request body for T's operation from r and
// validates it. It reads at most limit bytes, or the operation's
// [Op.BodyLimit] when limit is not positive.
//
// The errors wrap ErrTooLarge, ErrMalformed or ErrInvalid (all answered
// with CodeBadRequest), or CodeDataReadFailure when r fails. No error
// message quotes the body.
//
// SPIKE authorises before it validates, so a caller without rights gets
// 401 rather than 400 for a bad body; a handler that authorises on the
// body's fields calls [Decode], authorises, then calls Validate.
func DecodeRequest[T Request](r io.Reader, limit int64) (T, error) {
	var zero T
	if limit <= 0 {
		limit = zero.Op().BodyLimit()
	}
	v, err := Decode[T](r, limit)
	if err != nil {
		return zero, err
	}
	if err := v.Validate(); err != nil {
		return zero, err
	}
	return v, nil
}

// Decode reads one JSON value of type T from r, reading at most limit
// bytes (DefaultBodyLimit when limit is not positive), without
// validating it. Exactly limit bytes are accepted; one more is
// ErrTooLarge. The value may be followed by white space only; an empty
// body is malformed (SPIKE requires "{}" even for empty requests), while
// null decodes to T's zero value, as in SPIKE. Fields T does not have are
// ignored and keys match case-insensitively, as in SPIKE.
func Decode[T any](r io.Reader, limit int64) (T, error) {
	var v T
	if limit <= 0 {
		limit = DefaultBodyLimit
	}
	b, err := readLimited(r, limit)
	defer clear(b) // the body may hold secret values; v holds copies
	if err != nil {
		return v, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&v); err != nil {
		var zero T
		return zero, malformed(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var zero T
		return zero, &malformedError{msg: "trailing data after the JSON value", cause: err}
	}
	return v, nil
}

// readLimited reads all of r, failing with ErrTooLarge past limit bytes.
func readLimited(r io.Reader, limit int64) ([]byte, error) {
	n := limit
	if n < math.MaxInt64 {
		n++
	}
	b, err := io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return b, fmt.Errorf("api: read request body: %w", errors.Join(CodeDataReadFailure, err))
	}
	if int64(len(b)) > limit {
		return b, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// malformedError is a decoding failure. Its message never quotes the
// input (encoding/json's messages can: a bad character, a bad time); the
// original error stays reachable with errors.As.
type malformedError struct {
	msg   string
	cause error
}

func (e *malformedError) Error() string   { return ErrMalformed.Error() + ": " + e.msg }
func (e *malformedError) Unwrap() []error { return []error{ErrMalformed, e.cause} }

func malformed(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, errShardForm):
		return &malformedError{msg: errShardForm.Error(), cause: err}
	case errors.Is(err, io.EOF):
		return &malformedError{msg: "empty body", cause: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &malformedError{msg: "truncated JSON", cause: err}
	case errors.As(err, &syn):
		return &malformedError{msg: fmt.Sprintf("JSON syntax error at byte %d", syn.Offset), cause: err}
	case errors.As(err, &typ):
		// typ.Value is "string", "number", "number 1.5", …: keep the kind.
		kind, _, _ := strings.Cut(typ.Value, " ")
		// typ.Field is a dotted path that may run through map keys;
		// name the top-level field only.
		field, _, _ := strings.Cut(typ.Field, ".")
		if field == "" {
			field = "body"
		}
		return &malformedError{msg: fmt.Sprintf("%s: cannot be a JSON %s", field, kind), cause: err}
	}
	return &malformedError{msg: "a field has a value of the wrong form", cause: err}
}
