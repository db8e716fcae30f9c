package monitoring

import (
	"os"
	"path/filepath"
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

// runbookProblems compares the alerts of the rules file with the
// sections of the runbook: every alert has a section that says what it
// means and what to do, and every section is an alert's.
func runbookProblems(alerts []string, sections map[string]string) []string {
	var out []string
	for _, a := range alerts {
		text, ok := sections[a]
		if !ok {
			out = append(out, "alert "+a+" has no section in "+monitoringDoc)
			continue
		}
		for _, p := range runbookParts {
			if !strings.Contains(text, p) {
				out = append(out, "section "+a+" does not say "+p)
			}
		}
	}
	for name := range sections {
		if !slices.Contains(alerts, name) {
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
	var names []string
	for _, a := range rules {
		names = append(names, a.name)
	}
	if len(names) < len(requiredAlerts) {
		t.Fatalf("%s: %d alerts read, want at least %d", alertsFile, len(names), len(requiredAlerts))
	}
	for _, p := range runbookProblems(names, alertSections(string(b))) {
		t.Error(p)
	}
}

// TestRunbookProblems is the negative control of the check above: a
// missing section, a section for no alert, and a section that leaves out
// what to do are each reported.
func TestRunbookProblems(t *testing.T) {
	t.Parallel()
	const good = "**What it means.** x\n\n**What to do.** y\n"
	tests := []struct {
		name   string
		alerts []string
		doc    string
		want   []string
	}{
		{"all covered", []string{"A", "B"},
			"# t\n\n## Alerts\n\n### A\n\n" + good + "\n### `B`\n\n" + good + "\n## Other\n\n### C\n", nil},
		{"missing section", []string{"A", "B"},
			"## Alerts\n\n### A\n\n" + good,
			[]string{"alert B has no section in " + monitoringDoc}},
		{"section for no alert", []string{"A"},
			"## Alerts\n\n### A\n\n" + good + "### Gone\n\n" + good,
			[]string{"section Gone of " + monitoringDoc + " is no alert of " + alertsFile}},
		{"no what to do", []string{"A"},
			"## Alerts\n\n### A\n\n**What it means.** x\n",
			[]string{"section A does not say **What to do.**"}},
		{"section outside the alerts", []string{"A"},
			"## Dashboard\n\n### A\n\n" + good,
			[]string{"alert A has no section in " + monitoringDoc}},
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
