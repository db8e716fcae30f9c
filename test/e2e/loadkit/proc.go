//go:build linux

package loadkit

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// StopWait bounds how long a load takes to finish its last operations
// and write its journal once told to stop: an SDK retry wait and then
// some.
const StopWait = 2 * time.Minute

// Proc is a load role running in a child process until its standard
// input closes (or it ends by itself), printing a JSON summary.
type Proc struct {
	Stderr string // path of its standard error
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout bytes.Buffer
	done   chan struct{} // closed when the process has ended
	err    error         // how it ended, once done is closed
}

// Start runs bin with env, its standard error going to the file stderr.
// The child dies with the test process, and t's cleanup kills it if it
// is still running.
func Start(t *testing.T, bin string, env []string, stderr string) *Proc {
	t.Helper()
	p := &Proc{Stderr: stderr, done: make(chan struct{})}
	f, err := os.Create(stderr)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start the load: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Exited reports whether the load has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop closes the load's standard input, waits up to StopWait for it to
// end and decodes its summary into summary.
func (p *Proc) Stop(t *testing.T, summary any) {
	t.Helper()
	p.stdin.Close()
	select {
	case <-p.done:
		if p.err != nil {
			t.Fatalf("the load: %v\n%s", p.err, system.Tail(p.Stderr))
		}
	case <-time.After(StopWait):
		p.cmd.Process.Kill()
		t.Fatalf("the load did not finish within %v of being told to stop\n%s", StopWait, system.Tail(p.Stderr))
	}
	if err := json.Unmarshal(p.stdout.Bytes(), summary); err != nil {
		t.Fatalf("the load's summary: %v\n%s", err, p.stdout.String())
	}
}

// RunJSON runs a role to its end as d.Run does and decodes its standard
// output into out; a role that fails fails t.
func RunJSON(t *testing.T, d *system.Deployment, name string, cmd system.Cmd, out any) {
	t.Helper()
	r := d.Run(t, name, cmd)
	if r.Code != 0 {
		t.Fatalf("the %s role: %s", name, r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), out); err != nil {
		t.Fatalf("the %s role's report: %v\n%s", name, err, r.Stdout)
	}
}
