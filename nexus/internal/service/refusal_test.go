package service

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/projections"
)

// refusalFixture is a service holding one path in every state a write
// can be refused for.
type refusalFixture struct {
	s        *Service
	su, app  spiffeid.ID
	shredSeq uint64 // a point at which app/shred was readable
}

// The paths of newRefusalFixture.
const (
	pathMixed = "app/p"     // v1 pruned, v2 destroyed, v3 deleted, v4 current
	pathCAS   = "app/cas"   // requires check-and-set; v1 current
	pathGone  = "app/gone"  // v1 deleted: nothing readable
	pathShred = "app/shred" // v1 destroyed: nothing readable
	pathBig   = "app/big"   // v1 nearly as large as the limit
	pathNone  = "app/never" // never written
)

// refusalLimit is the fixture's largest secret, small enough to fill.
const refusalLimit = 200

func newRefusalFixture(t *testing.T) *refusalFixture {
	t.Helper()
	s := newTestService(t, 3)
	s.maxValue = refusalLimit // set before the first request: the loop reads it after
	f := &refusalFixture{s: s,
		su:  spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser),
		app: spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/app")}
	cas := func(v int) *int { return &v }
	yes := true
	for _, step := range []struct {
		op  api.Op
		req any
	}{
		{api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "1"}}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "2"}}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "3"}}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "4"}}},
		{api.OpSecretDelete, api.SecretDeleteRequest{Path: pathMixed, Versions: []int{3}}},
		{api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathMixed, Versions: []int{2}}},
		{api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: pathCAS, CASRequired: &yes}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathCAS, Values: map[string]string{"v": "1"}, CAS: cas(0)}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathGone, Values: map[string]string{"v": "1"}}},
		{api.OpSecretDelete, api.SecretDeleteRequest{Path: pathGone}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathShred, Values: map[string]string{"v": "1"}}},
		{0, nil}, // the point at which app/shred was readable
		{api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathShred, Versions: []int{1}}},
		{api.OpSecretPut, api.SecretPutRequest{Path: pathBig, Values: map[string]string{"k": strings.Repeat("x", refusalLimit-10)}}},
		{api.OpPolicyPut, api.PolicyPutRequest{Name: "pol", SPIFFEIDPattern: "^spiffe://spike.ist/workload/x$", PathPattern: "^x/.*$", Permissions: []api.Permission{api.PermRead}}},
	} {
		if step.req == nil {
			f.shredSeq = s.log.Size()
			continue
		}
		if resp := s.serveAs(t, f.su, step.op, step.req); resp.Status != 0 && resp.Status != http.StatusOK {
			t.Fatalf("setup %s: status %d %+v", step.op, resp.Status, resp.Body)
		}
	}
	return f
}

// refusalCase is one refused request: who sends what, and the answer and
// event it must get. An empty outcome means no event at all.
type refusalCase struct {
	name    string
	who     spiffeid.ID
	op      api.Op
	req     any
	status  int
	code    api.ErrorCode
	reason  api.Reason // "" for a denial, whose body is SPIKE's
	outcome string
	current int // the current version a check-and-set refusal names
}

// TestEveryRefusedWriteIsOneEvent walks every route that writes with
// each kind of refusal it can meet: authorisation (every route), the
// state of the store (not found, check-and-set, destroyed data, a merge
// grown too large, a point the log does not have), and bodies that do
// not decode or validate. Each authorised refusal is exactly one event,
// with the outcome, action and reason the caller was told; a 400 for
// the body is none. Status and "err" are what they were before reasons
// existed, so SPIKE v0.8 clients see no change.
func TestEveryRefusedWriteIsOneEvent(t *testing.T) {
	t.Parallel()
	f := newRefusalFixture(t)
	su, app := f.su, f.app
	cas := func(v int) *int { return &v }
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	future := time.Now().Add(time.Hour)
	const (
		notFound = events.OutcomeNotFound
		conflict = events.OutcomeConflict
		denied   = events.OutcomeDenied
	)
	nf := func(name string, op api.Op, req any, reason api.Reason) refusalCase {
		return refusalCase{name, su, op, req, 404, api.CodeNotFound, reason, notFound, 0}
	}
	// A write that needs destroyed data is a conflict with the state,
	// though the data is as gone as a missing version (404).
	gone := func(name string, op api.Op, req any) refusalCase {
		return refusalCase{name, su, op, req, 404, api.CodeNotFound, api.ReasonDestroyed, conflict, 0}
	}
	cases := []refusalCase{
		// Refused by authorisation: every write route, and the cipher.
		{"put denied", app, api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "x"}}, 401, api.CodeUnauthorized, "", denied, 0},
		{"patch denied", app, api.OpSecretPatch, api.SecretPatchRequest{Path: pathMixed, Values: map[string]string{"v": "x"}}, 401, api.CodeUnauthorized, "", denied, 0},
		{"rollback denied", app, api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 4}, 401, api.CodeUnauthorized, "", denied, 0},
		{"delete denied", app, api.OpSecretDelete, api.SecretDeleteRequest{Path: pathMixed}, 401, api.CodeUnauthorized, "", denied, 0},
		{"undelete denied", app, api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathMixed}, 401, api.CodeUnauthorized, "", denied, 0},
		{"destroy denied", app, api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathMixed, Versions: []int{4}}, 401, api.CodeUnauthorized, "", denied, 0},
		{"settings denied", app, api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: pathMixed}, 401, api.CodeUnauthorized, "", denied, 0},
		{"metadata delete denied", app, api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: pathMixed}, 401, api.CodeUnauthorized, "", denied, 0},
		{"policy put denied", app, api.OpPolicyPut, api.PolicyPutRequest{Name: "p2", SPIFFEIDPattern: "^spiffe://x/y$", PathPattern: "^a$", Permissions: []api.Permission{api.PermRead}}, 401, api.CodeUnauthorized, "", denied, 0},
		{"policy delete denied", app, api.OpPolicyDelete, api.PolicyDeleteRequest{Name: "pol"}, 401, api.CodeUnauthorized, "", denied, 0},
		{"restore denied", app, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathMixed}, AsOfSeq: 1}, 401, api.CodeUnauthorized, "", denied, 0},
		{"encrypt denied", app, api.OpCipherEncrypt, api.CipherEncryptRequest{Plaintext: []byte("x")}, 401, api.CodeUnauthorized, "", denied, 0},
		{"get denied", app, api.OpSecretGet, api.SecretGetRequest{Path: pathMixed}, 401, api.CodeUnauthorized, "", denied, 0},

		// Refused by the state of the store.
		{"put, cas mismatch", su, api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "x"}, CAS: cas(3)}, 409, api.CodeConflict, api.ReasonCASMismatch, conflict, 4},
		{"put, cas required", su, api.OpSecretPut, api.SecretPutRequest{Path: pathCAS, Values: map[string]string{"v": "x"}}, 400, api.CodeBadRequest, api.ReasonCASRequired, conflict, 1},
		nf("patch, no such path", api.OpSecretPatch, api.SecretPatchRequest{Path: pathNone, Values: map[string]string{"v": "x"}}, api.ReasonNoSuchPath),
		{"patch, cas mismatch", su, api.OpSecretPatch, api.SecretPatchRequest{Path: pathMixed, Values: map[string]string{"v": "x"}, CAS: cas(1)}, 409, api.CodeConflict, api.ReasonCASMismatch, conflict, 4},
		{"patch, cas required", su, api.OpSecretPatch, api.SecretPatchRequest{Path: pathCAS, Values: map[string]string{"v": "x"}}, 400, api.CodeBadRequest, api.ReasonCASRequired, conflict, 1},
		nf("patch, all deleted", api.OpSecretPatch, api.SecretPatchRequest{Path: pathGone, Values: map[string]string{"v": "x"}}, api.ReasonDeleted),
		gone("patch, all destroyed", api.OpSecretPatch, api.SecretPatchRequest{Path: pathShred, Values: map[string]string{"v": "x"}}),
		{"patch, merged too large", su, api.OpSecretPatch, api.SecretPatchRequest{Path: pathBig, Values: map[string]string{"k2": "0123456789"}}, 400, api.CodeBadRequest, api.ReasonTooLarge, conflict, 0},
		nf("rollback, no such path", api.OpSecretRollback, api.SecretRollbackRequest{Path: pathNone, Version: 1}, api.ReasonNoSuchPath),
		nf("rollback, pruned", api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 1}, api.ReasonNoSuchVersion),
		nf("rollback, never written", api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 9}, api.ReasonNoSuchVersion),
		nf("rollback, deleted", api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 3}, api.ReasonDeleted),
		gone("rollback, destroyed", api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 2}),
		{"rollback, cas mismatch", su, api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 4, CAS: cas(2)}, 409, api.CodeConflict, api.ReasonCASMismatch, conflict, 4},
		{"rollback, cas required", su, api.OpSecretRollback, api.SecretRollbackRequest{Path: pathCAS, Version: 1}, 400, api.CodeBadRequest, api.ReasonCASRequired, conflict, 1},
		nf("delete, no such path", api.OpSecretDelete, api.SecretDeleteRequest{Path: pathNone}, api.ReasonNoSuchPath),
		nf("undelete, no such path", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathNone}, api.ReasonNoSuchPath),
		nf("undelete, not deleted", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathMixed, Versions: []int{4}}, api.ReasonNotDeleted),
		nf("undelete, nothing deleted", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathCAS}, api.ReasonNotDeleted),
		gone("undelete, destroyed", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathMixed, Versions: []int{2}}),
		nf("undelete, no such version", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathMixed, Versions: []int{9}}, api.ReasonNoSuchVersion),
		nf("destroy, no such path", api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathNone, Versions: []int{1}}, api.ReasonNoSuchPath),
		gone("destroy, destroyed already", api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathMixed, Versions: []int{2}}),
		nf("destroy, no such version", api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathMixed, Versions: []int{9}}, api.ReasonNoSuchVersion),
		nf("metadata delete, no such path", api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: pathNone}, api.ReasonNoSuchPath),
		nf("policy delete, no such policy", api.OpPolicyDelete, api.PolicyDeleteRequest{Name: "nope"}, api.ReasonNoSuchPath),
		nf("restore, no such path then or now", api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathNone}, AsOfSeq: 1}, api.ReasonNoSuchPath),
		nf("restore, before the log", api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathMixed}, AsOfTime: &past}, api.ReasonBeforeStart),
		{"restore, seq beyond the log", su, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathMixed}, AsOfSeq: 1 << 40}, 400, api.CodeBadRequest, api.ReasonFuture, notFound, 0},
		{"restore, time in the future", su, api.OpRestorePointApply, api.RestorePointApplyRequest{AsOfTime: &future}, 400, api.CodeBadRequest, api.ReasonFuture, notFound, 0},
		{"restore, data destroyed since", su, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathShred}, AsOfSeq: f.shredSeq}, 409, api.CodeConflict, api.ReasonDestroyed, conflict, 0},
		// A read that finds nothing is its read event, with the reason.
		nf("get, no such path", api.OpSecretGet, api.SecretGetRequest{Path: pathNone}, api.ReasonNoSuchPath),
		nf("get, pruned", api.OpSecretGet, api.SecretGetRequest{Path: pathMixed, Version: 1}, api.ReasonNoSuchVersion),
		nf("get, deleted", api.OpSecretGet, api.SecretGetRequest{Path: pathMixed, Version: 3}, api.ReasonDeleted),
		nf("get, destroyed", api.OpSecretGet, api.SecretGetRequest{Path: pathMixed, Version: 2}, api.ReasonDestroyed),
		nf("get, every version deleted", api.OpSecretGet, api.SecretGetRequest{Path: pathGone}, api.ReasonDeleted),

		// Bodies that do not decode or validate, and a value too large
		// before the store is reached: 400, and no event.
		{"put, bad body", su, api.OpSecretPut, map[string]any{"path": 7}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"put, bad path", su, api.OpSecretPut, api.SecretPutRequest{Path: "", Values: map[string]string{"v": "x"}}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"put, too large", su, api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": strings.Repeat("x", refusalLimit)}}, 400, api.CodeBadRequest, api.ReasonTooLarge, "", 0},
		{"patch, nothing to do", su, api.OpSecretPatch, api.SecretPatchRequest{Path: pathMixed}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"patch, too large", su, api.OpSecretPatch, api.SecretPatchRequest{Path: pathMixed, Values: map[string]string{"v": strings.Repeat("x", refusalLimit)}}, 400, api.CodeBadRequest, api.ReasonTooLarge, "", 0},
		{"rollback, version 0", su, api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"delete, bad version", su, api.OpSecretDelete, api.SecretDeleteRequest{Path: pathMixed, Versions: []int{-1}}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"delete, too many versions", su, api.OpSecretDelete, api.SecretDeleteRequest{Path: pathNone, Versions: make([]int, api.MaxVersionsListed+1)}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"destroy, too many versions", su, api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathNone, Versions: slices.Repeat([]int{1}, api.MaxVersionsListed+1)}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"undelete, bad path", su, api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "a b"}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"destroy, no versions", su, api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathMixed}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"settings, bad duration", su, api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: pathMixed, DeleteVersionAfter: new(string)}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"metadata delete, bad path", su, api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: ""}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"policy put, bad regex", su, api.OpPolicyPut, api.PolicyPutRequest{Name: "p3", SPIFFEIDPattern: "^spiffe://x/y$", PathPattern: "(", Permissions: []api.Permission{api.PermRead}}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"policy delete, bad name", su, api.OpPolicyDelete, api.PolicyDeleteRequest{Name: "a/b"}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
		{"restore, no point", su, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathMixed}}, 400, api.CodeBadRequest, api.ReasonInvalid, "", 0},
	}
	covered := map[api.Op]bool{}
	for _, tc := range cases {
		covered[tc.op] = true
		t.Run(tc.name, func(t *testing.T) {
			f.check(t, tc)
		})
	}
	for _, op := range writeOps {
		if !covered[op] {
			t.Errorf("no refusal of %s is tried", op)
		}
	}
}

// writeOps are the operations that write (or use the cipher): each is
// an event whatever its outcome.
var writeOps = []api.Op{api.OpSecretPut, api.OpSecretPatch, api.OpSecretRollback, api.OpSecretDelete, api.OpSecretUndelete,
	api.OpSecretDestroy, api.OpSecretSettingsPut, api.OpSecretMetadataDelete, api.OpPolicyPut, api.OpPolicyDelete,
	api.OpRestorePointApply, api.OpCipherEncrypt}

// check sends tc's request and checks its answer and what it recorded.
func (f *refusalFixture) check(t *testing.T, tc refusalCase) {
	t.Helper()
	ctx := context.Background()
	size := f.s.log.Size()
	resp := f.s.serveAs(t, tc.who, tc.op, tc.req)
	if resp.Status != tc.status {
		t.Fatalf("status %d, want %d (%+v)", resp.Status, tc.status, resp.Body)
	}
	if tc.reason != "" {
		p, ok := resp.Body.(api.Problem)
		if !ok || p.Err != tc.code || p.Reason != tc.reason || p.Message == "" || strings.HasPrefix(p.Message, "api:") {
			t.Fatalf("body %#v, want err %s, reason %s and a message", resp.Body, tc.code, tc.reason)
		}
		if (tc.current != 0) != (p.CurrentVersion != nil) || p.CurrentVersion != nil && *p.CurrentVersion != tc.current {
			t.Errorf("current version %v, want %d", p.CurrentVersion, tc.current)
		}
		t.Logf("%d %s %s: %s", resp.Status, p.Err, p.Reason, p.Message)
	} else if code := errCode(resp.Body); code != tc.code {
		t.Fatalf("body %#v, want err %s", resp.Body, tc.code)
	}
	if err := f.s.applier.current(ctx); err != nil {
		t.Fatal(err)
	}
	rows, _, err := f.s.proj.History(ctx, projections.HistoryQuery{After: size})
	if err != nil {
		t.Fatal(err)
	}
	if tc.outcome == "" {
		if len(rows) != 0 || f.s.log.Size() != size {
			t.Fatalf("recorded %+v; a bad body is no event", rows)
		}
		return
	}
	if len(rows) != 1 || f.s.log.Size() != size+1 {
		t.Fatalf("recorded %+v, want one event", rows)
	}
	e := auditEvent(rows[0])
	wantType := map[string]string{events.OutcomeDenied: "access.denied"}[tc.outcome]
	switch {
	case wantType != "":
	case tc.op == api.OpSecretGet:
		wantType = "secret.read"
	default:
		wantType = "request.refused"
	}
	if e.Type != wantType || e.Outcome != tc.outcome || e.Actor != tc.who.String() || e.RequestID != "test" {
		t.Errorf("event %+v, want type %s, outcome %s, actor %s", e, wantType, tc.outcome, tc.who)
	}
	if e.Type != "secret.read" && e.Action != tc.op.String() {
		t.Errorf("event action %q, want %q", e.Action, tc.op)
	}
	if tc.reason != "" && !strings.Contains(e.Detail, string(tc.reason)) {
		t.Errorf("event detail %q does not name the reason %s", e.Detail, tc.reason)
	}
}

// errCode reads the "err" of an error body: a Problem's, or the Err
// field of the operation's own response type.
func errCode(body any) api.ErrorCode {
	if p, ok := body.(api.Problem); ok {
		return p.Err
	}
	v := reflect.ValueOf(body)
	if v.Kind() != reflect.Struct {
		return ""
	}
	f := v.FieldByName("Err")
	if !f.IsValid() {
		return ""
	}
	code, _ := f.Interface().(api.ErrorCode)
	return code
}

// TestEveryRouteRecordsItsDenial: a caller no policy grants anything is
// refused on every route the service serves, and each refusal is one
// access.denied event — except the secret list, which shows such a
// caller only what it may read (nothing) rather than refusing it.
func TestEveryRouteRecordsItsDenial(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	nobody := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/nobody")
	bodies := map[api.Op]any{
		api.OpSecretPut:            api.SecretPutRequest{Path: "a", Values: map[string]string{"k": "v"}},
		api.OpSecretGet:            api.SecretGetRequest{Path: "a"},
		api.OpSecretDelete:         api.SecretDeleteRequest{Path: "a"},
		api.OpSecretUndelete:       api.SecretUndeleteRequest{Path: "a"},
		api.OpSecretMetadataGet:    api.SecretMetadataGetRequest{Path: "a"},
		api.OpPolicyPut:            api.PolicyPutRequest{Name: "p", SPIFFEIDPattern: "^spiffe://x/y$", PathPattern: "^a$", Permissions: []api.Permission{api.PermRead}},
		api.OpPolicyGet:            api.PolicyGetRequest{Name: "p"},
		api.OpPolicyDelete:         api.PolicyDeleteRequest{Name: "p"},
		api.OpPolicyList:           api.PolicyListRequest{},
		api.OpSecretDestroy:        api.SecretDestroyRequest{Path: "a", Versions: []int{1}},
		api.OpSecretSettingsPut:    api.SecretSettingsPutRequest{Path: "a"},
		api.OpSecretSettingsGet:    api.SecretSettingsGetRequest{Path: "a"},
		api.OpSecretHistory:        api.SecretHistoryRequest{Path: "a"},
		api.OpAuditList:            api.AuditListRequest{},
		api.OpAuditCheckpoint:      api.AuditCheckpointRequest{},
		api.OpAuditProof:           api.AuditProofRequest{Seq: 1},
		api.OpAuditConsistency:     api.AuditConsistencyRequest{OldSize: 1},
		api.OpRestorePointList:     api.RestorePointListRequest{},
		api.OpRestorePointApply:    api.RestorePointApplyRequest{AsOfSeq: 1},
		api.OpRestorePlan:          api.RestorePlanRequest{AsOfSeq: 1},
		api.OpCipherEncrypt:        api.CipherEncryptRequest{Plaintext: []byte("x")},
		api.OpCipherDecrypt:        api.CipherDecryptRequest{Version: 1, Nonce: make([]byte, 12), Ciphertext: make([]byte, 32)},
		api.OpSecretPatch:          api.SecretPatchRequest{Path: "a", Values: map[string]string{"k": "v"}},
		api.OpSecretRollback:       api.SecretRollbackRequest{Path: "a", Version: 1},
		api.OpSecretMetadataDelete: api.SecretMetadataDeleteRequest{Path: "a"},
		api.OpExportStart:          api.ExportStartRequest{Format: api.ExportSpikeDB},
		api.OpExportGet:            api.ExportGetRequest{ID: "01J"},
		api.OpAuditTail:            api.AuditTailRequest{},
		api.OpClusterList:          api.ClusterListRequest{},
		api.OpClusterAdd:           api.ClusterAddRequest{ID: "n2", RaftAddress: "10.0.0.2:8300"},
		api.OpClusterRemove:        api.ClusterRemoveRequest{ID: "n2"},
		api.OpOperatorBackup:       api.BackupRequest{},
	}
	for op := range s.routes {
		if op == api.OpSecretList {
			continue
		}
		body, ok := bodies[op]
		if !ok {
			t.Errorf("%s: no request to try", op)
			continue
		}
		size := s.log.Size()
		resp := s.serveAs(t, nobody, op, body)
		if err := s.applier.current(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows, _, err := s.proj.History(context.Background(), projections.HistoryQuery{After: size})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusUnauthorized || len(rows) != 1 || rows[0].Type != "access.denied" || auditEvent(rows[0]).Action != op.String() {
			t.Errorf("%s: status %d, recorded %+v; want 401 and one access.denied", op, resp.Status, rows)
		}
	}
}

// TestRefusalsRecordTheVersionsMeant: a refused delete, undelete or
// destroy records the versions it named as the accepted path resolves
// them (0 as the current version, each once, ascending), never the
// caller's list as sent.
func TestRefusalsRecordTheVersionsMeant(t *testing.T) {
	t.Parallel()
	f := newRefusalFixture(t)
	for _, tc := range []struct {
		name string
		op   api.Op
		req  any
		want []int
	}{
		{"delete, no such path", api.OpSecretDelete, api.SecretDeleteRequest{Path: pathNone, Versions: []int{3, 1, 3, 0, 2, 1}}, []int{1, 2, 3}},
		{"undelete, no such path", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathNone, Versions: []int{5, 5, 2}}, []int{2, 5}},
		{"undelete, not deleted", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathMixed, Versions: []int{4, 0, 4}}, []int{4}},
		{"undelete, destroyed", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: pathMixed, Versions: []int{2, 2, 2}}, []int{2}},
		{"destroy, no such version", api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathMixed, Versions: []int{9, 8, 9, 8}}, []int{8, 9}},
		{"destroy, no such path", api.OpSecretDestroy, api.SecretDestroyRequest{Path: pathNone, Versions: []int{2, 1, 2}}, []int{1, 2}},
	} {
		size := f.s.log.Size()
		resp := f.s.serveAs(t, f.su, tc.op, tc.req)
		if err := f.s.applier.current(context.Background()); err != nil {
			t.Fatal(err)
		}
		rows, _, err := f.s.proj.History(context.Background(), projections.HistoryQuery{After: size})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusNotFound || len(rows) != 1 || !slices.Equal(rows[0].Versions, tc.want) {
			t.Errorf("%s: status %d, recorded %+v; want 404 and one event with versions %v", tc.name, resp.Status, rows, tc.want)
		}
	}
}
