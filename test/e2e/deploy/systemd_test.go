//go:build linux

// The systemd units verify, read only settings the programs know, are
// hardened, and the SPIRE registration script registers the IDs the
// programs expect.

package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spikeledger/spike/internal/identity"
)

const unitDir = "../../../deploy/systemd"

// units maps each unit file to its program and env-file example.
var units = []struct {
	file, program, envExample, instance string
	memlock                             bool
}{
	{"spike-nexus.service", "spike-nexus", "nexus.env.example", "", true},
	{"spike-keeper@.service", "spike-keeper", "keeper.env.example", "spike-keeper@1.service", true},
	{"spike-bootstrap.service", "spike-bootstrap", "bootstrap.env.example", "", false},
}

// buildPrograms builds the three programs into a temp dir; the verify test
// points ExecStart at them (rather than at /usr/local/bin, absent here) and
// the env test reads their --help.
func buildPrograms(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../../cmd/spike-nexus", "../../../cmd/spike-keeper", "../../../cmd/spike-bootstrap")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build programs: %v\n%s", err, out)
	}
	return dir
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(unitDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUnits runs systemd-analyze verify on a copy of each unit whose
// ExecStart names a freshly built binary, checks its env names against the
// program's --help, and checks the hardening directives.
func TestUnits(t *testing.T) {
	bin := buildPrograms(t)
	analyze, analyzeErr := exec.LookPath("systemd-analyze")
	envName := regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`)
	for _, u := range units {
		t.Run(u.file, func(t *testing.T) {
			text := readFile(t, u.file)
			help, _ := exec.Command(filepath.Join(bin, u.program), "--help").CombinedOutput()
			known := map[string]bool{}
			for _, m := range envName.FindAllStringSubmatch(string(help), -1) {
				known[m[1]] = true
			}
			if len(known) == 0 {
				t.Fatalf("%s --help lists no env names:\n%s", u.program, help)
			}
			for _, name := range trustRootEnv {
				known[name] = true
			}
			for _, name := range unitEnvNames(text) {
				if !known[name] {
					t.Errorf("%s sets %s, which %s --help does not list", u.file, name, u.program)
				}
			}
			names := envFileNames(t, u.envExample)
			if len(names) == 0 {
				t.Errorf("%s sets nothing", u.envExample)
			}
			for _, name := range names {
				if !known[name] {
					t.Errorf("%s sets %s, which %s --help does not list", u.envExample, name, u.program)
				}
			}

			want := []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
				"CapabilityBoundingSet=", "Restart=on-failure", "User=", "Group=", "EnvironmentFile=/etc/spike/"}
			if u.memlock {
				want = append(want, "LimitMEMLOCK=")
			}
			lines := strings.Split(text, "\n")
			for _, w := range want {
				if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, w) }) {
					t.Errorf("%s lacks %s", u.file, w)
				}
			}
			// Only a data directory is writable: Nexus's state directory.
			for _, l := range lines {
				if p, ok := strings.CutPrefix(l, "ReadWritePaths="); ok && p != "/var/lib/spike-nexus" {
					t.Errorf("%s makes %s writable; only the data directory may be", u.file, p)
				}
			}

			if analyzeErr != nil {
				t.Skip("systemd-analyze not installed; unit not verified")
			}
			dir := t.TempDir()
			name := u.file
			if u.instance != "" {
				name = u.instance
			}
			copied := strings.ReplaceAll(text, "/usr/local/bin/", bin+"/")
			if err := os.WriteFile(filepath.Join(dir, name), []byte(copied), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, name))
			out, err := cmd.CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) > 0 {
				t.Errorf("systemd-analyze verify %s: %v\n%s", u.file, err, out)
			}
		})
	}
}

// unitEnvNames returns the names a unit sets with Environment=.
func unitEnvNames(text string) []string {
	var names []string
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, "Environment="); ok {
			for _, kv := range strings.Fields(v) {
				name, _, _ := strings.Cut(strings.Trim(kv, `"`), "=")
				names = append(names, name)
			}
		}
	}
	return names
}

// envFileNames returns the names an env-file example sets.
func envFileNames(t *testing.T, file string) []string {
	t.Helper()
	var names []string
	sc := bufio.NewScanner(strings.NewReader(readFile(t, file)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, _, ok := strings.Cut(l, "=")
		if !ok {
			t.Errorf("%s: line %q is not NAME=value", file, l)
			continue
		}
		names = append(names, name)
	}
	return names
}

// TestRegisterScript checks the script parses and that --dry-run creates
// exactly the entries the programs' identities need, for each style.
func TestRegisterScript(t *testing.T) {
	t.Parallel()
	script := filepath.Join(unitDir, "register-spire-entries.sh")
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, out)
	}
	cases := []struct {
		style      string
		keepers    int
		nexusSel   string
		keeper2Sel string
	}{
		{"systemd", 3, "systemd:id:spike-nexus.service", "systemd:id:spike-keeper@2.service"},
		{"unix", 5, "unix:user:spike-nexus", "unix:user:spike-keeper-2"},
	}
	line := regexp.MustCompile(`^\+ spire-server entry create -parentID (\S+) -spiffeID (\S+) -selector (\S+)$`)
	for _, c := range cases {
		t.Run(c.style, func(t *testing.T) {
			t.Parallel()
			out, err := exec.Command("bash", script, "--dry-run", "--trust-domain", "example.org",
				"--parent-id", "spiffe://example.org/host", "--keepers", strconv.Itoa(c.keepers),
				"--selector-style", c.style).CombinedOutput()
			if err != nil {
				t.Fatalf("dry run: %v\n%s", err, out)
			}
			td := "spiffe://example.org"
			want := []string{td + identity.PathNexus}
			for n := 1; n <= c.keepers; n++ {
				want = append(want, td+identity.PathKeeper+"/"+strconv.Itoa(n))
			}
			want = append(want, td+identity.PathBootstrap, td+identity.PathPilotSuperuser)
			var got []string
			sel := map[string]string{}
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				m := line.FindStringSubmatch(l)
				if m == nil {
					t.Fatalf("unexpected output line %q", l)
				}
				if m[1] != "spiffe://example.org/host" {
					t.Errorf("parent ID %s", m[1])
				}
				got = append(got, m[2])
				sel[m[2]] = m[3]
			}
			if !slices.Equal(got, want) {
				t.Errorf("entries:\n got %v\nwant %v", got, want)
			}
			if s := sel[td+identity.PathNexus]; s != c.nexusSel {
				t.Errorf("nexus selector %s, want %s", s, c.nexusSel)
			}
			if s := sel[td+identity.PathKeeper+"/2"]; s != c.keeper2Sel {
				t.Errorf("keeper 2 selector %s, want %s", s, c.keeper2Sel)
			}
		})
	}
	if err := exec.Command("bash", script, "--dry-run").Run(); err == nil {
		t.Error("script without a trust domain succeeded")
	}
}
