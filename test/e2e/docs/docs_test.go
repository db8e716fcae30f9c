//go:build linux

// Package docs runs the guides: every command line of the shell blocks
// (```sh) of README.md and docs/*.md, in order, document by document,
// against one `spike dev` and a freshly built spike, as a reader with the
// two lines of the dev banner in their shell would run them. So the
// guides cannot drift from the commands again.
//
// A line either runs or is skipped, with the reason, by an entry of
// skips: a guide that gains a command neither runs nor is listed fails
// the test. The placeholders a reader fills in (SEQ, a directory) and the
// files they would have are filled in by the tables below, and every
// entry of every table must still be used, so none outlives its line. A
// line must exit 0, or the status its comment names ("# exit 1 ...");
// lines whose comment says what they print are checked for it (expects).
//
// Lines that are not spike commands run only if checks lists them: the
// bare-metal guide's checks of deploy/systemd, run from the module root.
//
// TestLinksResolve checks, beside, that every relative link of the
// guides points at a file of the tree and every #fragment at a heading.
//
// Commands quoted inline in the prose (`spike secret undelete PATH`) are
// not run: only the shell blocks are a reader's script.
package docs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// skips are the lines that cannot run against spike dev here, and why:
// each as the guide has it, without its comment.
var skips = []struct{ doc, line, why string }{
	{"README.md", "make demo", "test/e2e/demo runs it (TestMakeDemo), against binaries it builds"},
	{"README.md", "make test", "the whole test suite, this test included: run from here it would recurse"},
	{"README.md", "make build", "it writes bin/ in the source tree; this test builds the same spike (go build ./cmd/spike) into a directory of its own, which bin/ names here"},
	{"README.md", "bin/spike dev", "this test runs it, with its own --data-dir, --nexus-addr and --ops-addr, and every other line against it"},
	{"README.md", "SPIKE_KEEPER_TLS_PORT=8554 bin/spike-keeper &", "a production start: each program needs an SVID from SPIRE; test/e2e/system deploys it so under a real SPIRE"},
	{"README.md", "SPIKE_KEEPERS=https://127.0.0.1:8554,... bin/spike-nexus &", "a production start: see bin/spike-keeper"},
	{"README.md", "SPIKE_KEEPERS=... SPIKE_NEXUS_URL=https://127.0.0.1:8553 bin/spike-bootstrap", "a production start: see bin/spike-keeper"},
	{"docs/operator.md", "spike operator restore /secure/place/spike.recovery.1.txt", "it needs a sealed Nexus, and spike dev unseals itself from its keepers at every start; test/e2e/custody restores a sealed Nexus from recovery files"},
	{"docs/operator.md", "spike operator restore /secure/place/spike.recovery.2.txt", "see the line before"},
	{"docs/auditor.md", "spike audit replay --log backup/events.db --recovery-dir two-of-three/ --path-prefix tenants/demo/ --since 2026-11-27", "it reads a backup and a threshold of recovery files, which spike dev does not lay out; pilot/replay_test.go replays the dev system offline, and test/e2e/custody (TestOfflineReplay) a real one"},
	{"docs/auditor.md", "spike audit replay --log backup/events.db --recovery-dir two-of-three/ --actor spiffe://spike.ist/workload/demo --format json", "see the line before"},
	{"docs/auditor.md", "spike audit replay --log backup/events.db --recovery-dir two-of-three/ --key @vkey.txt --trusted cp-monday.txt --as-of 2026-11-27T12:00:00Z --path tenants/demo/db/creds", "see the line before"},
	{"docs/auditor.md", "spike audit tail", "it follows the log until Ctrl-C; test/e2e/custody (TestAuditTail) runs it under a real SPIRE, pilot/tail_test.go against spike dev"},
	{"docs/auditor.md", "spike audit tail --path-prefix tenants/demo/ --type secret.read,access.denied", "see the line before"},
	{"docs/auditor.md", "spike audit tail --from 1200 --format json", "see the line before"},
	{"docs/auditor.md", "spike audit tail --since 1h --outcome denied", "see the line before"},
	{"docs/performance.md", "make bench", "benchmarks run for minutes and measure, they check nothing; test/e2e/bench runs the same harness under -spire-bench"},
	{"docs/performance.md", "make bench-spire", "see make bench"},
	{"docs/performance.md", "make bench-rebuild", "see make bench"},
	{"docs/performance.md", "make bench-cold-start", "see make bench"},
	{"docs/performance.md", "make bench-go", "see make bench"},
	{"docs/reliability.md", "go test -count=1 -v -run 'TestCrashLosesNoAcknowledgedAppend|TestVerifyFileNeverCrashes|TestMillionAppendsStayUnder200MB' ./eventlog", "make test runs these tests; the guide shows how to run them alone, from a source tree, not against spike dev"},
	{"docs/reliability.md", "go test -count=1 -run TestCanaryNeverLogged -v ./test/e2e/custody", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "go test -count=1 -v ./test/e2e/reliability", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "make soak", "ten minutes of load that measures; make test runs the same test for two minutes"},
	{"docs/reliability.md", "go test -count=1 -run 'TestHostileSweep|TestHostileHandshakes' -v ./nexus", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "go test -count=1 -run 'TestSlowClients|TestConnectionCap' -v ./internal/transport", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "go test -count=1 -run TestDiskFull -v ./test/e2e/diskfull", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "go test -count=1 -v ./test/e2e/faults", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "SPIKE_E2E_FAULTS_ALL=1 go test -count=1 -run TestKeeperFaults -v ./test/e2e/faults", "see the first go test line of docs/reliability.md"},
	{"docs/reliability.md", "SPIKE_E2E_FAULTS_SVID_TTL=20s SPIKE_E2E_FAULTS_ROTATION=75s go test -count=1 -run TestRotationUnderLoad -v ./test/e2e/faults", "see the first go test line of docs/reliability.md"},
	{"docs/performance.md", "SPIKE_BENCH_SCRIPT=/path/to/spike-run.sh make bench-spire BENCH_FLAGS='-clients ours,sdk,sdk-new -format md'", "it needs SPIKE built outside this repository, and it is a benchmark: see make bench"},
	{"docs/performance.md", "SPIKE_BENCH_SCRIPT=/path/to/spike-run.sh make bench-spire BENCH_FLAGS='-mix get -c 1,8,32 -clients sdk -versions 20 -format md'", "see the line before"},
	{"docs/performance.md", "SPIKE_BENCH_SCRIPT=/path/to/spike-run.sh make bench-spire BENCH_FLAGS='-mix get -c 1,8,32 -clients sdk -policies 100 -format md'", "see the line before"},
	{"docs/monitoring.md", "promtool check config deploy/prometheus/prometheus.yml", "not a spike command: test/e2e/monitoring runs it (TestPromtoolCheckConfig), and TestPromtoolCheckRules the next line"},
	{"docs/monitoring.md", "promtool check rules deploy/prometheus/spike-alerts.yml", "see the line before"},
	{"docs/bootstrap.md", "SPIKE_KEEPERS=https://k1:8554,https://k2:8554,https://k3:8554 SPIKE_NEXUS_URL=https://nexus:8553 spike-bootstrap", "a production bootstrap: it needs an SVID from SPIRE, and spike dev bootstraps itself; test/e2e/custody (TestBootstrap3of2, TestBootstrap5of3) runs spike-bootstrap under a real SPIRE, twice (the second run changes nothing)"},
	{"docs/install-bare-metal.md", "make release", "it writes bin/release in the source tree; test/e2e/deploy (TestDockerReleaseBinaries) runs make release into a directory of its own and checks what it builds"},
	{"docs/install-bare-metal.md", "install -m 0755 spike-nexus spike-keeper spike-bootstrap spike /usr/local/bin/", "it writes /usr/local/bin as root; this test builds the same programs and points the units at them (the systemd-analyze line)"},
	{"docs/install-bare-metal.md", "spike-nexus --version", "test/e2e/deploy (TestDockerReleaseBinaries) runs --version of every program make release builds"},
	{"docs/install-bare-metal.md", "useradd --system --no-create-home --shell /usr/sbin/nologin spike-nexus", "it adds users to the host as root; TestGuideMakesTheUnitsUsers checks that it makes every User= and Group= the units name, and test/e2e/deploy (TestRegisterScript) that the SPIRE entries select these users"},
	{"docs/install-bare-metal.md", "useradd --system --no-create-home --shell /usr/sbin/nologin spike-bootstrap", "see the line before"},
	{"docs/install-bare-metal.md", "groupadd --system spike-keeper", "see the line before"},
	{"docs/install-bare-metal.md", "for n in 1 2 3; do useradd --system --no-create-home --shell /usr/sbin/nologin --gid spike-keeper spike-keeper-$n; done", "see the line before"},
	{"docs/install-bare-metal.md", "useradd --system --create-home spike-admin", "see the line before"},
	{"docs/install-bare-metal.md", "install -d -m 0700 /etc/spike", "it writes /etc as root; test/e2e/deploy (TestUnits) checks every name of the env-file examples against the programs' --help"},
	{"docs/install-bare-metal.md", "install -m 0600 deploy/systemd/nexus.env.example /etc/spike/nexus.env", "see the line before"},
	{"docs/install-bare-metal.md", "install -m 0600 deploy/systemd/bootstrap.env.example /etc/spike/bootstrap.env", "see the line before"},
	{"docs/install-bare-metal.md", "for n in 1 2 3; do install -m 0600 deploy/systemd/keeper.env.example /etc/spike/keeper-$n.env; done", "see the line before"},
	{"docs/install-bare-metal.md", "install -m 0644 deploy/systemd/spike-nexus.service deploy/systemd/spike-keeper@.service deploy/systemd/spike-bootstrap.service /etc/systemd/system/", "it writes /etc as root; this test copies the units into a directory of its own for the systemd-analyze line"},
	{"docs/install-bare-metal.md", "deploy/systemd/register-spire-entries.sh --trust-domain example.org --parent-id spiffe://example.org/host --keepers 3", "it creates entries on a SPIRE server; the --dry-run line before runs here, and test/e2e/deploy (TestRegisterScript) checks every entry the script makes against the IDs the programs expect"},
	{"docs/install-bare-metal.md", "spire-server entry create -parentID spiffe://example.org/host -spiffeID spiffe://example.org/spike/pilot/role/recover -selector unix:user:spike-recover", "it needs a SPIRE server; test/e2e/custody registers the recover and restore roles under a real SPIRE and runs spike operator recover and restore as them"},
	{"docs/install-bare-metal.md", "spire-server entry create -parentID spiffe://example.org/host -spiffeID spiffe://example.org/spike/pilot/role/restore -selector unix:user:spike-restore", "see the line before"},
	{"docs/install-bare-metal.md", "systemctl daemon-reload", "it needs systemd as PID 1 and root; test/e2e/custody starts the same programs under a real SPIRE in this order and bootstraps them (TestBootstrap3of2)"},
	{"docs/install-bare-metal.md", "systemctl enable --now spike-keeper@1 spike-keeper@2 spike-keeper@3", "see the line before"},
	{"docs/install-bare-metal.md", "systemctl enable --now spike-nexus", "see the line before"},
	{"docs/install-bare-metal.md", "systemctl enable --now spike-bootstrap", "see the line before"},
	{"docs/install-bare-metal.md", "journalctl -u spike-bootstrap -n 3", "it reads the journal of a systemd install; test/e2e/custody checks what spike-bootstrap prints (bootstrap complete, then already bootstrapped)"},
	{"docs/install-bare-metal.md", "curl -s 127.0.0.1:9553/readyz", "spike dev runs here with its operations listener off; test/e2e/custody reads Nexus's and every keeper's /readyz after bootstrap"},
	{"docs/install-bare-metal.md", "for p in 9544 9545 9546; do curl -s 127.0.0.1:$p/readyz; echo; done", "see the line before"},
	{"docs/recovery-drill.md", "systemctl stop spike-nexus", "it needs systemd as PID 1 and root, and loses the keepers' shards; test/e2e/custody (TestBootstrap5of3) restarts every keeper empty and Nexus sealed under a real SPIRE"},
	{"docs/recovery-drill.md", "systemctl restart spike-keeper@1 spike-keeper@2 spike-keeper@3", "see the line before"},
	{"docs/recovery-drill.md", "systemctl start spike-nexus", "see the line before"},
	{"docs/recovery-drill.md", "spike operator restore /secure/place/spike.recovery.1.txt", "it needs a sealed Nexus, and spike dev unseals itself at every start; test/e2e/custody (TestBootstrap5of3) restores a sealed Nexus from recovery files, and the line after runs here"},
	{"docs/recovery-drill.md", "spike operator restore /secure/place/spike.recovery.3.txt", "see the line before"},
	{"docs/upgrading.md", "systemctl restart spike-keeper@1", "it needs systemd as PID 1 and root; test/e2e/faults (TestRestartOrders) restarts keepers and Nexus in every order under a real SPIRE and checks that Nexus serves again"},
	{"docs/upgrading.md", "curl -s 127.0.0.1:9544/readyz", "a keeper's operations listener, which spike dev does not expose; test/e2e/custody (TestBootstrap5of3) reads every keeper's /readyz after restarts"},
	{"docs/upgrading.md", "systemctl restart spike-nexus", "see systemctl restart spike-keeper@1"},
	{"docs/ha.md", "export SPIKE_KEEPERS=https://127.0.0.1:8554,https://127.0.0.1:8555,https://127.0.0.1:8556", "the settings of a three-replica cluster, which spike dev does not run; nexus/cluster_test.go runs three replicas in one process (TestClusterServesAndFailsOver)"},
	{"docs/ha.md", "export SPIKE_NEXUS_CLUSTER_PEERS=n1=127.0.0.1:8653=127.0.0.1:8553,n2=127.0.0.1:8663=127.0.0.1:8563,n3=127.0.0.1:8673=127.0.0.1:8573", "see the first line of docs/ha.md"},
	{"docs/ha.md", "SPIKE_NEXUS_CLUSTER_ID=n1 SPIKE_NEXUS_CLUSTER_ADDR=127.0.0.1:8653 SPIKE_NEXUS_TLS_PORT=127.0.0.1:8553 SPIKE_DATA_DIR=$HOME/spike-ha/n1 bin/spike-nexus &", "a production start of a replica: it needs an SVID from SPIRE; see the first line of docs/ha.md"},
	{"docs/ha.md", "SPIKE_NEXUS_CLUSTER_ID=n2 SPIKE_NEXUS_CLUSTER_ADDR=127.0.0.1:8663 SPIKE_NEXUS_TLS_PORT=127.0.0.1:8563 SPIKE_DATA_DIR=$HOME/spike-ha/n2 bin/spike-nexus &", "see the line before"},
	{"docs/ha.md", "SPIKE_NEXUS_CLUSTER_ID=n3 SPIKE_NEXUS_CLUSTER_ADDR=127.0.0.1:8673 SPIKE_NEXUS_TLS_PORT=127.0.0.1:8573 SPIKE_DATA_DIR=$HOME/spike-ha/n3 bin/spike-nexus &", "see the line before"},
	{"docs/ha.md", "for p in 9553 9563 9573; do curl -s 127.0.0.1:$p/readyz; done", "the replicas' operations listeners, which spike dev does not have (this test turns its one off); nexus/cluster_test.go reads every replica's /readyz"},
	{"docs/ha.md", "SPIKE_NEXUS_URL=https://127.0.0.1:8563 bin/spike-bootstrap", "a bootstrap through a follower of a running cluster; TestClusterServesAndFailsOver bootstraps through a follower"},
	{"docs/ha.md", "export SPIKE_NEXUS_CLUSTER_PEERS=n1=10.0.0.1:8555,n2=10.0.0.2:8555,n3=10.0.0.3:8555", "three hosts, which this test does not have; see the first line of docs/ha.md"},
	{"docs/ha.md", "export SPIKE_KEEPERS=https://10.0.0.1:8554,https://10.0.0.2:8554,https://10.0.0.3:8554", "see the line before"},
	{"docs/ha.md", "SPIKE_NEXUS_CLUSTER_ID=n1 SPIKE_NEXUS_OPS_ADDR=10.0.0.1:9553 bin/spike-nexus &", "see the line before"},
	{"docs/ha.md", "SPIKE_NEXUS_URL=https://10.0.0.2:8553 bin/spike-bootstrap", "see the line before"},
	{"docs/ha.md", "spike operator cluster list --nexus-url https://10.0.0.2:8553", "it needs a cluster; nexus/cluster_test.go (TestClusterMembership) lists, removes and adds members of one, and the line before runs the command against spike dev"},
	{"docs/ha.md", "spike operator cluster remove n3 --yes", "see the line before"},
	{"docs/ha.md", "spike operator cluster add n3 10.0.0.3:8555 10.0.0.3:8553", "see the line before"},
	{"docs/install-kubernetes.md", "kubectl apply -k deploy/k8s/overlays/single", "it needs a Kubernetes cluster with SPIRE, which this machine has not; test/e2e/deploy (TestK8sManifests) renders and checks both overlays"},
	{"docs/install-kubernetes.md", "kubectl -n spike wait --for=condition=complete job/spike-bootstrap --timeout=20m", "see the line before"},
	{"docs/install-kubernetes.md", "kubectl -n spike get pods", "see the line before"},
	{"docs/backup.md", "spike-nexus restore-backup --from nexus.backup --data-dir /var/lib/spike/data --key @vkey.txt", "offline, into a data directory no Nexus runs on, while spike dev runs on its own; test/e2e/backup (TestHotBackup) restores a backup taken under load and starts a Nexus on it, nexus/backup_test.go does so in process"},
	{"docs/performance.md", "go test -count=1 -v -run TestHotBackup ./test/e2e/backup", "an end-to-end test under a real SPIRE that measures; make test runs it"},
}

// checks are lines that are not spike commands but run here as written,
// from the module root: the bare-metal guide's checks of deploy/systemd.
// A line marked quiet must print nothing (systemd-analyze verify exits 0
// on a unit with an unknown directive, and only says so). A line whose
// program is not installed here is skipped, saying so.
var checks = []struct {
	doc, line string
	quiet     bool
}{
	{"docs/install-bare-metal.md", "bash -n deploy/systemd/register-spire-entries.sh", true},
	{"docs/install-bare-metal.md", "deploy/systemd/register-spire-entries.sh --dry-run --trust-domain example.org --parent-id spiffe://example.org/host --keepers 3", false},
	{"docs/install-bare-metal.md", "systemd-analyze verify --man=no /etc/systemd/system/spike-nexus.service /etc/systemd/system/spike-keeper@1.service /etc/systemd/system/spike-bootstrap.service", true},
}

// subs fill in what a reader would: placeholders, and the answer to a
// question the test has no terminal to be asked on.
var subs = []struct {
	doc, old string
	new      func(s *session) string
}{
	{"README.md", "--recovery-dir DIR", func(s *session) string { return "--recovery-dir " + s.dir("recovery") }},
	{"docs/operator.md", "/secure/place", func(s *session) string { return s.dir("secure-place") }},
	{"docs/bootstrap.md", "/secure/place", func(s *session) string { return s.dir("bootstrap-recovery") }},
	{"docs/recovery-drill.md", "/secure/place", func(s *session) string { return s.dir("drill-recovery") }},
	// The reader answers restore apply's question at a terminal; the
	// test has none, so it passes --yes, as the guide says scripts do.
	{"docs/operator.md", "--seq SEQ", func(s *session) string { return "--seq " + s.writeOfRight() + " --yes" }},
	{"docs/auditor.md", "audit proof 1234", func(*session) string { return "audit proof 1" }},
	// The units as the guide installs them, with the programs the test
	// builds where the guide installs them (/usr/local/bin).
	{"docs/install-bare-metal.md", "/etc/systemd/system/", func(s *session) string { return s.installUnits() + "/" }},
}

// roles are the lines run as another role than the superuser whose SVID
// directory the dev banner exports.
var roles = []struct{ doc, contains, role string }{
	{"README.md", "operator recover", "recover"},
	{"docs/operator.md", "operator recover", "recover"},
	{"docs/bootstrap.md", "operator recover", "recover"},
	{"docs/recovery-drill.md", "operator recover", "recover"},
	{"docs/recovery-drill.md", "operator restore", "restore"},
}

// befores are what a line needs done first.
var befores = []struct {
	doc, contains string
	do            func(s *session)
}{
	// Nexus signs its first checkpoint within a second of the first
	// events; a reader who got this far has waited that long.
	{"docs/auditor.md", "audit checkpoint --save", (*session).waitForCheckpoint},
	// "take it from a snapshot; Nexus holds a lock on the live file":
	// the copy is taken with spike dev stopped, which then starts again
	// on the same data.
	{"docs/auditor.md", "events-copy.db", (*session).copyLog},
}

// expects are what lines print, where their comment says it.
var expects = []struct{ doc, contains, stdout string }{
	{"docs/operator.md", "spike secret get tenants/web/db password", "right\n"},
	{"docs/operator.md", "spike secret get tenants/web/api token", "t1\n"},
	{"docs/operator.md", "spike secret delete tenants/web/api", "version 3 is now current.\n"},
	{"docs/operator.md", "spike status -f json", "true\n"},
	{"docs/auditor.md", "audit verify", "verified"},
	{"docs/bootstrap.md", "jq -e '.bootstrapped'", "true\n"},
	{"docs/install-bare-metal.md", "register-spire-entries.sh --dry-run", "-spiffeID spiffe://example.org/spike/keeper/3 -selector systemd:id:spike-keeper@3.service"},
	{"docs/bootstrap.md", "audit list --type system.bootstrapped", "system.bootstrapped"},
	{"docs/recovery-drill.md", "secret get drill/canary check", "before-the-drill\n"},
}

func TestGuidesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds spike and runs spike dev")
	}
	root, err := system.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	var lines []line
	for _, d := range docs {
		rel, _ := filepath.Rel(root, d)
		lines = append(lines, shellLines(t, d, rel)...)
	}
	s := start(t)
	used := map[string]bool{}
	for _, l := range lines {
		s.run(l, used)
	}
	for _, k := range tableKeys() {
		if !used[k] {
			t.Errorf("no line of the guides matches %s any more: remove the entry", k)
		}
	}
}

// line is one command line of a guide's shell block.
type line struct {
	doc  string // relative to the module root: "docs/operator.md"
	num  int
	text string // without its comment
	code int    // the exit status its comment names, 0 if none
}

func (l line) String() string { return fmt.Sprintf("%s:%d: %s", l.doc, l.num, l.text) }

var exitComment = regexp.MustCompile(`\bexit (\d+)\b`)

// shellLines returns the command lines of path's shell blocks, comments
// removed and continuation lines joined.
func shellLines(t *testing.T, path, doc string) []line {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []line
	in, pending := false, ""
	for i, raw := range strings.Split(string(b), "\n") {
		text := strings.TrimSpace(raw)
		switch {
		case !in && (text == "```sh" || text == "```bash" || text == "```shell"):
			in = true
			continue
		case in && text == "```":
			in = false
			continue
		case !in:
			continue
		}
		cmd, comment := splitComment(text)
		if cmd == "" {
			continue
		}
		if c, ok := strings.CutSuffix(cmd, `\`); ok {
			pending += strings.TrimSpace(c) + " "
			continue
		}
		l := line{doc: doc, num: i + 1, text: pending + cmd}
		pending = ""
		if m := exitComment.FindStringSubmatch(comment); m != nil {
			l.code, _ = strconv.Atoi(m[1])
		}
		out = append(out, l)
	}
	return out
}

// splitComment cuts a shell line at its comment: a # that starts the
// line or follows a space, outside quotes.
func splitComment(s string) (cmd, comment string) {
	var quote rune
	for i, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t'):
			return strings.TrimSpace(s[:i]), s[i+1:]
		}
	}
	return strings.TrimSpace(s), ""
}

// tableKeys names every entry of the tables, as run marks them used.
func tableKeys() []string {
	var keys []string
	for _, e := range skips {
		keys = append(keys, "skip "+e.doc+": "+e.line)
	}
	for _, e := range checks {
		keys = append(keys, "check "+e.doc+": "+e.line)
	}
	for _, e := range subs {
		keys = append(keys, "sub "+e.doc+": "+e.old)
	}
	for _, e := range roles {
		keys = append(keys, "role "+e.doc+": "+e.contains)
	}
	for _, e := range befores {
		keys = append(keys, "before "+e.doc+": "+e.contains)
	}
	for _, e := range expects {
		keys = append(keys, "expect "+e.doc+": "+e.contains)
	}
	return keys
}

// session is one spike dev and the shell a reader runs the guides in.
type session struct {
	t       *testing.T
	bin     string // the directory holding spike
	work    string // the working directory: bin/ (a link to bin) and the files the guides write
	root    string // the module root, where checks run
	units   string // the guide's units, installed by installUnits; "" before
	data    string // spike dev's --data-dir
	script  string // starts spike dev
	log     string // spike dev's output, every run of it
	env     []string
	dev     *system.Proc
	starts  int               // banners seen so far
	exports []string          // the banner's export line, as KEY=VALUE
	svid    map[string]string // role: SVID directory, from the banner
}

func start(t *testing.T) *session {
	t.Helper()
	tmp := t.TempDir()
	root, err := system.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &session{t: t, bin: t.TempDir(), work: t.TempDir(), root: root, data: filepath.Join(tmp, "dev"),
		script: filepath.Join(tmp, "spike-dev.sh"), log: filepath.Join(tmp, "spike-dev.log")}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	if _, err := system.Build(ctx, s.bin, "spike"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(s.bin, filepath.Join(s.work, "bin")); err != nil {
		t.Fatal(err)
	}
	// A free port, so that the guides never meet a spike dev a developer
	// runs; a script, since StartProc passes no arguments.
	var ports system.Ports
	script := fmt.Sprintf("#!/bin/sh\nexec %q dev --data-dir %q --nexus-addr %q --ops-addr -\n",
		filepath.Join(s.bin, "spike"), s.data, ports.FreeAddr(t))
	if err := os.WriteFile(s.script, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	s.startDev()
	return s
}

// startDev starts spike dev and reads its banner.
func (s *session) startDev() {
	s.t.Helper()
	log := s.log
	s.dev = system.StartProc(s.t, s.t, "spike dev", s.script, log, system.BaseEnv()) // SIGTERM at the end
	s.starts++
	var banner string
	system.WaitFor(s.t, "spike dev's banner", s.dev, func() (bool, string) {
		b, _ := os.ReadFile(log)
		text := string(b)
		if strings.Count(text, "Press Ctrl-C") < s.starts {
			return false, system.Tail(log)
		}
		banner = text[strings.LastIndex(text, "==> spike dev: DEVELOPMENT MODE"):]
		return true, ""
	})
	s.readBanner(banner)
	// The reader's shell: spike on the PATH, and the banner's exports;
	// a home of the test's, so that nothing a default puts under ~ (the
	// recovery directory, say) lands in the real one.
	s.env = append(system.BaseEnv(), "PATH="+s.bin+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+s.work)
	s.env = append(s.env, s.exports...)
}

var (
	exportLine = regexp.MustCompile(`(?m)^\s*export (.*?)\s*(#.*)?$`)
	svidLine   = regexp.MustCompile(`(?m)^\s+(\w+)\s+(/\S+)\s+spiffe://\S+$`)
)

// readBanner takes from the banner what the reader copies into their
// shell: the export line, and each role's SVID directory.
func (s *session) readBanner(banner string) {
	s.t.Helper()
	m := exportLine.FindStringSubmatch(banner)
	if m == nil {
		s.t.Fatalf("spike dev's banner has no export line:\n%s", banner)
	}
	s.exports = strings.Fields(m[1])
	s.svid = map[string]string{}
	for _, m := range svidLine.FindAllStringSubmatch(banner, -1) {
		s.svid[m[1]] = m[2]
	}
	if s.svid["superuser"] == "" || s.svid["recover"] == "" {
		s.t.Fatalf("spike dev's banner names no superuser or recover SVID directory:\n%s", banner)
	}
}

// run runs one line of a guide, or says why it is skipped, marking the
// table entries it used.
func (s *session) run(l line, used map[string]bool) {
	s.t.Helper()
	for _, e := range skips {
		if e.doc == l.doc && l.text == e.line {
			used["skip "+e.doc+": "+e.line] = true
			s.t.Logf("%s: skipped: %s", l, e.why)
			return
		}
	}
	dir, quiet, check := s.work, false, false
	for _, e := range checks {
		if e.doc == l.doc && l.text == e.line {
			used["check "+e.doc+": "+e.line] = true
			dir, quiet, check = s.root, e.quiet, true
		}
	}
	if check {
		prog := strings.Fields(l.text)[0]
		if _, err := exec.LookPath(prog); err != nil && !strings.Contains(prog, "/") {
			s.t.Logf("%s: skipped: %s is not installed here", l, prog)
			markExpects(l, used)
			return
		}
	} else if !strings.HasPrefix(l.text, "spike ") && !strings.HasPrefix(l.text, "bin/spike ") {
		s.t.Errorf("%s: neither a spike command nor skipped: run it as a spike command, or add it to skips with the reason it cannot run against spike dev", l)
		return
	}
	text := l.text
	for _, e := range subs {
		if e.doc == l.doc && strings.Contains(text, e.old) {
			used["sub "+e.doc+": "+e.old] = true
			text = strings.ReplaceAll(text, e.old, e.new(s))
		}
	}
	env := s.env
	for _, e := range roles {
		if e.doc == l.doc && strings.Contains(text, e.contains) {
			used["role "+e.doc+": "+e.contains] = true
			env = append(env[:len(env):len(env)], "SPIKE_SVID_DIR="+s.svid[e.role])
		}
	}
	for _, e := range befores {
		if e.doc == l.doc && strings.Contains(text, e.contains) {
			used["before "+e.doc+": "+e.contains] = true
			e.do(s)
		}
	}
	if _, err := exec.LookPath("jq"); err != nil && strings.Contains(text, "| jq") {
		s.t.Logf("%s: skipped: jq is not installed here", l)
		markExpects(l, used)
		return
	}
	r := system.Run(s.t, system.Cmd{Bin: "bash", Args: []string{"--norc", "--noprofile", "-o", "pipefail", "-c", text}, Env: env, Dir: dir})
	if r.Code != l.code {
		s.t.Errorf("%s\nran as: %s\nwant exit %d: %s", l, text, l.code, r)
		return
	}
	if quiet && strings.TrimSpace(r.Stdout+r.Stderr) != "" {
		s.t.Errorf("%s\nran as: %s\nwant no output: %s", l, text, r)
	}
	s.t.Logf("%s: exit %d", l, r.Code)
	for _, e := range expects {
		if e.doc == l.doc && strings.Contains(text, e.contains) {
			used["expect "+e.doc+": "+e.contains] = true
			if !strings.Contains(r.Stdout, e.stdout) {
				s.t.Errorf("%s: printed %q, want %q", l, r.Stdout, e.stdout)
			}
		}
	}
}

// markExpects marks the expectations of a line that could not run as
// used: the line is still there.
func markExpects(l line, used map[string]bool) {
	for _, e := range expects {
		if e.doc == l.doc && strings.Contains(l.text, e.contains) {
			used["expect "+e.doc+": "+e.contains] = true
		}
	}
}

// spike runs spike as the superuser, for what the tables need to know.
func (s *session) spike(args ...string) system.Result {
	s.t.Helper()
	return system.Run(s.t, system.Cmd{Bin: filepath.Join(s.bin, "spike"), Args: args, Env: s.env, Dir: s.work})
}

// dir returns a directory of the session's, made on first use.
func (s *session) dir(name string) string {
	d := filepath.Join(s.work, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		s.t.Fatal(err)
	}
	return d
}

// writeOfRight is the operator guide's SEQ: the sequence number of the
// latest write of "right", the write before the last one.
func (s *session) writeOfRight() string {
	s.t.Helper()
	r := s.spike("-f", "json", "secret", "history", "tenants/web/db")
	if r.Code != 0 {
		s.t.Fatalf("secret history: %s", r)
	}
	var doc struct {
		Events []struct {
			Seq  uint64
			Type string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		s.t.Fatal(err)
	}
	var writes []uint64
	for _, e := range doc.Events {
		if e.Type == "secret.version.written" {
			writes = append(writes, e.Seq)
		}
	}
	if len(writes) < 2 {
		s.t.Fatalf("history of tenants/web/db: %d writes, want 2 or more", len(writes))
	}
	return strconv.FormatUint(writes[len(writes)-2], 10)
}

// installUnits does what the bare-metal guide does before it verifies
// the units: the three programs built where ExecStart looks for them,
// and the units copied. The test has no /usr/local/bin of its own, so
// the copies name the test's: the one change made to them.
func (s *session) installUnits() string {
	s.t.Helper()
	if s.units != "" {
		return s.units
	}
	ctx, cancel := context.WithTimeout(s.t.Context(), 5*time.Minute)
	defer cancel()
	if _, err := system.Build(ctx, s.bin, "spike-nexus", "spike-keeper", "spike-bootstrap"); err != nil {
		s.t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(s.root, "deploy", "systemd", "*.service"))
	if err != nil || len(files) == 0 {
		s.t.Fatalf("deploy/systemd: no units (%v)", err)
	}
	dir := s.dir("etc-systemd-system")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			s.t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(b), "/usr/local/bin/", s.bin+"/")
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(unit), 0o644); err != nil {
			s.t.Fatal(err)
		}
	}
	s.units = dir
	return dir
}

func (s *session) waitForCheckpoint() {
	s.t.Helper()
	system.WaitFor(s.t, "Nexus's first checkpoint", s.dev, func() (bool, string) {
		r := s.spike("audit", "checkpoint")
		return r.Code == 0, r.Stderr
	})
}

// copyLog stops spike dev, copies its log to events-copy.db and starts
// it again on the same data.
func (s *session) copyLog() {
	s.t.Helper()
	if !s.dev.Signal(syscall.SIGINT, 30*time.Second) {
		s.t.Fatal("spike dev did not stop within 30s of SIGINT")
	}
	b, err := os.ReadFile(filepath.Join(s.data, "nexus", "events.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.work, "events-copy.db"), b, 0o600); err != nil {
		s.t.Fatal(err)
	}
	s.startDev()
}
