//go:build linux

package system

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
	"syscall"
	"testing"
	"time"
)

// RunWait bounds every one-shot command that Run runs.
const RunWait = 3 * time.Minute

// Cmd is a one-shot command for Run.
type Cmd struct {
	Bin  string
	Args []string
	// Env is the command's whole environment; see BaseEnv.
	Env []string
	// Stdin is the command's standard input; nil is empty.
	Stdin []byte
	// Dir is the command's working directory; "" is the test's.
	Dir string
	// Save, if set, keeps the output in files as well: Save+".stdout" and
	// Save+".stderr", written as the command runs.
	Save string
}

// Result is how a one-shot command ended.
type Result struct {
	Code           int // exit status; -1 if it did not exit normally
	Stdout, Stderr string
	Took           time.Duration
}

// String describes the result for failure messages, output included.
func (r Result) String() string {
	return fmt.Sprintf("exit %d after %v\n--- stdout ---\n%s--- stderr ---\n%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Run runs c to completion and returns how it ended; a non-zero exit is
// a result, not a failure. It fails t if the command cannot be started or
// does not finish within RunWait. The command gets SIGKILL if the test
// process dies first.
func Run(t testing.TB, c Cmd) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), RunWait)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Bin, c.Args...)
	cmd.Env, cmd.Dir, cmd.Stdout, cmd.Stderr = c.Env, c.Dir, &stdout, &stderr
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.Save != "" {
		fo, fe := create(t, c.Save+".stdout"), create(t, c.Save+".stderr")
		defer fo.Close()
		defer fe.Close()
		cmd.Stdout, cmd.Stderr = io.MultiWriter(fo, &stdout), io.MultiWriter(fe, &stderr)
	}
	begin := time.Now()
	err := cmd.Run()
	r := Result{Code: cmd.ProcessState.ExitCode(), Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(begin)}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish within %v\n%s", strings.Join(append([]string{filepath.Base(c.Bin)}, c.Args...), " "), RunWait, r)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", filepath.Base(c.Bin), err)
	}
	return r
}

// create creates a file for Run's output or fails t.
func create(t testing.TB, path string) *os.File {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatalf("command output: %v", err)
	}
	return f
}
