//go:build linux

package spire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Version is the SPIRE release the harness builds and runs.
const Version = "v1.13.3"

const (
	spireModule = "github.com/spiffe/spire"
	serverName  = "spire-server"
	agentName   = "spire-agent"
)

// Binaries returns the paths of the spire-server and spire-agent binaries.
//
// With SPIKE_SPIRE_BIN set, they are taken from that directory and never
// built. Otherwise they live in bin/ under the cache directory and are
// built there on first use, with "go get -tool" in a scratch module and
// "go install". A file lock in the cache directory makes concurrent callers
// (parallel test packages) wait for a single build, as long as it makes
// progress (see builder). An error is returned, not a skip, when the
// binaries are missing and cannot be built.
func Binaries(ctx context.Context) (serverBin, agentBin string, err error) {
	if dir := os.Getenv("SPIKE_SPIRE_BIN"); dir != "" {
		return prebuilt(dir)
	}
	cache, err := cacheDir()
	if err != nil {
		return "", "", err
	}
	return ensureBuilt(ctx, cache)
}

// Build makes sure the binaries are built, as Binaries does, writing one
// line to w first when that means building them (or waiting for another
// process that does): the first build on a machine takes minutes. "make
// spire" runs it before the tests, so that no test binary waits for it.
func Build(ctx context.Context, w io.Writer) error {
	if dir := os.Getenv("SPIKE_SPIRE_BIN"); dir != "" {
		_, _, err := prebuilt(dir)
		return err
	}
	cache, err := cacheDir()
	if err != nil {
		return err
	}
	if ready(cache) {
		return nil
	}
	_, _ = fmt.Fprintf(w, "spire: building SPIRE %s for the end-to-end tests into %s: once per machine, about 7 minutes on 2 cores (log: %s)\n",
		Version, cache, filepath.Join(cache, "build.log"))
	_, _, err = ensureBuilt(ctx, cache)
	return err
}

// cacheDir returns the persistent build directory.
func cacheDir() (string, error) {
	if dir := os.Getenv("SPIKE_SPIRE_CACHE"); dir != "" {
		return filepath.Abs(dir)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("spire cache dir: %w (set SPIKE_SPIRE_CACHE)", err)
	}
	return filepath.Join(home, ".cache", "spike", "spire-"+Version), nil
}

// binPaths returns where the two binaries live under dir.
func binPaths(dir string) (serverBin, agentBin string) {
	return filepath.Join(dir, serverName), filepath.Join(dir, agentName)
}

// prebuilt checks the binaries in a user-provided directory.
func prebuilt(dir string) (serverBin, agentBin string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("SPIKE_SPIRE_BIN: %w", err)
	}
	serverBin, agentBin = binPaths(dir)
	for _, p := range []string{serverBin, agentBin} {
		if !isExecutable(p) {
			return "", "", fmt.Errorf("SPIKE_SPIRE_BIN=%s: %s is missing or not executable", dir, p)
		}
	}
	return serverBin, agentBin, nil
}

// ensureBuilt returns the cached binaries, building them under the lock if
// they are not ready, or waiting for the process that builds them.
func ensureBuilt(ctx context.Context, cache string) (serverBin, agentBin string, err error) {
	tick := time.NewTicker(lookEvery)
	defer tick.Stop()
	b := builder{cache: cache, ticks: tick.C, every: lookEvery, stallLooks: int(stallLimit / lookEvery), build: build}
	return b.ensure(ctx)
}

// ready reports whether both binaries exist and no build is unfinished or
// failed: build.log, when present, must end with "rc=0".
func ready(cache string) bool {
	serverBin, agentBin := binPaths(filepath.Join(cache, "bin"))
	if !isExecutable(serverBin) || !isExecutable(agentBin) {
		return false
	}
	last, err := lastLine(filepath.Join(cache, "build.log"))
	if errors.Is(err, os.ErrNotExist) {
		return true
	}
	return err == nil && last == "rc=0"
}

// isExecutable reports whether path is a regular file with an execute bit.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// lastLine returns the last non-empty line of a file.
func lastLine(path string) (string, error) {
	tail, err := tailFile(path, 256)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(tail), "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// tailFile returns at most the last n bytes of a file.
func tailFile(path string, n int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	off := max(fi.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, fi.Size()-off))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// build runs the recipe that is known to work against the module proxy
// here: a plain "go install pkg@version" fails because the proxy refuses
// the version list, "go get -tool" does not need it. cgo is required by
// SPIRE's sqlite3 datastore. Output goes to build.log, which ends with
// "rc=<exit code>".
func build(ctx context.Context, cache string) (err error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("cannot build SPIRE %s: the go command is not in PATH (%w); "+
			"set SPIKE_SPIRE_BIN to a directory with prebuilt %s and %s", Version, err, serverName, agentName)
	}
	scratch := filepath.Join(cache, "build")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		return fmt.Errorf("spire build dir: %w", err)
	}
	logPath := filepath.Join(cache, "build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("spire build log: %w", err)
	}
	writeMarker(logf)
	defer func() {
		_, _ = fmt.Fprintf(logf, "rc=%d\n", exitCode(err))
		if cerr := logf.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("spire build log: %w", cerr)
		}
		if err != nil {
			err = withTail(err, logPath)
		}
	}()
	env := append(os.Environ(), "GOBIN="+filepath.Join(cache, "bin"), "CGO_ENABLED=1", "GOWORK=off")
	for _, args := range buildSteps(scratch) {
		if err := runStep(ctx, logf, goBin, scratch, env, args); err != nil {
			return fmt.Errorf("building SPIRE %s into %s: %w", Version, cache, err)
		}
	}
	return nil
}

// buildSteps lists the go commands of the build recipe.
func buildSteps(scratch string) [][]string {
	var steps [][]string
	if _, err := os.Stat(filepath.Join(scratch, "go.mod")); err != nil {
		steps = append(steps, []string{"mod", "init", "x"})
	}
	server, agent := spireModule+"/cmd/"+serverName, spireModule+"/cmd/"+agentName
	return append(steps,
		[]string{"get", "-tool", server + "@" + Version},
		[]string{"get", "-tool", agent + "@" + Version},
		// -v names each package as it is built, so that build.log keeps
		// growing: processes waiting for this build take that as progress.
		[]string{"install", "-v", "-ldflags=-s -w", server, agent},
	)
}

// runStep runs one go command, logging it and its output to w.
func runStep(ctx context.Context, w io.Writer, goBin, dir string, env, args []string) error {
	_, _ = fmt.Fprintf(w, "$ go %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, w, w
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// exitCode maps a build error to the code recorded in build.log.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	default:
		return 1
	}
}

// withTail appends the end of a log file to err.
func withTail(err error, logPath string) error {
	tail, terr := tailFile(logPath, 3000)
	if terr != nil {
		return err
	}
	tail = string(bytes.TrimSpace([]byte(tail)))
	return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, logPath, tail)
}
