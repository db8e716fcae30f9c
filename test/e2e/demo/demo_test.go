// Package demo runs what `make demo` runs, test/demo.sh, against freshly
// built binaries, so that the README's first command keeps working.
package demo

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestMakeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every binary and runs the demo")
	}
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./cmd/...")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
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
