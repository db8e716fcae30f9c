//go:build linux

// Package deploy checks the deployment artifacts under deploy/ without the
// systems they deploy to.
package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// dockerPrograms are the binaries the image must hold, all of them.
var dockerPrograms = []string{"spike-nexus", "spike-keeper", "spike-bootstrap", "spike"}

// dockerPorts are the programs' default listen ports: Nexus API and
// operations, Keeper API and operations.
var dockerPorts = []string{"8553", "9553", "8554", "9554"}

// dockerInstr is one Dockerfile instruction, continuation lines joined.
type dockerInstr struct {
	op   string // upper case: FROM, RUN, COPY …
	args string
}

// dockerStages parses a Dockerfile into its stages, each starting at FROM.
func dockerStages(t *testing.T, text string) [][]dockerInstr {
	t.Helper()
	var stages [][]dockerInstr
	var logical strings.Builder
	flush := func() {
		line := strings.TrimSpace(logical.String())
		logical.Reset()
		if line == "" {
			return
		}
		op, args, _ := strings.Cut(line, " ")
		in := dockerInstr{op: strings.ToUpper(op), args: strings.TrimSpace(args)}
		if in.op == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			if in.op == "ARG" { // an ARG before the first FROM is allowed
				return
			}
			t.Fatalf("Dockerfile: %s before the first FROM", in.op)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// dockerMakeRecipe returns the recipe lines of target in the Makefile.
func dockerMakeRecipe(t *testing.T, makefile, target string) []string {
	t.Helper()
	var recipe []string
	in := false
	for _, line := range strings.Split(makefile, "\n") {
		switch {
		case strings.HasPrefix(line, target+":"):
			in = true
		case in && strings.HasPrefix(line, "\t"):
			recipe = append(recipe, strings.TrimSpace(line))
		case in:
			return recipe
		}
	}
	if !in {
		t.Fatalf("Makefile has no %s target", target)
	}
	return recipe
}

func dockerRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

func dockerRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfileBuildsWithMakeRelease proves the image's binaries come from
// the Makefile's release target and nothing else: the build stage runs
// `make release` and no go build of its own, and that target builds static,
// trimmed, stamped binaries of all four programs.
func TestDockerfileBuildsWithMakeRelease(t *testing.T) {
	t.Parallel()
	root := dockerRoot(t)
	stages := dockerStages(t, dockerRead(t, filepath.Join(root, "deploy", "docker", "Dockerfile")))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	var runsRelease bool
	for _, stage := range stages[:len(stages)-1] {
		for _, in := range stage {
			if in.op != "RUN" {
				continue
			}
			if strings.Contains(in.args, "go build") || strings.Contains(in.args, "go install") {
				t.Errorf("Dockerfile builds on its own (RUN %s); it must run make release", in.args)
			}
			if fields := strings.Fields(in.args); len(fields) >= 2 && fields[0] == "make" && fields[1] == "release" {
				runsRelease = true
			}
		}
	}
	if !runsRelease {
		t.Error("no build stage of the Dockerfile runs make release")
	}
	recipe := strings.Join(dockerMakeRecipe(t, dockerRead(t, filepath.Join(root, "Makefile")), "release"), "\n")
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X github.com/spikeledger/spike/internal/buildinfo.stamped=$(VERSION)", "$(RELEASE_CMDS)"} {
		if !strings.Contains(recipe, want) {
			t.Errorf("make release recipe lacks %q:\n%s", want, recipe)
		}
	}
}

// TestDockerFinalStage proves the image runs as a non-root user, starts a
// program directly (exec form, no shell), exposes the default ports and
// holds only the four binaries from the build stage.
func TestDockerFinalStage(t *testing.T) {
	t.Parallel()
	root := dockerRoot(t)
	stages := dockerStages(t, dockerRead(t, filepath.Join(root, "deploy", "docker", "Dockerfile")))
	final := stages[len(stages)-1]
	var user, entrypoint string
	var exposed, copied []string
	for _, in := range final {
		switch in.op {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		case "COPY", "ADD":
			fields := strings.Fields(in.args)
			if in.op == "ADD" || len(fields) < 3 || !strings.HasPrefix(fields[0], "--from=") {
				t.Errorf("final stage %s %s: only COPY --from the build stage is allowed", in.op, in.args)
				continue
			}
			copied = append(copied, fields[1:len(fields)-1]...)
		case "RUN":
			t.Errorf("final stage RUN %s: the image has no shell to run it", in.args)
		}
	}
	name, _, _ := strings.Cut(user, ":")
	if name == "" || name == "root" || name == "0" {
		t.Errorf("final stage USER is %q, want a non-root user", user)
	}
	var argv []string
	if err := json.Unmarshal([]byte(entrypoint), &argv); err != nil || len(argv) == 0 {
		t.Errorf("ENTRYPOINT %q is not exec form (a JSON array): it would need a shell", entrypoint)
	} else if prog := filepath.Base(argv[0]); !slices.Contains(dockerPrograms, prog) || argv[0] == "/bin/sh" {
		t.Errorf("ENTRYPOINT runs %q, want one of %v", argv[0], dockerPrograms)
	}
	for _, port := range dockerPorts {
		if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
			t.Errorf("final stage does not EXPOSE %s (has %v)", port, exposed)
		}
	}
	var names []string
	for _, src := range copied {
		names = append(names, filepath.Base(src))
	}
	slices.Sort(names)
	want := slices.Clone(dockerPrograms)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("final stage copies %v, want exactly the binaries %v", copied, want)
	}
}

// TestDockerReleaseBinaries runs make release into a temporary directory
// and proves each binary is static (no interpreter, no shared libraries),
// trimmed (-trimpath recorded, no checkout path inside) and answers
// --version with the version stamped.
func TestDockerReleaseBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds four release binaries; skipped under -short")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	root := dockerRoot(t)
	out := t.TempDir()
	const version = "v0.0.0-dockertest.17"
	cmd := exec.CommandContext(t.Context(), "make", "--no-print-directory", "release", "RELEASE_DIR="+out, "VERSION="+version)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, b)
	}
	for _, prog := range dockerPrograms {
		t.Run(prog, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(out, prog)
			dockerCheckStatic(t, bin)
			info, err := exec.CommandContext(t.Context(), "go", "version", "-m", bin).CombinedOutput()
			if err != nil {
				t.Fatalf("go version -m: %v\n%s", err, info)
			}
			for _, want := range []string{"-trimpath=true", "CGO_ENABLED=0"} {
				if !bytes.Contains(info, []byte(want)) {
					t.Errorf("go version -m %s lacks %s:\n%s", prog, want, info)
				}
			}
			data, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(root+"/")) {
				t.Errorf("%s contains the checkout path %s: not trimmed", prog, root)
			}
			got, err := exec.CommandContext(t.Context(), bin, "--version").Output()
			if err != nil {
				t.Fatalf("%s --version: %v", prog, err)
			}
			if want := prog + " " + version + "\n"; string(got) != want {
				t.Errorf("%s --version printed %q, want %q", prog, got, want)
			}
		})
	}
}

// dockerCheckStatic fails unless bin is an ELF executable with no program
// interpreter and no shared library it needs.
func dockerCheckStatic(t *testing.T, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP segment: dynamically linked", bin)
		}
	}
	libs, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		t.Fatalf("%s: reading DT_NEEDED: %v", bin, err)
	}
	if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
}
