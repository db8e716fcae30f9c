package pilot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/pilot"
)

func TestUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string // in stdout on success, stderr on failure
	}{
		{"help", []string{"--help"}, 0, "Usage: spike <command> [flags]"},
		{"command help", []string{"secret", "get", "--help"}, 0, "Usage: spike secret get <path> [<key>] [flags]"},
		{"no command", nil, 2, "expected one of"},
		{"unknown command", []string{"secrets"}, 2, `unexpected argument secrets, did you mean "secret"?`},
		{"unknown flag", []string{"secret", "list", "--colour"}, 2, "unknown flag --colour (see 'spike secret list --help')"},
		{"bad format", []string{"--format", "xml", "version"}, 2, "--format must be one of"},
		{"bad nexus url", []string{"--nexus-url", "http://nexus:8553", "secret", "list"}, 2, `--nexus-url "http://nexus:8553": want https://host:port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "", tc.args...)
			r.check(t, tc.code, tc.want)
			if tc.code == 0 && !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.want)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "version")
	r.check(t, 0, "")
	if want := "spike devel (" + runtime.Version() + ")\n"; r.stdout != want {
		t.Errorf("version %q, want %q", r.stdout, want)
	}
	r = runCLI(t, "", "-f", "json", "version")
	r.check(t, 0, "")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["version"] != "devel" || v["go"] != runtime.Version() || len(v) != 2 {
		t.Errorf("version JSON %q, %v", r.stdout, err)
	}
	runCLI(t, "", "version", "extra").check(t, 2, "unexpected argument")
}

// Calls to Nexus fail with one line that says where and what to check;
// commands that need no Nexus never ask for an SVID.
func TestConnectionFailures(t *testing.T) {
	t.Parallel()
	superDir := svidDir(t, devcluster.SVIDSuperuser)
	// Nothing listens: said at once, however long --retry-wait is (the
	// test would take ten minutes otherwise).
	closed := closedURL(t)
	r := runCLI(t, "", "--nexus-url", closed, "--svid-dir", superDir, "--retry-wait", "10m", "secret", "list")
	r.check(t, 1, "nothing is listening at "+closed+": is Nexus running? (start one with spike dev, or point --nexus-url or SPIKE_NEXUS_URL at it)")
	r = runCLI(t, "", "--nexus-url", closed, "--svid-dir", superDir, "--retry-wait", "0", "secret", "list")
	r.check(t, 1, "nothing is listening at "+closed)

	r = runCLI(t, "", "--nexus-url", nexusURL(t), "--svid-dir", filepath.Join(t.TempDir(), "none"), "--spiffe-source-timeout", "50ms", "secret", "list")
	r.check(t, 1, "no identity to call Nexus with")
	r.check(t, 1, "point --svid-dir (SPIKE_SVID_DIR) at spiffe-helper's files")

	r = runCLI(t, "", "--svid-dir", filepath.Join(t.TempDir(), "none"), "version")
	r.check(t, 0, "")
}

// closedURL is a Nexus URL at which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "https://" + addr
}

// On a terminal, a command says what it waits for: an SVID that is not
// there yet, at once. Without one (every other test) it says nothing
// but the error.
func TestWaitNotices(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	var out, errOut bytes.Buffer
	code := pilot.Run(t.Context(), []string{"--nexus-url", nexusURL(t), "--svid-dir", empty, "--spiffe-source-timeout", "50ms", "secret", "list"},
		nil, &out, &errOut, pilot.WithTerminal(func(v any) bool { return v == io.Writer(&errOut) }))
	lines := strings.Split(strings.TrimSuffix(errOut.String(), "\n"), "\n")
	if code != 1 || len(lines) != 2 || lines[0] != "waiting up to 50ms for an SVID in "+empty+" (--svid-dir, SPIKE_SVID_DIR): is spiffe-helper writing there?" ||
		!strings.Contains(lines[1], "no identity to call Nexus with") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
	}
}

// The defaults of the waits are spike's own, shorter than the SDK's.
func TestWaitDefaults(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "--help")
	for _, want := range []string{"--spiffe-source-timeout=5s", "--retry-wait=10s", "A refused connection (nothing listening) is retried for 1s at most."} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("--help does not say %q:\n%s", want, r.stdout)
		}
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p+"/a", "k=v").check(t, 0, "")
	for _, tc := range []struct{ format, want string }{
		{"human", p + "/a\n"},
		{"plain", p + "/a\n"},
		{"json", "[\n  \"" + p + "/a\"\n]\n"},
		{"yaml", "- \"" + p + "/a\"\n"},
		{"y", "- \"" + p + "/a\"\n"},
	} {
		r := super(t, "", "--format", tc.format, "secret", "list", "--prefix", p+"/")
		r.check(t, 0, "")
		if r.stdout != tc.want {
			t.Errorf("--format %s: %q, want %q", tc.format, r.stdout, tc.want)
		}
	}
}

func TestDev(t *testing.T) {
	t.Parallel()
	var got pilot.DevOptions
	dev := func(ctx context.Context, o pilot.DevOptions, stdout, stderr io.Writer) error {
		got = o
		io.WriteString(stdout, "export SPIKE_NEXUS_URL=https://127.0.0.1:8553\n")
		return nil
	}
	run := func(f pilot.DevFunc, args ...string) result {
		var out, errOut bytes.Buffer
		code := pilot.Run(context.Background(), append([]string{"dev"}, args...), nil, &out, &errOut, pilot.WithDev(f))
		return result{code: code, stdout: out.String(), stderr: errOut.String()}
	}
	r := run(dev)
	r.check(t, 0, "")
	// The log level is SPIKE_SYSTEM_LOG_LEVEL's, or warn: see
	// TestLogLevelFromEnvironment.
	want := pilot.DevOptions{NexusAddr: "127.0.0.1:8553", OpsAddr: "127.0.0.1:9553", Keepers: 3, TrustDomain: "spike.ist", LogLevel: got.LogLevel}
	if got != want || !strings.Contains(r.stdout, "SPIKE_NEXUS_URL") {
		t.Errorf("defaults: %+v, stdout %q; want %+v", got, r.stdout, want)
	}
	dir := t.TempDir()
	run(dev, "--data-dir", dir, "--nexus-addr", ":9000", "--ops-addr", "-", "--keepers", "5", "--trust-domain", "example.org").check(t, 0, "")
	want = pilot.DevOptions{DataDir: dir, NexusAddr: ":9000", OpsAddr: "-", Keepers: 5, TrustDomain: "example.org", LogLevel: got.LogLevel}
	if got != want {
		t.Errorf("flags: %+v, want %+v", got, want)
	}
	run(func(context.Context, pilot.DevOptions, io.Writer, io.Writer) error {
		return errors.New("devcluster: nexus address: in use")
	}).check(t, 1, "spike dev: devcluster: nexus address: in use")
	// The bounds are devcluster's, checked before it runs.
	most := strconv.Itoa(devcluster.MaxKeepers)
	run(dev, "--keepers", most).check(t, 0, "")
	if got.Keepers != devcluster.MaxKeepers {
		t.Errorf("--keepers %s: got %d", most, got.Keepers)
	}
	got = pilot.DevOptions{}
	run(dev, "--keepers", strconv.Itoa(devcluster.MaxKeepers+1)).check(t, 2, "--keepers must be 1 to "+most)
	run(dev, "--keepers=-1").check(t, 2, "--keepers must be 1 to "+most)
	if got != (pilot.DevOptions{}) {
		t.Errorf("dev ran with %+v after a refusal", got)
	}
	if r := run(dev, "--help"); !strings.Contains(r.stdout, "How many Keepers to run (1 to "+most+";") {
		t.Errorf("help does not give the bound: %s", r.stdout)
	}
	run(dev, "--keepers", "many").check(t, 2, "--keepers")
	runCLI(t, "", "dev").check(t, 1, "this build has no dev cluster")
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, "", "completion", shell)
			r.check(t, 0, "")
			for _, want := range []string{"secret", "metadata", "destroy", "patch", "rollback", "verify", "format", "completion"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("%s script does not mention %q", shell, want)
				}
			}
			sh, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("no %s to check the script's syntax", shell)
			}
			script := filepath.Join(t.TempDir(), "spike."+shell)
			if err := os.WriteFile(script, []byte(r.stdout), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(sh, "-n", script).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v\n%s", shell, err, out)
			}
		})
	}
	runCLI(t, "", "completion", "tcsh").check(t, 2, "<shell> must be one of")
	runCLI(t, "", "completion").check(t, 2, "expected")
}

// The scripts complete from the command tree: subcommands, flags, the
// values of enumerated flags, and files where a path is expected. Each
// shell runs its script with the completion system's entry points
// stubbed (zsh) or for real (bash, fish).
func TestCompletionCompletes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "events.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		words []string // the command line; the last word is being completed
		want  string   // what the shell offers, space-separated
	}{
		{[]string{"spike", "se"}, "secret"},
		{[]string{"spike", "secret", "metadata", ""}, "get put delete"},
		{[]string{"spike", "secret", "p"}, "put patch"},
		{[]string{"spike", "secret", "ro"}, "rollback"},
		{[]string{"spike", "secret", "patch", "--rem"}, "--remove"},
		{[]string{"spike", "secret", "rollback", "--t"}, "--to"},
		{[]string{"spike", "--format", "json", "secret", "ge"}, "get"},
		{[]string{"spike", "--format", ""}, "human h plain p json j yaml y"},
		{[]string{"spike", "secret", "destroy", "--ve"}, "--versions"},
		{[]string{"spike", "completion", ""}, "bash zsh fish"},
		{[]string{"spike", "audit", "verify", dir + "/ev"}, dir + "/events.db"},
	}
	shells := map[string]func(script string, words []string) string{
		"bash": func(script string, words []string) string {
			return script + "\nCOMP_WORDS=(" + shellWords(words) + "); COMP_CWORD=" + fmt.Sprint(len(words)-1) +
				"; _spike; echo \"${COMPREPLY[*]}\"\n"
		},
		"zsh": func(script string, words []string) string {
			// compadd, _describe and _files print what they would offer,
			// filtered by the word's prefix as zsh would.
			return `compdef() {}
_describe() { local arr=$4 e; for e in "${(@P)arr}"; do e=${e%%:*}; [[ $e == ${words[CURRENT]}* ]] && print -rn -- "$e "; done }
compadd() { shift; local e; for e in "$@"; do [[ $e == ${words[CURRENT]}* ]] && print -rn -- "$e "; done }
_files() { print -rn -- ${words[CURRENT]}*(N) }
_message() {}
` + script + "\nwords=(" + shellWords(words) + "); CURRENT=" + fmt.Sprint(len(words)) + "; _spike; print\n"
		},
		"fish": func(script string, words []string) string {
			return script + "\nfor c in (complete -C " + shellWords([]string{strings.Join(words, " ")}) + "); echo (string split \\t -- $c)[1]; end | string join ' '; true\n"
		},
	}
	for shell, wrap := range shells {
		t.Run(shell, func(t *testing.T) {
			t.Parallel()
			sh, err := exec.LookPath(shell)
			if err != nil {
				t.Skipf("no %s", shell)
			}
			r := runCLI(t, "", "completion", shell)
			r.check(t, 0, "")
			for _, tc := range cases {
				args := []string{"-c", wrap(r.stdout, tc.words)}
				switch shell {
				case "bash":
					args = append([]string{"--norc", "--noprofile"}, args...)
				case "zsh":
					args = append([]string{"-f"}, args...)
				case "fish":
					args = append([]string{"--no-config"}, args...)
				}
				out, err := exec.Command(sh, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("%v: %v\n%s", tc.words, err, out)
				}
				// fish sorts what it offers; the others keep the script's order.
				if got, want := sortedFields(string(out)), sortedFields(tc.want); got != want {
					t.Errorf("completing %q: %q, want %q", tc.words, got, want)
				}
			}
		})
	}
}

func sortedFields(s string) string {
	f := strings.Fields(s)
	slices.Sort(f)
	return strings.Join(f, " ")
}

// shellWords quotes words for bash, zsh and fish alike.
func shellWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// Two names of one setting set to different values stop the command
// before any connection: exit 2, one line. (The environment is
// process-wide, so no parallelism.)
func TestRunRejectsConflictingNames(t *testing.T) {
	t.Setenv("SPIKE_NEXUS_URL", "https://a:8553")
	t.Setenv("SPIKE_NEXUS_API_URL", "https://b:8553")
	r := runCLI(t, "", "operator", "recover")
	r.check(t, 2, "SPIKE_NEXUS_API_URL")
}
