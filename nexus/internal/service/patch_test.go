package service

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/projections"
)

// read is the data and version of path's current version, from the
// projection.
func (s *Service) readNow(t *testing.T, path string, version int) (map[string]string, int) {
	t.Helper()
	sv, err := s.proj.Secret(context.Background(), path, version)
	if err != nil {
		t.Fatalf("read %s v%d: %v", path, version, err)
	}
	return sv.Data, sv.Version
}

func TestPatchMergesIntoANewVersion(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"a": "1", "b": "2"}})
	resp := s.mustServe(t, api.OpSecretPatch, api.SecretPatchRequest{Path: "p", Values: map[string]string{"b": "3", "c": "4"}, Remove: []string{"a", "zz"}})
	if v := resp.Body.(api.SecretPatchResponse).Version; v != 2 {
		t.Fatalf("patch wrote version %d, want 2", v)
	}
	if data, v := s.readNow(t, "p", 0); v != 2 || !maps.Equal(data, map[string]string{"b": "3", "c": "4"}) {
		t.Fatalf("after patch: v%d %v", v, data)
	}
	if data, _ := s.readNow(t, "p", 1); !maps.Equal(data, map[string]string{"a": "1", "b": "2"}) {
		t.Fatalf("version 1 changed: %v", data)
	}
	cas := 2
	s.mustServe(t, api.OpSecretPatch, api.SecretPatchRequest{Path: "p", Remove: []string{"b", "c"}, CAS: &cas})
	if data, v := s.readNow(t, "p", 0); v != 3 || len(data) != 0 {
		t.Fatalf("a patch removing every key: v%d %v", v, data)
	}
	h := s.historyOf(t, "p")
	if last := h[len(h)-1]; last.Type != "secret.version.written" || last.Detail != "patch" || !slices.Equal(last.Versions, []int{3}) {
		t.Errorf("history of the patch: %+v", last)
	}
}

// TestConcurrentPatchesLoseNothing: patches run in the command loop, so
// concurrent patches of different keys each see the one before.
func TestConcurrentPatchesLoseNothing(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 100)
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"base": "x"}})
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			resp := s.serveAs(t, testSuperuser, api.OpSecretPatch, api.SecretPatchRequest{Path: "p", Values: map[string]string{fmt.Sprintf("k%d", i): "v"}})
			if resp.Status != 0 && resp.Status != http.StatusOK {
				errs <- fmt.Errorf("patch %d: %d %+v", i, resp.Status, resp.Body)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if data, v := s.readNow(t, "p", 0); v != n+1 || len(data) != n+1 {
		t.Fatalf("after %d patches: version %d with %d keys", n, v, len(data))
	}
}

func TestRollbackWritesAnOldVersionAnew(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	for _, v := range []string{"one", "two", "three"} {
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"v": v}})
	}
	cas := 3
	resp := s.mustServe(t, api.OpSecretRollback, api.SecretRollbackRequest{Path: "p", Version: 1, CAS: &cas})
	if v := resp.Body.(api.SecretRollbackResponse).Version; v != 4 {
		t.Fatalf("rollback wrote version %d, want 4", v)
	}
	if data, v := s.readNow(t, "p", 0); v != 4 || data["v"] != "one" {
		t.Fatalf("after rollback: v%d %v", v, data)
	}
	if data, _ := s.readNow(t, "p", 3); data["v"] != "three" {
		t.Fatalf("the versions in between changed: %v", data)
	}
	h := s.historyOf(t, "p")
	if last := h[len(h)-1]; last.Detail != "rollback from=1" || !slices.Equal(last.Versions, []int{4}) {
		t.Errorf("history of the rollback: %+v", last)
	}
}

// TestMetadataDeleteRemovesThePath: every version's data is destroyed
// (its key shredded), the path no longer lists or reads, its history
// stays, and a later write continues after the highest version it had.
func TestMetadataDeleteRemovesThePath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newTestService(t, 3)
	for i := range 5 { // holds 3, 4, 5
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"v": fmt.Sprint(i + 1)}})
	}
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "other", Values: map[string]string{"v": "x"}})
	s.mustServe(t, api.OpSecretDestroy, api.SecretDestroyRequest{Path: "p", Versions: []int{3}})
	s.mustServe(t, api.OpSecretDelete, api.SecretDeleteRequest{Path: "p", Versions: []int{5}})
	before := s.log.Size()
	var keys []string
	for _, v := range []int{4, 5} {
		k, err := s.proj.ValueKey(ctx, "p", v)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}

	resp := s.mustServe(t, api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: "p"})
	if got := resp.Body.(api.SecretMetadataDeleteResponse).Versions; !slices.Equal(got, []int{4, 5}) {
		t.Fatalf("destroyed %v, want [4 5] (3 was already)", got)
	}
	for _, k := range keys {
		if live, err := s.log.ValueKeyLive(ctx, ulid.MustParse(k)); err != nil || live {
			t.Errorf("value key %s live after the path's removal (%v)", k, err)
		}
	}
	list := s.mustServe(t, api.OpSecretList, api.SecretListRequest{}).Body.(api.SecretListResponse)
	if !slices.Equal(list.Keys, []string{"other"}) {
		t.Errorf("list = %v", list.Keys)
	}
	for _, tc := range []struct {
		op  api.Op
		req any
	}{
		{api.OpSecretGet, api.SecretGetRequest{Path: "p"}},
		{api.OpSecretGet, api.SecretGetRequest{Path: "p", Version: 4}},
		{api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "p", IncludeDeleted: true}},
		{api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: "p"}},
	} {
		resp := s.serveAs(t, testSuperuser, tc.op, tc.req)
		if p, ok := resp.Body.(api.Problem); resp.Status != http.StatusNotFound || !ok || p.Reason != api.ReasonNoSuchPath {
			t.Errorf("%s %+v after removal: %d %+v", tc.op, tc.req, resp.Status, resp.Body)
		}
	}
	// Its history stays, the removal in it.
	h := s.historyOf(t, "p")
	var removal *api.AuditEvent
	for i := range h {
		if h[i].Type == "secret.metadata.deleted" {
			removal = &h[i]
		}
	}
	if len(h) < 8 || removal == nil || !slices.Equal(removal.Versions, []int{4, 5}) || removal.Seq != before+1 {
		t.Errorf("history after removal: %+v", h)
	}
	// Version numbers are never reused.
	put := s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"v": "new"}}).Body.(api.SecretPutResponse)
	if put.Version != 6 {
		t.Fatalf("first write after removal is version %d, want 6", put.Version)
	}
	// A path re-made by its settings alone continues the same way.
	s.mustServe(t, api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: "p"})
	yes := true
	s.mustServe(t, api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: "p", CASRequired: &yes})
	cas := 0
	put = s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"v": "newer"}, CAS: &cas}).Body.(api.SecretPutResponse)
	if put.Version != 7 {
		t.Fatalf("write after removal and settings is version %d, want 7", put.Version)
	}
	// A restore to a point before the removal cannot bring the data back.
	resp = s.serveAs(t, testSuperuser, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{"p"}, AsOfSeq: before})
	if p, ok := resp.Body.(api.Problem); resp.Status != http.StatusConflict || !ok || p.Reason != api.ReasonDestroyed {
		t.Errorf("restore to before the removal: %d %+v", resp.Status, resp.Body)
	}
	checkRebuildDigest(t, s)
}

// checkRebuildDigest compares the service's live projection with one
// rebuilt from its log: they must be equal row for row.
func checkRebuildDigest(t *testing.T, s *Service) {
	t.Helper()
	ctx := context.Background()
	if err := s.applier.current(ctx); err != nil {
		t.Fatal(err)
	}
	var key []byte
	if err := s.withKey(func(root []byte) (err error) { key, err = projections.KeyFromRoot(root); return err }); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := projections.Open(ctx, s.log, projections.Options{Memory: true, Key: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer rebuilt.Close()
	live, err := s.proj.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	again, err := rebuilt.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if live != again {
		t.Error("the live projection and one rebuilt from the log differ")
	}
}

// TestNewWritesRebuildAlike: after patches, rollbacks, removals,
// refusals and restores, a rebuild from the log equals the live state.
func TestNewWritesRebuildAlike(t *testing.T) {
	t.Parallel()
	f := newRefusalFixture(t)
	s := f.s
	s.mustServe(t, api.OpSecretPatch, api.SecretPatchRequest{Path: pathMixed, Values: map[string]string{"w": "1"}})
	s.mustServe(t, api.OpSecretRollback, api.SecretRollbackRequest{Path: pathMixed, Version: 4})
	s.mustServe(t, api.OpSecretMetadataDelete, api.SecretMetadataDeleteRequest{Path: pathGone})
	cas := 1
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: pathCAS, Values: map[string]string{"v": "2"}, CAS: &cas})
	// Two paths change: one written, one deleted.
	res := s.mustServe(t, api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{pathCAS, pathBig}, AsOfSeq: f.shredSeq}).Body.(api.RestorePointApplyResponse)
	if !slices.Equal(res.Paths, []string{pathCAS, pathBig}) {
		t.Fatalf("restore changed %v", res.Paths)
	}
	s.serveAs(t, f.su, api.OpSecretPut, api.SecretPutRequest{Path: pathMixed, Values: map[string]string{"v": "x"}, CAS: &cas})
	if h := s.historyOf(t, pathMixed); !strings.Contains(h[len(h)-1].Detail, "cas_mismatch") {
		t.Fatalf("last of %s's history: %+v", pathMixed, h[len(h)-1])
	}
	checkRebuildDigest(t, s)
}
