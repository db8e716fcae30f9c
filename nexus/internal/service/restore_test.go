package service

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

func TestRestorePointApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestService(t, 10)
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	app := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/app")
	ok := func(resp transport.Response) {
		t.Helper()
		if resp.Status != 0 && resp.Status != http.StatusOK {
			t.Fatalf("status %d: %+v", resp.Status, resp.Body)
		}
	}
	put := func(path, v string) {
		t.Helper()
		ok(s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"v": v}}))
	}
	read := func(path string) (string, int) {
		t.Helper()
		sv, err := s.proj.Secret(ctx, path, 0)
		if err != nil {
			return "", 0
		}
		return sv.Data["v"], sv.Version
	}
	restore := func(req api.RestorePointApplyRequest) (api.RestorePointApplyResponse, int) {
		t.Helper()
		resp := s.serveAs(t, su, api.OpRestorePointApply, req)
		var out api.RestorePointApplyResponse
		b, _ := json.Marshal(resp.Body)
		json.Unmarshal(b, &out)
		return out, resp.Status
	}

	put("a", "1")
	put("a", "2")
	put("b", "x")
	then := s.log.Size()
	thenTime := time.Now()
	put("a", "3")
	ok(s.serveAs(t, su, api.OpSecretDelete, api.SecretDeleteRequest{Path: "b"}))
	put("c", "new")

	// One path: a gets its data of then as a new version; b and c stay.
	res, status := restore(api.RestorePointApplyRequest{Paths: []string{"a"}, AsOfSeq: then})
	if status != 0 || !slices.Equal(res.Paths, []string{"a"}) || res.AsOfSeq != then {
		t.Fatalf("restore a = %+v, %d", res, status)
	}
	if v, ver := read("a"); v != "2" || ver != 4 {
		t.Fatalf("a after restore = %q v%d, want \"2\" v4", v, ver)
	}
	if rec, err := s.log.Get(ctx, res.Seq); err != nil || rec.Type != "restore.applied" {
		t.Fatalf("seq %d is %q, %v", res.Seq, rec.Type, err)
	}
	if v, _ := read("b"); v != "" {
		t.Fatalf("b restored without being named: %q", v)
	}

	// Every path, by time: b comes back, c goes, a is already right.
	res, status = restore(api.RestorePointApplyRequest{AsOfTime: &thenTime})
	if status != 0 || !slices.Equal(res.Paths, []string{"b", "c"}) {
		t.Fatalf("restore all = %+v, %d", res, status)
	}
	if v, _ := read("b"); v != "x" {
		t.Fatalf("b = %q, want x", v)
	}
	if v, _ := read("c"); v != "" {
		t.Fatalf("c = %q, want nothing readable", v)
	}
	// ... softly: c's version can be undeleted.
	ok(s.serveAs(t, su, api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "c"}))
	if v, _ := read("c"); v != "new" {
		t.Fatalf("c after undelete = %q", v)
	}
	// The same restore again changes nothing more.
	if res, status = restore(api.RestorePointApplyRequest{Paths: []string{"a", "b"}, AsOfSeq: then}); status != 0 || len(res.Paths) != 0 {
		t.Fatalf("repeat restore = %+v, %d", res, status)
	}

	// Destroyed data stays destroyed: restoring it is a conflict, and
	// nothing changes but the refusal's record.
	ok(s.serveAs(t, su, api.OpSecretDestroy, api.SecretDestroyRequest{Path: "a", Versions: []int{2}}))
	size := s.log.Size()
	if _, status = restore(api.RestorePointApplyRequest{Paths: []string{"a"}, AsOfSeq: then}); status != http.StatusConflict {
		t.Fatalf("restore of destroyed data: status %d", status)
	}
	if rec, err := s.log.Get(ctx, s.log.Size()); s.log.Size() != size+1 || err != nil || rec.Type != "request.refused" {
		t.Fatalf("a refused restore appended %d events (last %q, %v), want its refusal", s.log.Size()-size, rec.Type, err)
	}

	for name, tc := range map[string]struct {
		who  spiffeid.ID
		req  api.RestorePointApplyRequest
		want int
	}{
		"no point":         {su, api.RestorePointApplyRequest{Paths: []string{"a"}}, 400},
		"both points":      {su, api.RestorePointApplyRequest{AsOfSeq: 1, AsOfTime: &thenTime}, 400},
		"bad path":         {su, api.RestorePointApplyRequest{Paths: []string{""}, AsOfSeq: 1}, 400},
		"a path twice":     {su, api.RestorePointApplyRequest{Paths: []string{"a", "b", "a"}, AsOfSeq: then}, 400},
		"beyond the log":   {su, api.RestorePointApplyRequest{Paths: []string{"a"}, AsOfSeq: 1 << 40}, 400},
		"workload, a path": {app, api.RestorePointApplyRequest{Paths: []string{"a"}, AsOfSeq: then}, 401},
		"workload, all":    {app, api.RestorePointApplyRequest{AsOfSeq: then}, 401},
	} {
		size := s.log.Size()
		if resp := s.serveAs(t, tc.who, api.OpRestorePointApply, tc.req); resp.Status != tc.want {
			t.Errorf("%s: status %d, want %d", name, resp.Status, tc.want)
		}
		// Bad bodies are not events; a refusal by authorisation or by
		// the log (a point beyond it) is one.
		wantEvents := uint64(1)
		if tc.want == 400 && tc.req.AsOfSeq != 1<<40 {
			wantEvents = 0
		}
		if got := s.log.Size() - size; got != wantEvents {
			t.Errorf("%s: %d events appended, want %d", name, got, wantEvents)
		}
	}
}

// TestRestoreAllCoversPathsWrittenMeanwhile: restoring every path also
// removes a path written after the earlier state was read, which the
// targets cannot know.
func TestRestoreAllCoversPathsWrittenMeanwhile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestService(t, 10)
	su := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)
	s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "old", Values: map[string]string{"v": "1"}})
	then := s.log.Size()
	targets, err := s.restoreTargets(ctx, then, projections.Scope{})
	if err != nil {
		t.Fatal(err)
	}
	s.serveAs(t, su, api.OpSecretPut, api.SecretPutRequest{Path: "late", Values: map[string]string{"v": "2"}})
	r := &transport.Request{ID: "test", Peer: su}
	out := s.applyRestore(ctx, r, api.RestorePointApplyRequest{AsOfSeq: then}, restorePoint{seq: then, time: time.Now()}, projections.Scope{}, targets)
	var deleted []string
	for _, ev := range out.events {
		if ev.Type == "secret.versions.deleted" {
			pl, err := events.Decode(ev.Type, ev.Schema, ev.Payload)
			if err != nil {
				t.Fatal(err)
			}
			deleted = append(deleted, pl.(*events.SecretVersionsDeleted).Path)
		}
	}
	if !slices.Equal(deleted, []string{"late"}) {
		t.Fatalf("deleted %v, want [late]", deleted)
	}
}

// TestRestoreNamesWhatItDid: restore.applied names the point and each
// change; audit list shows it with its path (one path) or every path in
// its detail (several), and it is in the history of every path it
// changed, with the version written or deleted there.
func TestRestoreNamesWhatItDid(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	put := func(path, v string) {
		t.Helper()
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"v": v}})
	}
	put("a", "1")
	put("b", "1")
	then := s.log.Size()
	put("a", "2") // a: v2; restoring writes v3 with v1's data
	put("c", "1") // c: new; restoring deletes its v1
	put("d", "1") // d: new, not restored

	res := s.mustServe(t, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{"a", "b", "c"}, AsOfSeq: then}).Body.(api.RestorePointApplyResponse)
	if !slices.Equal(res.Paths, []string{"a", "c"}) {
		t.Fatalf("restore changed %v", res.Paths)
	}
	list := s.mustServe(t, api.OpAuditList, api.AuditListRequest{Types: []string{"restore.applied"}}).Body.(api.AuditListResponse).Events
	if len(list) != 1 || list[0].Seq != res.Seq || !strings.Contains(list[0].Detail, "to seq "+strconv.FormatUint(then, 10)+" (") ||
		!strings.Contains(list[0].Detail, "a: wrote version 3") || !strings.Contains(list[0].Detail, "c: deleted versions=1") {
		t.Fatalf("audit list: %+v", list)
	}
	for path, want := range map[string][]int{"a": {3}, "c": {1}} {
		var found []api.AuditEvent
		for _, e := range s.historyOf(t, path) {
			if e.Type == "restore.applied" {
				found = append(found, e)
			}
		}
		if len(found) != 1 || found[0].Seq != res.Seq || found[0].Path != path || !slices.Equal(found[0].Versions, want) || found[0].Outcome != "ok" {
			t.Errorf("history of %s: restores %+v, want one with versions %v", path, found, want)
		}
	}
	for _, path := range []string{"b", "d"} {
		for _, e := range s.historyOf(t, path) {
			if e.Type == "restore.applied" {
				t.Errorf("history of %s, which the restore did not change: %+v", path, e)
			}
		}
	}
	// One path: the audit list row is that path's.
	put("b", "2")
	res = s.mustServe(t, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{"b"}, AsOfSeq: then}).Body.(api.RestorePointApplyResponse)
	list = s.mustServe(t, api.OpAuditList, api.AuditListRequest{Types: []string{"restore.applied"}, Page: api.Page{After: res.Seq - 1}}).Body.(api.AuditListResponse).Events
	if len(list) != 1 || list[0].Path != "b" || !slices.Equal(list[0].Versions, []int{3}) || !strings.HasSuffix(list[0].Detail, "; wrote version 3") {
		t.Fatalf("audit list of a one-path restore: %+v", list)
	}
}
