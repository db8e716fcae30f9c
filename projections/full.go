package projections

import (
	"errors"
	"syscall"
)

// sqliteFull is SQLite's primary result code for a write that found the
// disk full (SQLITE_FULL).
const sqliteFull = 13

// fullError is a SQLite write that failed for want of space. It wraps
// syscall.ENOSPC as well as SQLite's error, so a caller tells a full
// disk under the projection as it does one under the event log.
type fullError struct{ err error }

func (e *fullError) Error() string   { return e.err.Error() + ": no space left on device" }
func (e *fullError) Unwrap() []error { return []error{e.err, syscall.ENOSPC} }

// asNoSpace returns err, as a fullError when SQLite said the disk is
// full.
func asNoSpace(err error) error {
	var coded interface{ Code() int }
	if err == nil || !errors.As(err, &coded) || coded.Code()&0xff != sqliteFull {
		return err
	}
	return &fullError{err}
}
