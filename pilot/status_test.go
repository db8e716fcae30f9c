package pilot_test

import (
	"regexp"
	"testing"

	"github.com/spikeledger/spike/devcluster"
)

func TestStatus(t *testing.T) {
	t.Parallel()
	auditor := svidDir(t, devcluster.SVIDAuditor)
	checkpoint(t) // so that the document has one, whenever the test runs
	runCases(t, []cliCase{
		{name: "json", args: []string{"-f", "json", "status"}, golden: "status"},
		{name: "auditor", who: auditor, args: []string{"status"}, want: "state         ready\n"},
		{name: "yaml", who: auditor, args: []string{"-f", "yaml", "status"}, want: `state: "ready"`},
		{name: "operator", who: svidDir(t, devcluster.SVIDOperator), args: []string{"status"}, code: 1,
			want: "status needs the superuser or auditor role"},
		{name: "workload", who: nobodyDir(t), args: []string{"status"}, code: 1, want: "Nexus refused spiffe://spike.ist/workload/nobody"},
		{name: "argument", args: []string{"status", "now"}, code: 2, want: "unexpected argument"},
	})
	// The human form: every line, keepers in a table of their own.
	r := super(t, "", "status")
	r.check(t, 0, "")
	want := regexp.MustCompile(`^state         ready
node          spiffe://spike\.ist/spike/nexus
leader        spiffe://spike\.ist/spike/nexus
bootstrapped  yes
unsealed at   \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ
sharing       2 of 3 shards rebuild the root key
keepers       3 of 3 reachable
log           \d+ events, \d+\.\d [KMG]iB
checkpoint    \d+ events, at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ

KEEPER +REACHABLE +LAST SEEN +ERROR
(https://127\.0\.0\.1:\d+ +yes +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ +-\n){3}$`)
	if !want.MatchString(r.stdout) {
		t.Errorf("spike status printed:\n%s", r.stdout)
	}
}
