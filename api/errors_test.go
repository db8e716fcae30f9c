package api

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestErrorCodeStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code   ErrorCode
		wire   string
		status int
	}{
		{CodeBadRequest, "api_bad_request", 400},
		{CodeUnauthorized, "access_unauthorized", 401},
		{CodeNotFound, "api_not_found", 404},
		{CodeInternal, "api_internal_error", 500},
		{CodeNotReady, "state_not_ready", 503},
		{CodeConflict, "api_conflict", 409},
		{CodeBusy, "api_busy", 429},
		{CodeCipherNotAvailable, "crypto_cipher_not_available", 500},
		{CodeFailedToReadVersion, "crypto_failed_to_read_version", 400},
		{CodeUnsupportedVersion, "crypto_unsupported_version", 400},
		{CodeFailedToReadNonce, "crypto_failed_to_read_nonce", 400},
		{CodeDataReadFailure, "data_read_failure", 400},
		{CodeDecryptionFailed, "decryption failed", 400},
		{CodeNonceGenerationFailed, "crypto_nonce_generation_failed", 500},
		{"something_else", "something_else", 500},
	}
	for _, tc := range cases {
		if string(tc.code) != tc.wire || tc.code.Error() != tc.wire {
			t.Errorf("%q: wire text %q", tc.code, tc.wire)
		}
		if got := tc.code.Status(); got != tc.status {
			t.Errorf("%q.Status() = %d, want %d", tc.code, got, tc.status)
		}
	}
}

// TestCodeForStatus is the client's view (reference §1.3): SPIKE's SDK
// reads only 200 bodies and maps the rest by status.
func TestCodeForStatus(t *testing.T) {
	t.Parallel()
	cases := map[int]ErrorCode{
		400: CodeBadRequest, 401: CodeUnauthorized, 404: CodeNotFound, 503: CodeNotReady,
		500: CodePeerConnection, 409: CodePeerConnection, 403: CodePeerConnection, 413: CodePeerConnection,
	}
	for status, want := range cases {
		if got := CodeForStatus(status); got != want {
			t.Errorf("CodeForStatus(%d) = %q, want %q", status, got, want)
		}
	}
	// Every code a v0.8 client can meet survives the round trip.
	for _, c := range []ErrorCode{CodeBadRequest, CodeUnauthorized, CodeNotFound, CodeNotReady} {
		if CodeForStatus(c.Status()) != c {
			t.Errorf("%q does not survive its status", c)
		}
	}
}

func TestCodeOf(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want ErrorCode
	}{
		{nil, ""},
		{CodeNotFound, CodeNotFound},
		{fmt.Errorf("load: %w", CodeConflict), CodeConflict},
		{ErrTooLarge, CodeBadRequest},
		{fmt.Errorf("x: %w", ErrMalformed), CodeBadRequest},
		{invalid("path", "empty"), CodeBadRequest},
		{errors.New("disk on fire"), CodeInternal},
	}
	for _, tc := range cases {
		if got := CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestSetJSONHeaders(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	SetJSONHeaders(h)
	want := map[string]string{
		"Content-Type":  "application/json",
		"Cache-Control": "no-store, no-cache, must-revalidate, private",
		"Pragma":        "no-cache",
		"Expires":       "0",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if !IsStreamMode("application/octet-stream") || IsStreamMode("application/octet-stream; charset=x") || IsStreamMode("Application/Octet-Stream") {
		t.Error("stream mode needs the exact content type")
	}
}
