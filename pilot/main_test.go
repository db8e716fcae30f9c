package pilot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/pilot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// dev is the one in-process system the tests of this binary talk to,
// started by the first test that needs one (fuzzing workers and unit
// tests never do) and closed by TestMain. Each test uses paths and
// policy names of its own, so they run in parallel.
var dev struct {
	once    sync.Once
	dir     string
	cluster *devcluster.Cluster
	nobody  string // SVID files of a workload no policy names
	err     error
}

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if dev.cluster != nil {
		if err := dev.cluster.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close dev cluster:", err)
			code = 1
		}
	}
	if dev.dir != "" {
		os.RemoveAll(dev.dir)
	}
	os.Exit(code)
}

// cluster returns the running system, starting it on first use.
func cluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	dev.once.Do(func() {
		if dev.dir, dev.err = os.MkdirTemp("", "pilot-test-"); dev.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		dev.cluster, dev.err = devcluster.Start(ctx, devcluster.Options{DataDir: filepath.Join(dev.dir, "dev"), NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
		if dev.err != nil {
			return
		}
		dev.nobody = filepath.Join(dev.dir, "nobody")
		dev.err = dev.cluster.IssueSVIDDir(ctx, "/workload/nobody", dev.nobody)
	})
	if dev.err != nil {
		t.Fatalf("dev cluster: %v", dev.err)
	}
	return dev.cluster
}

func nexusURL(t *testing.T) string { return cluster(t).NexusURL() }

// svidDir is the directory of the dev cluster's SVID files for name.
func svidDir(t *testing.T, name string) string { return cluster(t).SVIDDir(name) }

// nobodyDir holds the SVID of a workload no policy names.
func nobodyDir(t *testing.T) string {
	cluster(t)
	return dev.nobody
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// as runs the CLI with the identity in svidDir against the cluster.
func as(t *testing.T, dir, stdin string, args ...string) result {
	t.Helper()
	full := append([]string{"--nexus-url", nexusURL(t), "--svid-dir", dir, "--retry-wait", "0"}, args...)
	return runCLI(t, stdin, full...)
}

// runCLI runs the CLI with exactly args.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := pilot.Run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

func super(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return as(t, svidDir(t, devcluster.SVIDSuperuser), stdin, args...)
}

func nobody(t *testing.T, args ...string) result {
	t.Helper()
	return as(t, nobodyDir(t), "", args...)
}

// check asserts the exit code and that stderr is one line (or empty on
// success) containing want.
func (r result) check(t *testing.T, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	if code == 0 {
		if r.stderr != "" {
			t.Errorf("stderr on success: %q", r.stderr)
		}
		return
	}
	if r.stdout != "" {
		t.Errorf("stdout on failure: %q", r.stdout)
	}
	if strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not mention %q", r.stderr, want)
	}
}

// varying are JSON keys whose values depend on when and in what order
// the tests ran: golden files hold a placeholder instead.
var varying = map[string]bool{
	"time": true, "createdTime": true, "updatedTime": true, "deletedTime": true, "createdAt": true, "updatedAt": true,
	"seq": true, "requestId": true, "size": true, "treeSize": true, "oldSize": true, "newSize": true,
	"rootHash": true, "leafHash": true, "proof": true, "checkpoint": true, "verifierKey": true, "origin": true,
	"latestSize": true, "latestRootHash": true, "nonce": true, "ciphertext": true, "directory": true, "files": true,
	"checkpoints": true, "asOfSeq": true, "asOfTime": true, "baseSeq": true,
	"unsealedAt": true, "lastSeen": true, "lastChecked": true, "logEvents": true, "logBytes": true, "url": true,
}

// unstable are keys whose very presence depends on the log's state when
// the test ran (whether another page follows): golden files leave them
// out.
var unstable = map[string]bool{"next": true}

// normalize replaces the values of varying keys (when not null) with
// "<key>" and drops unstable keys, so that a golden file pins the
// document's shape and its stable values.
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if unstable[k] {
				delete(v, k)
				continue
			}
			if varying[k] && x != nil {
				v[k] = "<" + k + ">"
				continue
			}
			v[k] = normalize(x)
		}
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	}
	return v
}

// golden compares a --format json document with testdata/<name>.golden,
// after normalize, in canonical form (keys sorted, two-space indent):
// what is pinned is the document's fields and stable values, not the
// order encoding/json happens to write them in. -update rewrites the
// file.
func golden(t *testing.T, name, got string) {
	t.Helper()
	var doc any
	dec := json.NewDecoder(strings.NewReader(againSuffix.ReplaceAllString(got, "")))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: output is not JSON: %v\n%s", name, err, got)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON document:\n%s", name, got)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(normalize(doc)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("%s: JSON output differs from %s:\n%s", name, path, b)
	}
}

// runs counts how often each test asked for its name, so that -count=N
// (one cluster for all N runs) gives each run fresh paths and policies.
var runs struct {
	sync.Mutex
	n map[string]int
}

// uniq returns a name unique to the test and run, for paths and policies:
// the test's name, and "-againN" from the second run on, which golden
// strips.
func uniq(t *testing.T, prefix string) string {
	name := strings.ToLower(strings.Trim(regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-"), "-"))
	runs.Lock()
	defer runs.Unlock()
	if runs.n == nil {
		runs.n = map[string]int{}
	}
	runs.n[name]++
	if n := runs.n[name]; n > 1 {
		name += fmt.Sprintf("-again%d", n)
	}
	return prefix + name
}

// againSuffix is what uniq adds from a test's second run on.
var againSuffix = regexp.MustCompile(`-again[0-9]+`)

// cliCase is one run of the CLI and what it must do.
type cliCase struct {
	name  string
	who   string // an SVID directory; "" is the superuser
	stdin string
	args  []string
	code  int
	// want is a substring of stdout on success, of stderr on failure;
	// exact, when set, is the whole of stdout.
	want, exact string
	// golden, when set, names the testdata file the stdout JSON document
	// must match.
	golden string
}

// runCases runs the cases in order: later ones may depend on what
// earlier ones did.
func runCases(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		who := tc.who
		if who == "" {
			who = svidDir(t, devcluster.SVIDSuperuser)
		}
		r := as(t, who, tc.stdin, tc.args...)
		if r.code != tc.code {
			t.Fatalf("%s: %v: exit %d, want %d\nstdout: %s\nstderr: %s", tc.name, tc.args, r.code, tc.code, r.stdout, r.stderr)
		}
		t.Run(tc.name, func(t *testing.T) {
			r.check(t, tc.code, tc.want)
			if tc.code == 0 && tc.want != "" && !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.want)
			}
			if tc.exact != "" && r.stdout != tc.exact {
				t.Errorf("stdout %q, want %q", r.stdout, tc.exact)
			}
			if tc.golden != "" {
				golden(t, tc.golden, r.stdout)
			}
		})
	}
}

// onTerminal runs the CLI with exactly args, with stdin playing a
// terminal that answers a question with stdin.
func onTerminal(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := pilot.Run(ctx, args, strings.NewReader(stdin), &out, &errOut,
		pilot.WithTerminal(func(v any) bool { _, ok := v.(*strings.Reader); return ok }))
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}
