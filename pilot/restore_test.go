package pilot_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// restore apply takes --time as RFC 3339, a date or a duration ago,
// refuses the future before sending anything, and fails when it changed
// no path (a mistyped path, most often) instead of printing "Restored 0
// paths" and exiting 0. A path that exists neither then nor now is
// Nexus's refusal (no_such_path); paths that are as they were, the CLI's.
func TestRestoreApplyPointsAndNothing(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p+"/a", "k=one").check(t, 0, "")
	r := super(t, "", "-f", "json", "audit", "list", "--path", p+"/a", "--type", "secret.version.written")
	r.check(t, 0, "")
	var doc struct{ Events []struct{ Seq uint64 } }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Events) != 1 {
		t.Fatalf("history %q, %v", r.stdout, err)
	}
	point := strconv.FormatUint(doc.Events[0].Seq, 10)
	runCases(t, []cliCase{
		{name: "nothing to restore at a mistyped path", args: []string{"restore", "apply", "-y", "--seq", point, p + "/typo"}, code: 1,
			want: "no secret at " + p + "/typo, at seq " + point + " or now"},
		{name: "nothing to restore at a path as it was", args: []string{"restore", "apply", "-y", "--seq", point, p + "/a", p + "/typo"}, code: 1,
			want: "restored nothing: " + p + "/a, " + p + "/typo are as they were at seq " + point},
		{name: "nothing to restore, json", args: []string{"-f", "json", "restore", "apply", "-y", "--seq", point, p + "/typo"}, code: 1, want: "no secret at " + p + "/typo"},
		{name: "future time", args: []string{"restore", "apply", "-y", "--time", "2999-01-01T00:00:00Z", p + "/a"}, code: 2,
			want: "--time 2999-01-01T00:00:00Z is in the future"},
		{name: "future date", args: []string{"restore", "apply", "-y", "--time", "2999-01-01", p + "/a"}, code: 2, want: "is in the future"},
		{name: "not a time shows examples", args: []string{"restore", "apply", "-y", "--time", "noon", p + "/a"}, code: 2,
			want: `--time "noon" is not a time: give an RFC 3339 time (2026-12-01T15:04:05Z), a date`},
		// A date and a duration ago are sent as times: before this log's
		// first event, Nexus has no such point.
		{name: "a date", args: []string{"restore", "apply", "-y", "--time", "2000-01-01", p + "/a"}, code: 1, want: "no such point in the log"},
		{name: "a duration ago", args: []string{"restore", "apply", "-y", "--time", "9000d", p + "/a"}, code: 1, want: "no such point in the log"},
	})
}

// restore plan lists what apply would do, per path, with counts, as a
// table, JSON or YAML, and changes nothing; apply without --base-seq
// shows the plan and applies it; apply with a stale --base-seq is
// refused unless --force.
func TestRestorePlan(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p+"/a", "k=one", "u=x").check(t, 0, "")
	super(t, "", "secret", "put", p+"/b", "k=keep").check(t, 0, "")
	r := super(t, "", "-f", "json", "audit", "list", "--path", p+"/b", "--type", "secret.version.written")
	r.check(t, 0, "")
	var doc struct{ Events []struct{ Seq uint64 } }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Events) != 1 {
		t.Fatalf("history %q, %v", r.stdout, err)
	}
	point := strconv.FormatUint(doc.Events[0].Seq, 10)
	super(t, "", "secret", "put", p+"/a", "k=two").check(t, 0, "")
	super(t, "", "secret", "put", p+"/c", "k=new").check(t, 0, "")
	prefix := p + "/"

	r = super(t, "", "-f", "json", "restore", "plan", "--prefix", prefix, "--seq", point)
	r.check(t, 0, "")
	var plan struct {
		BaseSeq uint64
		Actions []struct {
			Path, Action string
			Keys         []string
		}
		Counts struct{ Write, Delete, Nothing, Impossible int }
	}
	if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Actions) != 3 || plan.Actions[0].Action != "write" || strings.Join(plan.Actions[0].Keys, ",") != "k,u" ||
		plan.Actions[1].Action != "nothing" || plan.Actions[2].Action != "delete" || plan.Counts.Write != 1 || plan.Counts.Delete != 1 || plan.Counts.Nothing != 1 {
		t.Fatalf("plan %+v", plan)
	}
	if strings.Contains(r.stdout, "one") || strings.Contains(r.stdout, "two") {
		t.Fatalf("a plan shows values: %s", r.stdout)
	}
	base := strconv.FormatUint(plan.BaseSeq, 10)
	notPoint := notARestorePoint(t, doc.Events[0].Seq)
	runCases(t, []cliCase{
		{name: "plan json", args: []string{"-f", "json", "restore", "plan", "--prefix", prefix, "--seq", point}, golden: "restore-plan"},
		{name: "plan", args: []string{"restore", "plan", "--prefix", prefix, "--seq", point}, want: "3 paths: 1 write, 1 delete, 1 nothing, 0 impossible."},
		{name: "plan to now", args: []string{"restore", "plan", "--prefix", prefix, "--at", time.Now().UTC().Format(time.RFC3339Nano)}, want: "3 paths: 0 write, 0 delete, 3 nothing"},
		{name: "plan table", args: []string{"restore", "plan", "--prefix", prefix, "--seq", point}, want: p + "/a  write    v2   v1    k, u"},
		{name: "plan yaml", args: []string{"-f", "yaml", "restore", "plan", "--prefix", prefix, "--seq", point}, want: "action: \"delete\""},
		{name: "plan, paths", args: []string{"restore", "plan", "--seq", point, p + "/c"}, want: "1 path: 0 write, 1 delete"},
		{name: "plan, prefix and paths", args: []string{"restore", "plan", "--prefix", prefix, "--seq", point, p + "/c"}, code: 2, want: "not both"},
		{name: "plan, no point", args: []string{"restore", "plan", "--prefix", prefix}, code: 2, want: "--seq or --time"},
		{name: "plan, not a restore point", args: []string{"restore", "plan", "--prefix", prefix, "--point", notPoint}, code: 1, want: "no restore point at seq " + notPoint},
		{name: "plan unauthorized", who: nobodyDir(t), args: []string{"restore", "plan", "--prefix", prefix, "--seq", point}, code: 1, want: "the auditor role"},
	})
	super(t, "", "secret", "put", p+"/b", "k=changed").check(t, 0, "")
	runCases(t, []cliCase{
		{name: "apply a stale plan", args: []string{"restore", "apply", "-y", "--prefix", prefix, "--seq", point, "--base-seq", base}, code: 1,
			want: p + "/b changed at seq"},
	})
	r = super(t, "", "restore", "apply", "-y", "--prefix", prefix, "--seq", point)
	r.check(t, 0, "")
	for _, want := range []string{"3 paths: 2 write, 1 delete, 0 nothing", "Restored 3 paths to seq " + point, "undo it with: spike restore apply --seq "} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("apply output %q lacks %q", r.stdout, want)
		}
	}
	runCases(t, []cliCase{
		{name: "a is back", args: []string{"secret", "get", p + "/a", "u"}, exact: "x\n"},
		{name: "b is back", args: []string{"secret", "get", p + "/b", "k"}, exact: "keep\n"},
		{name: "nothing left", args: []string{"restore", "apply", "-y", "--prefix", prefix, "--seq", point}, code: 1, want: "restored nothing: every secret path under " + prefix},
	})
}

// A plan with an impossible path (data destroyed since) is shown and
// not applied, unless --force, which restores the other paths.
func TestRestoreApplyImpossible(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p+"/a", "k=one").check(t, 0, "")
	super(t, "", "secret", "put", p+"/b", "k=one").check(t, 0, "")
	r := super(t, "", "-f", "json", "audit", "list", "--path", p+"/b", "--type", "secret.version.written")
	r.check(t, 0, "")
	var doc struct{ Events []struct{ Seq uint64 } }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Events) != 1 {
		t.Fatalf("history %q, %v", r.stdout, err)
	}
	point := strconv.FormatUint(doc.Events[0].Seq, 10)
	super(t, "", "secret", "put", p+"/a", "k=two").check(t, 0, "")
	super(t, "", "secret", "put", p+"/b", "k=two").check(t, 0, "")
	super(t, "", "secret", "destroy", "-y", p+"/b", "--versions", "1").check(t, 0, "")
	runCases(t, []cliCase{
		{name: "plan", args: []string{"restore", "plan", "--prefix", p + "/", "--seq", point}, want: "2 paths: 1 write, 0 delete, 0 nothing, 1 impossible."},
		{name: "apply refuses", args: []string{"restore", "apply", "-y", "--prefix", p + "/", "--seq", point}, code: 1, want: "the plan has 1 impossible path"},
		{name: "a unchanged", args: []string{"secret", "get", p + "/a", "k"}, exact: "two\n"},
		{name: "apply --force", args: []string{"restore", "apply", "-y", "--force", "--prefix", p + "/", "--seq", point}, want: "Restored 1 path to seq " + point},
		{name: "a restored", args: []string{"secret", "get", p + "/a", "k"}, exact: "one\n"},
		{name: "b as it was", args: []string{"secret", "get", p + "/b", "k"}, exact: "two\n"},
	})
}

// notARestorePoint returns a seq at or before from at which Nexus signed
// no checkpoint. Checkpoints follow time as well as the event count, so
// which seqs they land on depends on the machine's speed: look.
func notARestorePoint(t *testing.T, from uint64) string {
	t.Helper()
	r := super(t, "", "-f", "json", "restore", "list")
	r.check(t, 0, "")
	var doc struct{ Points []struct{ Seq uint64 } }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	signed := map[uint64]bool{}
	for _, p := range doc.Points {
		signed[p.Seq] = true
	}
	for seq := from; seq > 0; seq-- {
		if !signed[seq] {
			return strconv.FormatUint(seq, 10)
		}
	}
	t.Fatalf("every seq up to %d is a restore point", from)
	return ""
}
