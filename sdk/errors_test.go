package sdk

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

func TestErrorIs(t *testing.T) {
	t.Parallel()
	sentinels := []error{ErrNotFound, ErrUnauthorized, ErrNotReady, ErrBadRequest, ErrConflict}
	tests := []struct {
		name   string
		err    *Error
		want   error // nil: matches no sentinel
		code   api.ErrorCode
		inText string
	}{
		{"404", callError(api.OpSecretGet, "a/b", &transport.StatusError{Status: 404, Code: api.CodeNotFound}), ErrNotFound, api.CodeNotFound, "secret.get a/b: not found (404 api_not_found)"},
		{"401", callError(api.OpSecretGet, "a/b", &transport.StatusError{Status: 401}), ErrUnauthorized, api.CodeUnauthorized, "unauthorized (401 access_unauthorized)"},
		{"503", callError(api.OpSecretPut, "a/b", &transport.StatusError{Status: 503, Code: api.CodeNotReady}), ErrNotReady, api.CodeNotReady, "nexus not ready"},
		{"400", callError(api.OpPolicyPut, "p", &transport.StatusError{Status: 400, Code: api.CodeBadRequest}), ErrBadRequest, api.CodeBadRequest, "policy.put p: bad request"},
		{"409", callError(api.OpSecretPut, "a/b", &transport.StatusError{Status: 409}), ErrConflict, api.CodeConflict, "conflict (409 api_conflict)"},
		{"stream 400 text code", callError(api.OpCipherDecrypt, "", &transport.StatusError{Status: 400, Code: api.CodeDecryptionFailed}), ErrBadRequest, api.CodeDecryptionFailed, "cipher.decrypt: bad request (400 decryption failed)"},
		{"500", callError(api.OpCipherDecrypt, "", &transport.StatusError{Status: 500, Code: api.CodeInternal}), nil, api.CodeInternal, "Internal Server Error (500 api_internal_error)"},
		{"local", invalidError(api.OpSecretPut, "a b", &api.FieldError{Field: "path", Reason: "bad"}), ErrBadRequest, api.CodeBadRequest, "secret.put a b: bad request: api: invalid path: bad"},
		{"network", callError(api.OpSecretGet, "a", errors.New("transport: dial tcp: refused")), nil, "", "secret.get a: transport: dial tcp: refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error = tt.err
			for _, s := range sentinels {
				if got := errors.Is(err, s); got != (s == tt.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, got)
				}
			}
			if tt.code != "" && !errors.Is(err, tt.code) {
				t.Errorf("errors.Is(%v, %q) = false", err, tt.code)
			}
			if errors.Is(err, api.CodeGeneralFailure) {
				t.Errorf("%v matches a code it does not carry", err)
			}
			if !strings.Contains(err.Error(), tt.inText) || !strings.HasPrefix(err.Error(), "sdk: ") {
				t.Errorf("message %q, want it to contain %q", err.Error(), tt.inText)
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != tt.code {
				t.Errorf("errors.As: %+v, code want %q", e, tt.code)
			}
		})
	}
}

func TestErrorUnwrapsCause(t *testing.T) {
	t.Parallel()
	err := error(callError(api.OpSecretGet, "a", context.DeadlineExceeded))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("%v does not wrap its cause", err)
	}
	var se *transport.StatusError
	err = callError(api.OpSecretGet, "a", &transport.StatusError{Status: http.StatusTeapot})
	if !errors.As(err, &se) || se.Status != http.StatusTeapot {
		t.Errorf("%v does not wrap the status error", err)
	}
}

// An answer the client cannot read is ErrBadAnswer, with no status: not
// a connection failure, not one of Nexus's refusals.
func TestBadAnswer(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		resp transport.Response
		call func(c *Client) error
	}{
		{name: "not JSON", resp: transport.Response{Body: []byte("<html>proxy error</html>"), ContentType: "text/html"},
			call: func(c *Client) error { _, err := c.GetSecret(t.Context(), "a/b", 0); return err }},
		{name: "wrong type", resp: transport.Response{Body: []byte(`{"data": 5}`)},
			call: func(c *Client) error { _, err := c.GetSecret(t.Context(), "a/b", 0); return err }},
		{name: "bad shard", resp: transport.Response{Body: []byte(`{"shards": {"1": [1, 2]}}`)},
			call: func(c *Client) error { _, err := c.Recover(t.Context()); return err }},
		{name: "bad field", resp: transport.Response{Body: api.SecretSettingsGetResponse{DeleteVersionAfter: "soon"}},
			call: func(c *Client) error { _, err := c.SecretSettings(t.Context(), "a/b"); return err }},
		{name: "stream answer too large", resp: transport.Response{Body: make([]byte, maxStreamAnswer+1), ContentType: api.ContentTypeStream},
			call: func(c *Client) error { _, err := c.EncryptStream(t.Context(), strings.NewReader("pt")); return err }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := tt.resp
			f := startFake(t, identity.PathNexus, func(context.Context, *transport.Request) transport.Response { return resp })
			err := tt.call(f.client(t, 0))
			var e *Error
			if !errors.As(err, &e) || e.Status != 0 || !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("got %v, want ErrBadAnswer", err)
			}
			for _, s := range []error{ErrNotFound, ErrUnauthorized, ErrNotReady, ErrBadRequest, ErrConflict, ErrConfig} {
				if errors.Is(err, s) {
					t.Errorf("%v matches %v", err, s)
				}
			}
		})
	}
	// A good answer decodes as before.
	f := startFake(t, identity.PathNexus, answer(http.StatusOK, api.SecretGetResponse{Data: map[string]string{"k": "v"}}))
	s, err := f.client(t, 0).GetSecret(t.Context(), "a/b", 0)
	if err != nil || s.Data["k"] != "v" {
		t.Fatalf("good answer: %v, %v", s, err)
	}
}
