package monitoring

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// monitoringDoc is the runbook: one section per alert.
const monitoringDoc = "docs/monitoring.md"

// runbookHeading is the section of monitoringDoc that holds one
// "### AlertName" section per alert.
const runbookHeading = "## Alerts"

// runbookParts are what every alert's section must say.
var runbookParts = []string{"**What it means.**", "**What to do.**"}

// alertSections returns the "### " sections under runbookHeading, by
// heading, each with its text up to the next heading.
func alertSections(doc string) map[string]string {
	out := map[string]string{}
	in, cur := false, ""
	for line := range strings.SplitSeq(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in, cur = strings.TrimSpace(line) == runbookHeading, ""
		case in && strings.HasPrefix(line, "### "):
			cur = strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "### ")), "`")
			out[cur] += ""
		case cur != "":
			out[cur] += line + "\n"
		}
	}
	return out
}

var (
	ruleSeverity = regexp.MustCompile(`(?m)^severity: (\w+)$`)
	ruleFor      = regexp.MustCompile(`(?m)^for: (\d+)m$`)
)

// timing is the line a section opens with, made from the rule: its
// severity and how long its expression must hold before it fires.
func timing(rule string) string {
	sev := "none"
	if m := ruleSeverity.FindStringSubmatch(rule); m != nil {
		sev = m[1]
	}
	fires := "Fires at once."
	if m := ruleFor.FindStringSubmatch(rule); m != nil {
		unit := " minutes."
		if m[1] == "1" {
			unit = " minute."
		}
		fires = "Fires after " + m[1] + unit
	}
	return "Severity: " + sev + ". " + fires
}

// runbookProblems compares the alerts of the rules file with the
// sections of the runbook: every alert has a section that gives its
// severity and delay as the rule has them and says what it means and
// what to do, and every section is an alert's.
func runbookProblems(alerts []alert, sections map[string]string) []string {
	var out []string
	var names []string
	for _, a := range alerts {
		names = append(names, a.name)
		text, ok := sections[a.name]
		if !ok {
			out = append(out, "alert "+a.name+" has no section in "+monitoringDoc)
			continue
		}
		if want := timing(a.block); !strings.HasPrefix(strings.TrimSpace(text), want) {
			out = append(out, "section "+a.name+" does not open with "+want)
		}
		for _, p := range runbookParts {
			if !strings.Contains(text, p) {
				out = append(out, "section "+a.name+" does not say "+p)
			}
		}
	}
	for name := range sections {
		if !slices.Contains(names, name) {
			out = append(out, "section "+name+" of "+monitoringDoc+" is no alert of "+alertsFile)
		}
	}
	slices.Sort(out)
	return out
}

// TestRunbookCoversEveryAlert: every alert of the rules file has its
// section in docs/monitoring.md, and every section there is an alert's.
func TestRunbookCoversEveryAlert(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), monitoringDoc))
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := readAlerts(t)
	if len(rules) < len(requiredAlerts) {
		t.Fatalf("%s: %d alerts read, want at least %d", alertsFile, len(rules), len(requiredAlerts))
	}
	for _, p := range runbookProblems(rules, alertSections(string(b))) {
		t.Error(p)
	}
}

// TestRunbookProblems is the negative control of the check above: a
// missing section, a section for no alert, and a section that leaves out
// what to do are each reported.
func TestRunbookProblems(t *testing.T) {
	t.Parallel()
	// A fires after 5 minutes, B at once, C after a minute.
	a := alert{name: "A", block: "expr: x\nfor: 5m\nlabels:\nseverity: critical\n"}
	b := alert{name: "B", block: "expr: y\nlabels:\nseverity: warning\n"}
	c := alert{name: "C", block: "expr: z\nfor: 1m\nlabels:\nseverity: warning\n"}
	const good = "**What it means.** x\n\n**What to do.** y\n"
	const openA = "Severity: critical. Fires after 5 minutes.\n\n"
	const openB = "Severity: warning. Fires at once.\n\n"
	tests := []struct {
		name   string
		alerts []alert
		doc    string
		want   []string
	}{
		{"all covered", []alert{a, b, c},
			"# t\n\n## Alerts\n\n### A\n\n" + openA + good + "\n### `B`\n\n" + openB + good +
				"\n### C\n\nSeverity: warning. Fires after 1 minute. More.\n\n" + good + "\n## Other\n\n### D\n", nil},
		{"missing section", []alert{a, b},
			"## Alerts\n\n### A\n\n" + openA + good,
			[]string{"alert B has no section in " + monitoringDoc}},
		{"section for no alert", []alert{a},
			"## Alerts\n\n### A\n\n" + openA + good + "### Gone\n\n" + good,
			[]string{"section Gone of " + monitoringDoc + " is no alert of " + alertsFile}},
		{"no what to do", []alert{a},
			"## Alerts\n\n### A\n\n" + openA + "**What it means.** x\n",
			[]string{"section A does not say **What to do.**"}},
		{"section outside the alerts", []alert{a},
			"## Dashboard\n\n### A\n\n" + openA + good,
			[]string{"alert A has no section in " + monitoringDoc}},
		{"wrong severity", []alert{a},
			"## Alerts\n\n### A\n\nSeverity: warning. Fires after 5 minutes.\n\n" + good,
			[]string{"section A does not open with Severity: critical. Fires after 5 minutes."}},
		{"wrong delay", []alert{b},
			"## Alerts\n\n### B\n\nSeverity: warning. Fires after 5 minutes.\n\n" + good,
			[]string{"section B does not open with Severity: warning. Fires at once."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := runbookProblems(tt.alerts, alertSections(tt.doc))
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems = %q, want %q", got, tt.want)
			}
		})
	}
}
