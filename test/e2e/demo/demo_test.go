// Package demo runs what `make demo` runs, test/demo.sh, against freshly
// built binaries, so that the README's first command keeps working, and
// checks that the README documents every setting the binaries take.
package demo

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds every program once for the package's tests and returns
// the repository root and the directory holding them.
func binaries(t *testing.T) (root, bin string) {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "spike-demo-bin-"); buildErr != nil {
			return
		}
		build := exec.Command("go", "build", "-o", binDir+"/", "./cmd/...")
		build.Dir = root
		if out, err := build.CombinedOutput(); err != nil {
			buildErr = &buildError{err, out}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return root, binDir
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return "go build: " + e.err.Error() + "\n" + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func TestMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and runs the demo")
	}
	t.Parallel()
	root, bin := binaries(t)
	// A free port, so the demo never meets a `spike dev` a developer runs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cmd := exec.Command("bash", "test/demo.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "BIN="+bin, "SPIKE_DEMO_NEXUS_ADDR="+addr, "TMPDIR="+t.TempDir(),
		"SPIKE_NEXUS_URL=", "SPIKE_SVID_DIR=", "SPIKE_TRUST_ROOT=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`wrote tenants/demo/db/creds version 1`),
		regexp.MustCompile(`(?m)^tenants/demo/db/creds$`), // listed
		regexp.MustCompile(`secret\.read +spiffe://spike\.ist/workload/demo +tenants/demo/db/creds +1 +ok`),
		regexp.MustCompile(`access\.denied +spiffe://spike\.ist/spike/pilot/role/auditor`),
		regexp.MustCompile(`verified +\d+ events`),
		regexp.MustCompile(`make demo: done`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "password of 0") {
		t.Errorf("demo wrote an empty password:\n%s", text)
	}
}

// TestReadmeDocumentsEverySetting: every flag and environment variable
// that a program's --help lists appears in README.md.
func TestReadmeDocumentsEverySetting(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary")
	}
	t.Parallel()
	root, bin := binaries(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	token := regexp.MustCompile(`--[a-z0-9][a-z0-9-]*|\$[A-Z][A-Z0-9_]+`)
	for _, args := range [][]string{
		{"spike-nexus", "--help"}, {"spike-keeper", "--help"}, {"spike-bootstrap", "--help"},
		{"spike", "--help"}, {"spike", "dev", "--help"}, {"spike-demo", "--help"},
	} {
		cmd := exec.Command(filepath.Join(bin, args[0]), args[1:]...)
		cmd.Env = append(os.Environ(), "COLUMNS=80")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, tok := range token.FindAllString(string(out), -1) {
			if tok == "--help" {
				continue
			}
			if !strings.Contains(string(readme), strings.TrimPrefix(tok, "$")) {
				t.Errorf("README.md does not mention %s (from %s)", tok, strings.Join(args, " "))
			}
		}
	}
}
