//go:build linux

package custody

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/test/e2e/system"
)

// TestRestorePlanIsWhatApplyDoes (issue 14): under a real SPIRE, with the
// real spike binary, a restore plan's listed actions — made by the
// auditor — equal what restore apply with the plan's base then reports
// it did, and the secrets read as the plan said; a restore to the point
// just before that restore's event undoes it.
func TestRestorePlanIsWhatApplyDoes(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2})
	s := &deployment{Deployment: d, t: t, root: t, tb: tb, recoveryDir: filepath.Join(d.Dir(), "recovery")}
	run := func(bin string, args ...string) string {
		t.Helper()
		r := s.pilot(bin, nil, args...)
		if r.Code != 0 {
			t.Fatalf("spike %v: %s", args, r)
		}
		return r.Stdout
	}
	for _, args := range [][]string{
		{"secret", "put", "rp/a", "k=one", "u=x"},
		{"secret", "put", "rp/b", "k=keep"},
		{"secret", "put", "rp/d", "k=same"},
		{"secret", "put", "rp/e", "k=gone-soon"},
		{"secret", "put", "other/x", "k=1"},
	} {
		run(superBin, args...)
	}
	var hist struct{ Events []struct{ Seq uint64 } }
	decode(t, run(auditorBin, "-f", "json", "audit", "list", "--path", "other/x", "--type", "secret.version.written"), &hist)
	if len(hist.Events) != 1 {
		t.Fatalf("history of other/x: %+v", hist)
	}
	point := strconv.FormatUint(hist.Events[0].Seq, 10)
	for _, args := range [][]string{
		{"secret", "put", "rp/a", "k=two"},
		{"secret", "put", "rp/c", "k=new"},
		{"secret", "delete", "rp/b"},
		{"secret", "destroy", "-y", "rp/e", "--versions", "1"},
		{"secret", "put", "other/x", "k=2"},
	} {
		run(superBin, args...)
	}

	var plan api.RestorePlanResponse
	decode(t, run(auditorBin, "-f", "json", "restore", "plan", "--prefix", "rp/", "--seq", point), &plan)
	want := map[string]string{"rp/a": "write", "rp/b": "write", "rp/c": "delete", "rp/d": "nothing", "rp/e": "impossible"}
	got := map[string]string{}
	for _, a := range plan.Actions {
		got[a.Path] = a.Action
		if a.Path == "rp/a" && !slices.Equal(a.Keys, []string{"k", "u"}) {
			t.Errorf("rp/a: keys %v, want [k u]", a.Keys)
		}
	}
	if !maps.Equal(got, want) || plan.Counts != (api.RestoreCounts{Write: 2, Delete: 1, Nothing: 1, Impossible: 1}) {
		t.Fatalf("plan: %+v, counts %+v", plan.Actions, plan.Counts)
	}
	before := s.readAll(t, "rp/a", "rp/b", "rp/c", "rp/d", "rp/e", "other/x")

	base := strconv.FormatUint(plan.BaseSeq, 10)
	if r := s.pilot(superBin, nil, "restore", "apply", "-y", "--prefix", "rp/", "--seq", point, "--base-seq", base); r.Code != 1 {
		t.Fatalf("apply of a plan with an impossible path, without --force: %s", r)
	}
	var applied api.RestorePointApplyResponse
	decode(t, run(superBin, "-f", "json", "restore", "apply", "-y", "--prefix", "rp/", "--seq", point, "--base-seq", base, "--force"), &applied)
	done := slices.Clone(applied.Actions)
	for i := range done {
		if (done[i].Action == "write") != (done[i].Written != 0) {
			t.Errorf("%s: %s, written %d", done[i].Path, done[i].Action, done[i].Written)
		}
		done[i].Written = 0
	}
	if !slices.EqualFunc(done, plan.Actions, sameAction) || applied.Counts == nil || *applied.Counts != plan.Counts {
		t.Fatalf("apply did\n %+v\nthe plan listed\n %+v", applied.Actions, plan.Actions)
	}
	after := s.readAll(t, "rp/a", "rp/b", "rp/c", "rp/d", "rp/e", "other/x")
	wantAfter := map[string]string{"rp/a": "k=one u=x", "rp/b": "k=keep", "rp/c": "", "rp/d": "k=same", "rp/e": "", "other/x": "k=2"}
	if !maps.Equal(after, wantAfter) {
		t.Fatalf("after the restore: %v, want %v", after, wantAfter)
	}

	// Undo: the same prefix, to the point just before the restore.
	run(superBin, "restore", "apply", "-y", "--prefix", "rp/", "--seq", strconv.FormatUint(applied.Seq-1, 10))
	if undone := s.readAll(t, "rp/a", "rp/b", "rp/c", "rp/d", "rp/e", "other/x"); !maps.Equal(undone, before) {
		t.Fatalf("after undo: %v, want %v", undone, before)
	}
}

func sameAction(a, b api.RestoreAction) bool {
	return a.Path == b.Path && a.Action == b.Action && a.FromVersion == b.FromVersion && a.AsOfVersion == b.AsOfVersion &&
		slices.Equal(a.Deleted, b.Deleted) && slices.Equal(a.Keys, b.Keys) && a.Reason == b.Reason
}

func decode(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
}

// readAll reads each path's current data as the superuser, as sorted
// "k=v" pairs ("" for a path with nothing readable). The values stay in
// memory: they are test values.
func (s *deployment) readAll(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range paths {
		r := s.pilot(superBin, nil, "-f", "json", "secret", "get", p)
		if r.Code != 0 {
			out[p] = ""
			continue
		}
		var doc struct{ Data map[string]string }
		decode(t, r.Stdout, &doc)
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(doc.Data)) {
			kv = append(kv, k+"="+doc.Data[k])
		}
		out[p] = joinSpace(kv)
	}
	return out
}

func joinSpace(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
