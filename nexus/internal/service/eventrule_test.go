package service

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
)

// TestAuditorDocStatesTheEventRule: the rule for which requests are
// events is stated once, in docs/auditor.md, and says what the code
// does: the three steps in the order admit takes them, and for every
// reason a refusal can record (each api.Reason but invalid), the outcome
// refusal.outcome gives it.
func TestAuditorDocStatesTheEventRule(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/auditor.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## What is an event\n")
	if !ok {
		t.Fatal(`docs/auditor.md has no "## What is an event" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	section = strings.Join(strings.Fields(section), " ") // one line
	steps := []string{"**Decode**", "**Authorise**", "**Validate**"}
	for i := 1; i < len(steps); i++ {
		if a, b := strings.Index(section, steps[i-1]), strings.Index(section, steps[i]); a < 0 || b < a {
			t.Errorf("the section does not give %s before %s", steps[i-1], steps[i])
		}
	}
	for _, must := range []string{"`spike status` is never an event", "only for a patch whose merge"} {
		if !strings.Contains(section, must) {
			t.Errorf("the section does not say %q", must)
		}
	}

	// "outcome `not_found` for `a`, `b` ...; outcome `conflict` for ..."
	src, err := os.ReadFile("../../../api/problem.go")
	if err != nil {
		t.Fatal(err)
	}
	reasons := regexp.MustCompile(`Reason\w* Reason = "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(reasons) < 10 {
		t.Fatalf("found %d reasons in api/problem.go", len(reasons))
	}
	clause := func(outcome string) string {
		_, rest, ok := strings.Cut(section, "outcome `"+outcome+"` for ")
		if !ok {
			t.Fatalf("the section has no clause \"outcome `%s` for ...\"", outcome)
		}
		c, _, _ := strings.Cut(rest, ";")
		c, _, _ = strings.Cut(c, " — ")
		return c
	}
	clauses := map[string]string{"not_found": clause("not_found"), "conflict": clause("conflict")}
	for _, m := range reasons {
		r := api.Reason(m[1])
		if r == api.ReasonInvalid || r == api.ReasonTooManyFollowers || r == api.ReasonBusy || r == api.ReasonNoSpace || r == api.ReasonNotLeader || r == api.ReasonNoLeader {
			continue // refusals of no write: never recorded
		}
		want := refusal{reason: r}.outcome()
		for outcome, c := range clauses {
			if in := strings.Contains(c, "`"+string(r)+"`"); in != (outcome == want) {
				t.Errorf("reason %s is recorded with outcome %s; the doc's %s clause %q", r, want, outcome, c)
			}
		}
	}

	// Stated once: other documents refer to it rather than restate it.
	for _, f := range []string{"doc.go", "../../doc.go", "../../../docs/operator.md", "../../../README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "whatever its outcome") || strings.Contains(string(b), "is an event when") {
			t.Errorf("%s restates the event rule: refer to docs/auditor.md instead", f)
		}
	}
}
