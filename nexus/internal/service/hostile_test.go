package service

import (
	"net/http"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

// TestUnnameablePathsRefusedBeforeAuthorisation: a caller without any
// grant that names a path no secret could have (huge, or holding control
// characters) is refused 400 and nothing is recorded, so it can neither
// grow the log at will nor put terminal controls before an auditor. A
// well-formed path it may not reach is still refused 401 and recorded.
func TestUnnameablePathsRefusedBeforeAuthorisation(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	nobody := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/nobody")
	huge := strings.Repeat("a/", 2<<20)
	for _, tc := range []struct {
		name   string
		op     api.Op
		req    any
		status int
		events uint64 // how many the refusal records
	}{
		{"put, 4 MiB path", api.OpSecretPut, api.SecretPutRequest{Path: huge, Values: map[string]string{"k": "v"}}, http.StatusBadRequest, 0},
		{"get, 501-byte path", api.OpSecretGet, api.SecretGetRequest{Path: strings.Repeat("x", api.MaxPathLength+1)}, http.StatusBadRequest, 0},
		{"get, escape sequence", api.OpSecretGet, api.SecretGetRequest{Path: "a/\x1b[2Jb"}, http.StatusBadRequest, 0},
		{"get, bell", api.OpSecretGet, api.SecretGetRequest{Path: "a\a"}, http.StatusBadRequest, 0},
		{"delete, newline", api.OpSecretDelete, api.SecretDeleteRequest{Path: "a\nb"}, http.StatusBadRequest, 0},
		{"metadata, space", api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "a b"}, http.StatusBadRequest, 0},
		{"get, a path it may not read", api.OpSecretGet, api.SecretGetRequest{Path: "a/b"}, http.StatusUnauthorized, 1},
		{"put, a path it may not write", api.OpSecretPut, api.SecretPutRequest{Path: "a/b", Values: map[string]string{"k": "v"}}, http.StatusUnauthorized, 1},
	} {
		before := s.log.Size()
		r := s.serveAs(t, nobody, tc.op, tc.req)
		if r.Status != tc.status {
			t.Errorf("%s: %d %+v, want %d", tc.name, r.Status, r.Body, tc.status)
		}
		if got := s.log.Size() - before; got != tc.events {
			t.Errorf("%s: recorded %d events, want %d", tc.name, got, tc.events)
		}
	}
}
