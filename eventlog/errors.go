package eventlog

import (
	"errors"
	"fmt"
)

var (
	// ErrSealed is returned by operations that need keys while the log is
	// locked.
	ErrSealed = errors.New("event log is sealed: unlock it with the root key first")

	// ErrWrongRootKey is returned by Unlock when the key does not open the
	// log's key check. Nothing is changed.
	ErrWrongRootKey = errors.New("wrong root key for this event log")

	// ErrInUse is returned by Open when another process holds the file.
	ErrInUse = errors.New("event log is in use by another process")

	// ErrClosed is returned by operations on a closed log.
	ErrClosed = errors.New("event log is closed")

	// ErrNotFound is returned for a sequence number beyond the end of the log.
	ErrNotFound = errors.New("no such event")

	// ErrTampered is wrapped by every integrity failure: a stored hash,
	// envelope, checkpoint or ciphertext that does not match.
	ErrTampered = errors.New("event log integrity check failed")

	// ErrValueKeyNotFound is returned for a value key id the log never stored.
	ErrValueKeyNotFound = errors.New("no such value key")

	// ErrValueDestroyed is returned when opening a value whose key was
	// destroyed.
	ErrValueDestroyed = errors.New("value key destroyed: the value is unrecoverable")

	// ErrTooLarge is wrapped by Append's and Check's refusal of an event
	// whose payload is over the log's limit (Options.MaxPayload).
	ErrTooLarge = errors.New("event larger than the log's limit")

	// ErrMalformed is wrapped by every decoding failure of stored bytes.
	ErrMalformed = errors.New("malformed envelope")
)

// IntegrityError reports the first integrity failure Verify found. Seq is
// the event whose bytes or stored hashes do not match (0 if the failure is
// not about one event); Checkpoint is the tree size of the failing
// checkpoint (0 if none).
type IntegrityError struct {
	Seq        uint64
	Checkpoint uint64
	Reason     string
}

func (e *IntegrityError) Error() string {
	switch {
	case e.Seq != 0:
		return fmt.Sprintf("event log integrity: seq %d: %s", e.Seq, e.Reason)
	case e.Checkpoint != 0:
		return fmt.Sprintf("event log integrity: checkpoint at size %d: %s", e.Checkpoint, e.Reason)
	default:
		return "event log integrity: " + e.Reason
	}
}

// Unwrap lets errors.Is(err, ErrTampered) match.
func (e *IntegrityError) Unwrap() error { return ErrTampered }
