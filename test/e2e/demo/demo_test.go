//go:build linux

// Package demo runs what `make demo` runs, test/demo.sh, against freshly
// built binaries, so that the README's first command keeps working, and
// checks that the README documents every setting the binaries take.
package demo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/spikeledger/spike/test/e2e/system"
)

// programs are the module's commands, built once for the package's tests
// by the first that needs them and removed by TestMain.
type programs struct {
	once sync.Once
	err  error
	root string // the module root, which holds test/demo.sh and README.md
	dir  string // the binaries
}

var built programs

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// binaries builds every program once for the package's tests and returns
// the module root and the directory holding them.
func binaries(t *testing.T) (root, bin string) {
	t.Helper()
	built.once.Do(func() { built.err = built.build() })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.root, built.dir
}

// build builds every command under cmd/, as `make build` does.
func (p *programs) build() error {
	root, err := system.ModuleRoot()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return errors.New("no commands under " + filepath.Join(root, "cmd"))
	}
	if p.dir, err = os.MkdirTemp("", "spike-demo-bin-"); err != nil {
		return err
	}
	p.root = root
	_, err = system.Build(context.Background(), p.dir, names...)
	return err
}

func TestMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and runs the demo")
	}
	t.Parallel()
	root, bin := binaries(t)
	// A free port, so the demo never meets a `spike dev` a developer runs.
	var ports system.Ports
	addr := ports.FreeAddr(t)

	// BaseEnv leaves out the caller's SPIKE_ settings, such as a
	// SPIKE_NEXUS_URL, SPIKE_SVID_DIR or SPIKE_TRUST_ROOT that would point
	// the demo elsewhere.
	r := system.Run(t, system.Cmd{Bin: "bash", Args: []string{"test/demo.sh"}, Dir: root,
		Env: append(system.BaseEnv(), "BIN="+bin, "SPIKE_DEMO_NEXUS_ADDR="+addr, "TMPDIR="+t.TempDir())})
	if r.Code != 0 {
		t.Fatalf("demo: %s", r)
	}
	text := r.Stdout + "\n" + r.Stderr
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`wrote tenants/demo/db/creds version 1`),
		regexp.MustCompile(`(?m)^tenants/demo/db/creds$`), // listed
		regexp.MustCompile(`secret\.read +spiffe://spike\.ist/workload/demo +tenants/demo/db/creds +1 +ok`),
		regexp.MustCompile(`access\.denied +spiffe://spike\.ist/spike/pilot/role/auditor`),
		regexp.MustCompile(`verified +\d+ events`),
		regexp.MustCompile(`make demo: done`),
	} {
		if !want.MatchString(text) {
			t.Errorf("demo output lacks %s:\n%s", want, r)
		}
	}
	if strings.Contains(text, "password of 0") {
		t.Errorf("demo wrote an empty password:\n%s", r)
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
		r := system.Run(t, system.Cmd{Bin: filepath.Join(bin, args[0]), Args: args[1:], Env: append(system.BaseEnv(), "COLUMNS=80")})
		if r.Code != 0 {
			t.Fatalf("%v: %s", args, r)
		}
		for _, tok := range token.FindAllString(r.Stdout, -1) {
			if tok == "--help" {
				continue
			}
			if !strings.Contains(string(readme), strings.TrimPrefix(tok, "$")) {
				t.Errorf("README.md does not mention %s (from %s)", tok, strings.Join(args, " "))
			}
		}
	}
}
