package service

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"syscall"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// TestStorageAnswers: a full disk (or a spent quota) is 503 no_space
// when nothing was done and 500 no_space when a change was recorded but
// not applied; any other storage failure stays a plain 500; a projection
// behind the log is 503, with no_space only when that is why.
func TestStorageAnswers(t *testing.T) {
	t.Parallel()
	full := fmt.Errorf("commit event log: %w", &fs.PathError{Op: "write", Path: "events.db", Err: syscall.ENOSPC})
	quota := fmt.Errorf("flush: %w", syscall.EDQUOT)
	other := errors.New("commit event log: input/output error")
	for _, tc := range []struct {
		name   string
		answer transport.Response
		status int
		code   api.ErrorCode
		reason api.Reason
	}{
		{"append, disk full", storageAnswer(full, false), http.StatusServiceUnavailable, api.CodeNotReady, api.ReasonNoSpace},
		{"append, quota", storageAnswer(quota, false), http.StatusServiceUnavailable, api.CodeNotReady, api.ReasonNoSpace},
		{"apply, disk full", storageAnswer(full, true), http.StatusInternalServerError, api.CodeInternal, api.ReasonNoSpace},
		{"append, other", storageAnswer(other, false), http.StatusInternalServerError, api.CodeInternal, ""},
		{"apply, other", storageAnswer(other, true), http.StatusInternalServerError, api.CodeInternal, ""},
		{"behind, disk full", behindAnswer(full), http.StatusServiceUnavailable, api.CodeNotReady, api.ReasonNoSpace},
		{"behind, other", behindAnswer(other), http.StatusServiceUnavailable, api.CodeNotReady, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, code := tc.answer.Status, errCode(tc.answer.Body)
			p, _ := tc.answer.Body.(api.Problem)
			if reason := p.Reason; status != tc.status || code != tc.code || reason != tc.reason {
				t.Errorf("%d %s %q, want %d %s %q", status, code, p.Reason, tc.status, tc.code, tc.reason)
			}
		})
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{full, "no space left on device"},
		{quota, "no space left on device"},
		{other, other.Error()},
	} {
		if got := cause(tc.err); got != tc.want {
			t.Errorf("cause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
