//go:build linux

package system

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// cleanupTerm is how long a process still running at cleanup gets
	// between SIGTERM and SIGKILL.
	cleanupTerm = 10 * time.Second
	// stopWait is how long Stop and Kill wait for the process to end.
	stopWait = 30 * time.Second
)

// BaseEnv is the environment for every child: the test's own without any
// SPIKE_ or SPIFFE_ setting, so that nothing from outside leaks in.
func BaseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SPIKE_") || strings.HasPrefix(kv, "SPIFFE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Proc is a running daemon whose output goes to a log file.
type Proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // valid once done is closed
}

// StartProc starts bin with exactly env, its standard output and error
// appended to logPath, and fails t if it cannot. The process gets SIGKILL
// if the test process dies first. When owner (the test that outlives
// the process: t or a parent of t) ends, a process still running gets
// SIGTERM and, 10 s later, SIGKILL.
func StartProc(t, owner testing.TB, name, bin, logPath string, env []string) *Proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{name: name, logPath: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	owner.Cleanup(func() {
		if !p.Signal(syscall.SIGTERM, cleanupTerm) {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Name returns the name the process was started with, for messages.
func (p *Proc) Name() string { return p.name }

// Pid returns the process's id, e.g. to read its CPU time and memory
// from /proc.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log returns the path of the process's log file.
func (p *Proc) Log() string { return p.logPath }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err returns how the process ended (nil: exit status 0); valid once it
// has exited.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig and waits up to d for the process to end. It reports
// whether the process has ended.
func (p *Proc) Signal(sig syscall.Signal, d time.Duration) bool {
	if p.Exited() {
		return true
	}
	p.cmd.Process.Signal(sig)
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// Stop ends the process with SIGTERM and fails t if it does not go
// within 30 s.
func (p *Proc) Stop(t testing.TB) {
	t.Helper()
	if !p.Signal(syscall.SIGTERM, stopWait) {
		t.Fatalf("%s ignored SIGTERM for %v; log %s:\n%s", p.name, stopWait, p.logPath, Tail(p.logPath))
	}
}

// Kill ends the process with SIGKILL and fails t if it survives 30 s.
func (p *Proc) Kill(t testing.TB) {
	t.Helper()
	if !p.Signal(syscall.SIGKILL, stopWait) {
		t.Fatalf("%s survived SIGKILL for %v", p.name, stopWait)
	}
}
