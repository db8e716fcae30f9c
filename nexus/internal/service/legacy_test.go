package service

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

// writeLegacy writes a version at path as a spike from before the
// segment rule did: through the loop, with no validation.
func writeLegacy(t *testing.T, s *Service, peer spiffeid.ID, path string, data map[string]string) {
	t.Helper()
	r := &transport.Request{ID: "legacy", Peer: peer}
	resp := s.do(context.Background(), path, func(ctx context.Context) outcome {
		w := newWrite(api.OpSecretPut, path, nil)
		st, exists, f, ok := s.loadForWrite(ctx, r, w)
		if !ok {
			return f
		}
		out, _ := s.writeVersion(ctx, r, w, st, exists, data)
		return out
	})
	if resp.Status != 0 && resp.Status != http.StatusOK {
		t.Fatalf("legacy write of %q: %d %+v", path, resp.Status, resp.Body)
	}
}

// TestLegacyPathsStayReachable: a log from before spike refused paths
// with empty segments may hold secrets at such paths. Every route that
// reaches what is stored reaches them; a new version is refused with a
// message that says the path is legacy and how to move it, not one
// that points at the cleaned path, a different secret; a path with an
// empty segment that never held anything is refused as before.
func TestLegacyPathsStayReachable(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 3)
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	writeLegacy(t, s, su, "/old/a", map[string]string{"k": "1"})
	point := s.log.Size()
	writeLegacy(t, s, su, "/old/a", map[string]string{"k": "2"})
	writeLegacy(t, s, su, "old/b/", map[string]string{"k": "b"})
	writeLegacy(t, s, su, "old//c", map[string]string{"k": "c"})
	if resp := s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "old/a", Values: map[string]string{"k": "clean"}}); resp.Status != 0 {
		t.Fatalf("put old/a: %d %+v", resp.Status, resp.Body)
	}

	ok := func(name string, op api.Op, req any) {
		t.Helper()
		if resp := s.serveAs(t, su, op, req); resp.Status != 0 && resp.Status != http.StatusOK {
			t.Errorf("%s: %d %+v, want 200", name, resp.Status, resp.Body)
		}
	}
	refused := func(name string, op api.Op, req any, want, not string) {
		t.Helper()
		resp := s.serveAs(t, su, op, req)
		p, _ := resp.Body.(api.Problem)
		if resp.Status != http.StatusBadRequest || p.Reason != api.ReasonInvalid || !strings.Contains(p.Message, want) ||
			not != "" && strings.Contains(p.Message, not) {
			t.Errorf("%s: %d %+v, want 400 saying %q", name, resp.Status, resp.Body, want)
		}
	}
	cas := 2
	ok("get", api.OpSecretGet, api.SecretGetRequest{Path: "/old/a"})
	var got api.SecretGetResponse
	if resp := s.serveAs(t, su, api.OpSecretGet, api.SecretGetRequest{Path: "/old/a", Version: 1}); resp.Status != 0 {
		t.Errorf("get version 1: %d %+v", resp.Status, resp.Body)
	} else if got = resp.Body.(api.SecretGetResponse); got.Data["k"] != "1" {
		t.Errorf("get version 1 = %v", got.Data)
	}
	ok("metadata get", api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "old/b/"})
	ok("settings get", api.OpSecretSettingsGet, api.SecretSettingsGetRequest{Path: "old/b/"})
	ok("history", api.OpSecretHistory, api.SecretHistoryRequest{Path: "/old/a"})
	ok("audit list", api.OpAuditList, api.AuditListRequest{Path: "/old/a"})
	ok("delete", api.OpSecretDelete, api.SecretDeleteRequest{Path: "old//c"})
	ok("undelete", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "old//c"})
	ok("destroy", api.OpSecretDestroy, api.SecretDestroyRequest{Path: "old//c", Versions: []int{1}})
	ok("restore", api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{"/old/a"}, AsOfSeq: point})
	if resp := s.serveAs(t, su, api.OpSecretGet, api.SecretGetRequest{Path: "/old/a"}); resp.Status != 0 || resp.Body.(api.SecretGetResponse).Data["k"] != "1" {
		t.Errorf("after the restore: %d %+v", resp.Status, resp.Body)
	}

	// New versions: refused, saying the path is legacy and how to move
	// it; "old/a" exists and is another secret.
	for _, tc := range []struct {
		op  api.Op
		req any
	}{
		{api.OpSecretPut, api.SecretPutRequest{Path: "/old/a", Values: map[string]string{"k": "v"}}},
		{api.OpSecretPatch, api.SecretPatchRequest{Path: "/old/a", Values: map[string]string{"k": "v"}}},
		{api.OpSecretRollback, api.SecretRollbackRequest{Path: "/old/a", Version: 1, CAS: &cas}},
		{api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: "/old/a", MaxVersions: &cas}},
	} {
		refused(tc.op.String()+" on a legacy path", tc.op, tc.req, `"/old/a" is a legacy path`, "did you mean")
		refused(tc.op.String()+" on a legacy path", tc.op, tc.req, `"old/a" is a different secret, which exists`, "")
	}
	refused("put on a legacy path, clean one free", api.OpSecretPut, api.SecretPutRequest{Path: "old/b/", Values: map[string]string{"k": "v"}},
		`to a path without empty segments such as "old/b", then remove the legacy path with metadata delete`, "did you mean")

	// A path with an empty segment that never held a secret: refused
	// on every route, with the cleaned path suggested.
	for _, tc := range []struct {
		op  api.Op
		req any
	}{
		{api.OpSecretPut, api.SecretPutRequest{Path: "/new/x", Values: map[string]string{"k": "v"}}},
		{api.OpSecretGet, api.SecretGetRequest{Path: "/new/x"}},
		{api.OpSecretDelete, api.SecretDeleteRequest{Path: "/new/x"}},
		{api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: "/new/x"}},
		{api.OpSecretHistory, api.SecretHistoryRequest{Path: "/new/x"}},
		{api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{"old/a", "/new/x"}, AsOfSeq: point}},
	} {
		refused(tc.op.String()+" on a path never stored", tc.op, tc.req, `must not start with '/' (did you mean "new/x"?)`, "")
	}

	// Moving it: the legacy path is removed; its history stays.
	ok("metadata delete", api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: "/old/a"})
	if resp := s.serveAs(t, su, api.OpSecretGet, api.SecretGetRequest{Path: "/old/a"}); resp.Status != http.StatusNotFound {
		t.Errorf("get after the move: %d %+v, want 404", resp.Status, resp.Body)
	}
	ok("history after the move", api.OpSecretHistory, api.SecretHistoryRequest{Path: "/old/a"})
}

// TestUnsealWarnsOfLegacyPaths: a Nexus unsealing a log that holds
// legacy paths says how many and how to move them, naming none.
func TestUnsealWarnsOfLegacyPaths(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 3)
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	for _, p := range []string{"/secret-one", "secret-two/", "secret//three", "fine"} {
		writeLegacy(t, s, su, p, map[string]string{"k": "v"})
	}
	var logs bytes.Buffer // written only within New: the service is not run
	if _, err := New(context.Background(), Config{Log: s.log, Commit: commit.NewLocal(s.log), Proj: s.proj, Roles: identity.DefaultRoles(), WithKey: s.withKey, MaxVersions: 3, Logger: slog.New(slog.NewTextHandler(&logs, nil))}); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "legacy paths") || !strings.Contains(out, "count=3") ||
		!strings.Contains(out, "metadata delete") || strings.Contains(out, "secret-") {
		t.Errorf("unseal log:\n%s", out)
	}
}
