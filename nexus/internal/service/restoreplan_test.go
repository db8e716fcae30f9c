package service

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

// planFixture writes one path per action under app/, and one outside it,
// around the point then.
func planFixture(t *testing.T) (s *Service, then uint64) {
	t.Helper()
	s = newTestService(t, 10)
	put := func(path string, data map[string]string) {
		t.Helper()
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: data})
	}
	put("app/write", map[string]string{"v": "1", "u": "x"})
	put("app/same", map[string]string{"v": "s"})
	put("app/shred", map[string]string{"v": "old"})
	put("app/dead", map[string]string{"v": "d"})
	s.mustServe(t, api.OpSecretDelete, api.SecretDeleteRequest{Path: "app/dead"})
	put("other/x", map[string]string{"v": "1"})
	then = s.log.Size()
	put("app/write", map[string]string{"v": "2"})
	put("app/new", map[string]string{"v": "n"})
	s.mustServe(t, api.OpSecretDestroy, api.SecretDestroyRequest{Path: "app/shred", Versions: []int{1}})
	put("app/shred", map[string]string{"v": "newer"})
	put("other/x", map[string]string{"v": "2"})
	return s, then
}

// wantPlan is what planFixture's restore of app/ to then does.
var wantPlan = []api.RestoreAction{
	{Path: "app/dead", Action: api.RestoreNothing, Reason: "nothing readable then or now"},
	{Path: "app/new", Action: api.RestoreDelete, FromVersion: 1, Deleted: []int{1}},
	{Path: "app/same", Action: api.RestoreNothing, FromVersion: 1, AsOfVersion: 1, Reason: "reads now as it did then"},
	{Path: "app/shred", Action: api.RestoreImpossible, FromVersion: 2, Reason: "the data it had then has been destroyed since"},
	{Path: "app/write", Action: api.RestoreWrite, FromVersion: 2, AsOfVersion: 1, Keys: []string{"u", "v"}},
}

func sameActions(got, want []api.RestoreAction) bool {
	return slices.EqualFunc(got, want, func(a, b api.RestoreAction) bool {
		a.Written, b.Written = 0, 0
		return a.Path == b.Path && a.Action == b.Action && a.FromVersion == b.FromVersion && a.AsOfVersion == b.AsOfVersion &&
			slices.Equal(a.Deleted, b.Deleted) && slices.Equal(a.Keys, b.Keys) && a.Reason == b.Reason
	})
}

func TestRestorePlanActions(t *testing.T) {
	t.Parallel()
	s, then := planFixture(t)
	cases := map[string]struct {
		who  spiffeid.ID
		req  api.RestorePlanRequest
		want []api.RestoreAction
	}{
		"prefix":               {testSuperuser, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}, wantPlan},
		"prefix, auditor":      {testAuditor, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}, wantPlan},
		"named paths":          {testSuperuser, api.RestorePlanRequest{Paths: []string{"app/write", "app/new"}, AsOfSeq: then}, []api.RestoreAction{wantPlan[4], wantPlan[1]}},
		"every path":           {testSuperuser, api.RestorePlanRequest{AsOfSeq: then}, append(slices.Clone(wantPlan), api.RestoreAction{Path: "other/x", Action: api.RestoreWrite, FromVersion: 2, AsOfVersion: 1, Keys: []string{"v"}})},
		"a narrower prefix":    {testSuperuser, api.RestorePlanRequest{Prefix: "app/s", AsOfSeq: then}, wantPlan[2:4]},
		"now: nothing changes": {testSuperuser, api.RestorePlanRequest{Prefix: "app/w", AsOfSeq: s.log.Size()}, []api.RestoreAction{{Path: "app/write", Action: api.RestoreNothing, FromVersion: 2, AsOfVersion: 2, Reason: "reads now as it did then"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp := s.serveAs(t, tc.who, api.OpRestorePlan, tc.req)
			plan, ok := resp.Body.(api.RestorePlanResponse)
			if !ok {
				t.Fatalf("status %d: %+v", resp.Status, resp.Body)
			}
			if !sameActions(plan.Actions, tc.want) {
				t.Errorf("actions\n got %+v\nwant %+v", plan.Actions, tc.want)
			}
			if plan.Counts != api.Count(tc.want) || plan.AsOfSeq != tc.req.AsOfSeq || plan.BaseSeq < then {
				t.Errorf("plan = counts %+v, as of %d, base %d", plan.Counts, plan.AsOfSeq, plan.BaseSeq)
			}
		})
	}
}

func TestRestorePlanRefusals(t *testing.T) {
	t.Parallel()
	s, then := planFixture(t)
	app := spiffeid.RequireFromString("spiffe://" + identity.DefaultTrustRoot + "/workload/app")
	cases := map[string]struct {
		who    spiffeid.ID
		req    api.RestorePlanRequest
		status int
		reason api.Reason
	}{
		"workload":          {app, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}, 401, ""},
		"no point":          {testSuperuser, api.RestorePlanRequest{Prefix: "app/"}, 400, api.ReasonInvalid},
		"not a checkpoint":  {testSuperuser, api.RestorePlanRequest{Prefix: "app/", Point: then}, 404, api.ReasonNoSuchPoint},
		"beyond the log":    {testSuperuser, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: 1 << 40}, 400, api.ReasonFuture},
		"nothing there":     {testSuperuser, api.RestorePlanRequest{Prefix: "nope/", AsOfSeq: then}, 404, api.ReasonNoSuchPath},
		"prefix and paths":  {testSuperuser, api.RestorePlanRequest{Prefix: "app/", Paths: []string{"app/new"}, AsOfSeq: then}, 400, api.ReasonInvalid},
		"before the log":    {testSuperuser, api.RestorePlanRequest{Prefix: "app/", AsOfTime: new(time.Unix(0, 0))}, 404, api.ReasonBeforeStart},
		"a path, no secret": {testSuperuser, api.RestorePlanRequest{Paths: []string{"app/none"}, AsOfSeq: then}, 404, api.ReasonNoSuchPath},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp := s.serveAs(t, tc.who, api.OpRestorePlan, tc.req)
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %+v", resp.Status, tc.status, resp.Body)
			}
			if p, ok := resp.Body.(api.Problem); tc.reason != "" && (!ok || p.Reason != tc.reason) {
				t.Errorf("body %+v, want reason %s", resp.Body, tc.reason)
			}
		})
	}
}

// readable is every path's readable data now (nil: none).
func readable(t *testing.T, s *Service) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	paths, err := s.proj.Paths(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, p := range paths {
		if sv, err := s.proj.Secret(ctx, p, 0); err == nil {
			out[p] = sv.Data
		}
	}
	return out
}

func sameData(a, b map[string]map[string]string) bool {
	return maps.EqualFunc(a, b, func(x, y map[string]string) bool { return maps.Equal(x, y) })
}

// TestRestoreApplyDoesThePlan: an apply with a plan's base does exactly
// what the plan lists; it refuses a plan with an impossible action
// unless forced, and a plan whose paths changed after its base.
func TestRestoreApplyDoesThePlan(t *testing.T) {
	t.Parallel()
	s, then := planFixture(t)
	plan := s.mustServe(t, api.OpRestorePlan, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}).Body.(api.RestorePlanResponse)
	if s.log.Size() != plan.BaseSeq {
		t.Fatalf("a plan appended events: log %d, base %d", s.log.Size(), plan.BaseSeq)
	}
	apply := api.RestorePointApplyRequest{Prefix: "app/", AsOfSeq: then, BaseSeq: plan.BaseSeq}
	resp := s.serveAs(t, testSuperuser, api.OpRestorePointApply, apply)
	if p, ok := resp.Body.(api.Problem); resp.Status != http.StatusConflict || !ok || p.Reason != api.ReasonDestroyed {
		t.Fatalf("apply of a plan with an impossible action: %d %+v", resp.Status, resp.Body)
	}

	// A change outside the scope leaves the plan good; one inside makes
	// it stale, unless forced.
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "other/x", Values: map[string]string{"v": "3"}})
	apply.Force = false
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "app/same", Values: map[string]string{"v": "changed"}})
	resp = s.serveAs(t, testSuperuser, api.OpRestorePointApply, apply)
	if p, ok := resp.Body.(api.Problem); resp.Status != http.StatusConflict || !ok || p.Reason != api.ReasonPlanStale {
		t.Fatalf("apply of a stale plan: %d %+v", resp.Status, resp.Body)
	}

	plan = s.mustServe(t, api.OpRestorePlan, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}).Body.(api.RestorePlanResponse)
	s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: "other/x", Values: map[string]string{"v": "4"}})
	apply.BaseSeq, apply.Force = plan.BaseSeq, true
	res := s.mustServe(t, api.OpRestorePointApply, apply).Body.(api.RestorePointApplyResponse)
	if !sameActions(res.Actions, plan.Actions) || res.Counts == nil || *res.Counts != plan.Counts {
		t.Fatalf("apply did\n %+v\nthe plan said\n %+v", res.Actions, plan.Actions)
	}
	for _, a := range res.Actions {
		if (a.Action == api.RestoreWrite) != (a.Written != 0) {
			t.Errorf("%s: %s wrote version %d", a.Path, a.Action, a.Written)
		}
	}
	got := readable(t, s)
	want := map[string]map[string]string{
		"app/write": {"v": "1", "u": "x"}, "app/same": {"v": "s"}, "app/shred": {"v": "newer"}, "other/x": {"v": "4"},
	}
	if !sameData(got, want) {
		t.Fatalf("after the apply: %v, want %v", got, want)
	}
	// Planned again, nothing is left to do but the impossible.
	again := s.mustServe(t, api.OpRestorePlan, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}).Body.(api.RestorePlanResponse)
	if again.Counts != (api.RestoreCounts{Nothing: 4, Impossible: 1}) {
		t.Fatalf("plan after the apply: %+v", again.Actions)
	}
}

// TestRestoreUndo: undo is a restore to the point just before the
// restore's own event.
func TestRestoreUndo(t *testing.T) {
	t.Parallel()
	s := newTestService(t, 10)
	put := func(path, v string) {
		t.Helper()
		s.mustServe(t, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: map[string]string{"v": v}})
	}
	put("a", "1")
	put("b", "1")
	then := s.log.Size()
	put("a", "2")
	s.mustServe(t, api.OpSecretDelete, api.SecretDeleteRequest{Path: "b"})
	put("c", "1")
	before := readable(t, s)
	res := s.mustServe(t, api.OpRestorePointApply, api.RestorePointApplyRequest{AsOfSeq: then}).Body.(api.RestorePointApplyResponse)
	if sameData(readable(t, s), before) {
		t.Fatal("the restore changed nothing")
	}
	undo := s.mustServe(t, api.OpRestorePointApply, api.RestorePointApplyRequest{AsOfSeq: res.Seq - 1}).Body.(api.RestorePointApplyResponse)
	if got := readable(t, s); !sameData(got, before) {
		t.Fatalf("after undo: %v, want %v", got, before)
	}
	if undo.Counts == nil || undo.Counts.Write+undo.Counts.Delete == 0 {
		t.Fatalf("undo did nothing: %+v", undo.Actions)
	}
}

// TestRestoresOneAtATime: while a restore holds the slot, another waits,
// then is refused 429 busy; none runs alongside, and none is recorded.
func TestRestoresOneAtATime(t *testing.T) {
	t.Parallel()
	s, then := planFixture(t)
	s.restoreWait = 10 * time.Millisecond
	s.restoring <- struct{}{} // a restore running
	size := s.log.Size()
	for _, tc := range []struct {
		op  api.Op
		req any
	}{
		{api.OpRestorePlan, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}},
		{api.OpRestorePointApply, api.RestorePointApplyRequest{Paths: []string{"app/write"}, AsOfSeq: then}},
	} {
		resp := s.serveAs(t, testSuperuser, tc.op, tc.req)
		p, ok := resp.Body.(api.Problem)
		if resp.Status != http.StatusTooManyRequests || !ok || p.Err != api.CodeBusy || p.Reason != api.ReasonBusy || p.Message == "" {
			t.Fatalf("%s while a restore runs: %d %+v", tc.op, resp.Status, resp.Body)
		}
	}
	if s.log.Size() != size {
		t.Fatalf("busy refusals appended %d events", s.log.Size()-size)
	}
	<-s.restoring // it ends

	// Restores queued behind each other all run, one by one.
	s.restoreWait = defaultRestoreWait
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if resp := s.serveAs(t, testSuperuser, api.OpRestorePlan, api.RestorePlanRequest{Prefix: "app/", AsOfSeq: then}); resp.Status != 0 {
				t.Errorf("queued plan: %d %+v", resp.Status, resp.Body)
			}
		})
	}
	wg.Wait()
}

// TestRestoreOfAPrefixNamesIt: the record of a prefix's restore names
// the prefix, not every path.
func TestRestoreOfAPrefixNamesIt(t *testing.T) {
	t.Parallel()
	s, _ := planFixture(t)
	at := s.log.Size()
	res := s.mustServe(t, api.OpRestorePointApply, api.RestorePointApplyRequest{Prefix: "app/", AsOfSeq: at}).Body.(api.RestorePointApplyResponse)
	if len(res.Paths) != 0 || res.Counts == nil || res.Counts.Nothing != 5 {
		t.Fatalf("restore to now: %+v", res)
	}
	list := s.mustServe(t, api.OpAuditList, api.AuditListRequest{Types: []string{"restore.applied"}}).Body.(api.AuditListResponse).Events
	if len(list) != 1 || !strings.HasSuffix(list[0].Detail, "; for every path under app/") {
		t.Fatalf("audit list: %+v", list)
	}
}
