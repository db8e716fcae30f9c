package service

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

var testSuperuser = spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + identity.PathPilotSuperuser)

// mustServe serves req as the superuser and fails on any refusal.
func (s *Service) mustServe(t *testing.T, op api.Op, req any) transport.Response {
	t.Helper()
	resp := s.serveAs(t, testSuperuser, op, req)
	if resp.Status != 0 && resp.Status != http.StatusOK {
		t.Fatalf("%s: status %d %+v", op, resp.Status, resp.Body)
	}
	return resp
}

// historyOf is a path's history through the history route.
func (s *Service) historyOf(t *testing.T, path string) []api.AuditEvent {
	t.Helper()
	return s.mustServe(t, api.OpSecretHistory, api.SecretHistoryRequest{Path: path}).Body.(api.SecretHistoryResponse).Events
}

// TestManyVersionChangesRecordEveryVersion: a delete, undelete or
// destroy of several versions is recorded with all of them, as the
// history and audit routes show it (it used to record only the first).
func TestManyVersionChangesRecordEveryVersion(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	for range 3 {
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"k": "v"}})
	}
	s.mustServe(t, api.OpSecretDelete, api.SecretDeleteRequest{Path: "p", Versions: []int{1, 2, 3}})
	s.mustServe(t, api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "p", Versions: []int{2, 3}})
	s.mustServe(t, api.OpSecretDestroy, api.SecretDestroyRequest{Path: "p", Versions: []int{1, 3}})
	want := map[string][]int{
		"secret.versions.deleted":   {1, 2, 3},
		"secret.versions.undeleted": {2, 3},
		"secret.versions.destroyed": {1, 3},
	}
	seen := 0
	for _, e := range s.historyOf(t, "p") {
		if w, ok := want[e.Type]; ok {
			seen++
			if !slices.Equal(e.Versions, w) {
				t.Errorf("history: %s versions %v, want %v", e.Type, e.Versions, w)
			}
		}
	}
	list := s.mustServe(t, api.OpAuditList, api.AuditListRequest{Types: []string{"secret.versions.deleted"}}).Body.(api.AuditListResponse).Events
	if len(list) != 1 || !slices.Equal(list[0].Versions, []int{1, 2, 3}) {
		t.Errorf("audit list: %+v", list)
	}
	if seen != len(want) {
		t.Errorf("history holds %d of the %d changes", seen, len(want))
	}
}

// TestVersionChangesAnswerWhatChanged: delete, undelete and destroy say
// which versions they changed and which is current after; get says when
// the version served was written.
func TestVersionChangesAnswerWhatChanged(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	before := time.Now()
	for range 3 {
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"k": "v"}})
	}
	get := s.mustServe(t, api.OpSecretGet, api.SecretGetRequest{Path: "p", Version: 2}).Body.(api.SecretGetResponse)
	if get.Version != 2 || get.CreatedTime == nil || get.CreatedTime.Before(before) || get.CreatedTime.After(time.Now()) {
		t.Errorf("get = version %d created %v", get.Version, get.CreatedTime)
	}
	type change struct {
		versions []int
		current  int
	}
	for _, tc := range []struct {
		name string
		op   api.Op
		req  any
		want change
	}{
		// Deleting the current version makes the highest readable one
		// current; 0 is "none".
		{"delete current", api.OpSecretDelete, api.SecretDeleteRequest{Path: "p"}, change{[]int{3}, 2}},
		{"delete again", api.OpSecretDelete, api.SecretDeleteRequest{Path: "p", Versions: []int{3, 2}}, change{[]int{2}, 1}},
		{"delete nothing new", api.OpSecretDelete, api.SecretDeleteRequest{Path: "p", Versions: []int{2, 9}}, change{nil, 1}},
		{"undelete last deleted", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "p"}, change{[]int{2}, 2}},
		{"undelete some", api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "p", Versions: []int{3, 1}}, change{[]int{3}, 3}},
		{"destroy current", api.OpSecretDestroy, api.SecretDestroyRequest{Path: "p", Versions: []int{3}}, change{[]int{3}, 2}},
		{"destroy the rest", api.OpSecretDestroy, api.SecretDestroyRequest{Path: "p", Versions: []int{1, 2, 3}}, change{[]int{1, 2}, 0}},
	} {
		var got change
		switch b := s.mustServe(t, tc.op, tc.req).Body.(type) {
		case api.SecretDeleteResponse:
			got = change{b.Versions, deref(b.CurrentVersion)}
		case api.SecretUndeleteResponse:
			got = change{b.Versions, deref(b.CurrentVersion)}
		case api.SecretDestroyResponse:
			got = change{b.Versions, deref(b.CurrentVersion)}
		}
		if !slices.Equal(got.versions, tc.want.versions) || got.current != tc.want.current {
			t.Errorf("%s: versions %v current %d, want %v current %d", tc.name, got.versions, got.current, tc.want.versions, tc.want.current)
		}
	}
}

func deref(p *int) int {
	if p == nil {
		return -1
	}
	return *p
}

// TestMetadataIncludeDeleted: metadata of a path whose every version is
// deleted or destroyed is 404 as in SPIKE, and with includeDeleted shows
// each version and its state, so there is something to undelete.
func TestMetadataIncludeDeleted(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	for range 3 {
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "p", Values: map[string]string{"k": "v"}})
	}
	s.mustServe(t, api.OpSecretDestroy, api.SecretDestroyRequest{Path: "p", Versions: []int{1}})
	s.mustServe(t, api.OpSecretDelete, api.SecretDeleteRequest{Path: "p", Versions: []int{2, 3}})

	resp := s.serveAs(t, testSuperuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "p"})
	if p, ok := resp.Body.(api.Problem); resp.Status != http.StatusNotFound || !ok || p.Reason != api.ReasonDeleted {
		t.Fatalf("without includeDeleted: %d %+v", resp.Status, resp.Body)
	}
	m := s.mustServe(t, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "p", IncludeDeleted: true}).Body.(api.SecretMetadataGetResponse)
	if m.Metadata.CurrentVersion != 0 || len(m.Versions) != 3 {
		t.Fatalf("metadata = %+v", m)
	}
	if v := m.Versions[1]; !v.Destroyed || v.DeletedTime != nil {
		t.Errorf("version 1 = %+v, want destroyed", v)
	}
	for _, n := range []int{2, 3} {
		if v := m.Versions[n]; v.Destroyed || v.DeletedTime == nil || v.DeletedTime.Before(v.CreatedTime) {
			t.Errorf("version %d = %+v, want deleted", n, v)
		}
	}
	// A version asked for by number is answered deleted, too.
	if m := s.mustServe(t, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "p", Version: 2, IncludeDeleted: true}).Body.(api.SecretMetadataGetResponse); len(m.Versions) != 3 {
		t.Errorf("version 2 with includeDeleted: %+v", m)
	}
	for name, tc := range map[string]struct {
		req    api.SecretMetadataGetRequest
		reason api.Reason
	}{
		"no such path":                     {api.SecretMetadataGetRequest{Path: "q", IncludeDeleted: true}, api.ReasonNoSuchPath},
		"no such version":                  {api.SecretMetadataGetRequest{Path: "p", Version: 7, IncludeDeleted: true}, api.ReasonNoSuchVersion},
		"a deleted version without flag":   {api.SecretMetadataGetRequest{Path: "p", Version: 2}, api.ReasonDeleted},
		"a destroyed version without flag": {api.SecretMetadataGetRequest{Path: "p", Version: 1}, api.ReasonDestroyed},
	} {
		resp := s.serveAs(t, testSuperuser, api.OpSecretMetadataGet, tc.req)
		if p, ok := resp.Body.(api.Problem); resp.Status != http.StatusNotFound || !ok || p.Reason != tc.reason || p.Err != api.CodeNotFound {
			t.Errorf("%s: %d %+v, want 404 %s", name, resp.Status, resp.Body, tc.reason)
		}
	}
}
