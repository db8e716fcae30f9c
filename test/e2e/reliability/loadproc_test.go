//go:build linux

package reliability

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// stopWait bounds how long the load takes to finish its last operations
// and write its journal once told to stop.
const stopWait = 2 * time.Minute

// loadProc is the load role running in a child process.
type loadProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout bytes.Buffer
	stderr string        // path of its standard error
	done   chan struct{} // closed when the process has ended
	err    error         // how it ended, once done is closed
}

// startLoad starts the load role as the pilot superuser against d's
// Nexus, with the settings in extra (see load_test.go).
func startLoad(t *testing.T, tb *system.Testbed, d *system.Deployment, extra ...string) *loadProc {
	t.Helper()
	lp := &loadProc{stderr: filepath.Join(d.LogDir(), "load.stderr"), done: make(chan struct{})}
	f, err := os.Create(lp.stderr)
	if err != nil {
		t.Fatal(err)
	}
	lp.cmd = exec.Command(tb.Path(loadBin))
	lp.cmd.Env = d.Env(append([]string{roleEnv + "=load"}, extra...)...)
	lp.cmd.Stdout, lp.cmd.Stderr = &lp.stdout, f
	lp.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if lp.stdin, err = lp.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := lp.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start the load: %v", err)
	}
	go func() {
		lp.err = lp.cmd.Wait()
		f.Close()
		close(lp.done)
	}()
	t.Cleanup(func() {
		if !lp.exited() {
			lp.cmd.Process.Kill()
			<-lp.done
		}
	})
	return lp
}

// exited reports whether the load has ended before it was told to.
func (lp *loadProc) exited() bool {
	select {
	case <-lp.done:
		return true
	default:
		return false
	}
}

// stop closes the load's standard input, waits for it to finish and
// returns its summary.
func (lp *loadProc) stop(t *testing.T) summary {
	t.Helper()
	lp.stdin.Close()
	select {
	case <-lp.done:
		if lp.err != nil {
			t.Fatalf("the load: %v\n%s", lp.err, system.Tail(lp.stderr))
		}
	case <-time.After(stopWait):
		lp.cmd.Process.Kill()
		t.Fatalf("the load did not finish within %v of being told to stop\n%s", stopWait, system.Tail(lp.stderr))
	}
	var s summary
	if err := json.Unmarshal(lp.stdout.Bytes(), &s); err != nil {
		t.Fatalf("the load's summary: %v\n%s", err, lp.stdout.String())
	}
	return s
}
