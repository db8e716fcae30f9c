package projections

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
)

// codedError is an error with a SQLite result code, as the driver's.
type codedError int

func (e codedError) Error() string { return fmt.Sprintf("sqlite error (%d)", int(e)) }
func (e codedError) Code() int     { return int(e) }

func TestAsNoSpace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		err     error
		noSpace bool
	}{
		{"SQLITE_FULL", codedError(13), true},
		{"SQLITE_FULL wrapped", fmt.Errorf("projection apply: commit: %w", codedError(13)), true},
		{"SQLITE_IOERR", codedError(10), false},
		{"SQLITE_IOERR_WRITE", codedError(10 | 3<<8), false},
		{"not SQLite's", errors.New("something else"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := asNoSpace(tc.err)
			if errors.Is(got, syscall.ENOSPC) != tc.noSpace {
				t.Errorf("asNoSpace(%v) = %v: wraps ENOSPC %v, want %v", tc.err, got, !tc.noSpace, tc.noSpace)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("asNoSpace(%v) = %v: lost the original", tc.err, got)
			}
		})
	}
	if asNoSpace(nil) != nil {
		t.Error("asNoSpace(nil) is not nil")
	}
}
