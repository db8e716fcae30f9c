package pilot_test

import (
	"encoding/json"
	"strconv"
	"testing"
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
