//go:build linux

package spire

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

const (
	// killAfter is how long a daemon gets between SIGTERM and SIGKILL.
	killAfter = 10 * time.Second
	// healthPoll is the period of the healthcheck loop.
	healthPoll = 100 * time.Millisecond
)

// daemon is a SPIRE server or agent process started by the harness.
type daemon struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been waited for
	waitErr error         // valid after done is closed
}

// startDaemon starts bin in its own session with output appended to
// logPath. The process is killed if the harness process dies first.
func startDaemon(name, bin, logPath string, args ...string) (*daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	defer logf.Close() // the child has its own descriptor
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	d := &daemon{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

// pid returns the process ID.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// exited reports whether the process has exited.
func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, then SIGKILL to the daemon's whole session after
// killAfter, and waits for the exit. It reports whether SIGKILL was needed.
func (d *daemon) stop() (killed bool) {
	if d.exited() {
		return false
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(killAfter)
	defer timer.Stop()
	select {
	case <-d.done:
		return false
	case <-timer.C:
	}
	// Setsid made the daemon a process group leader: kill the group.
	_ = syscall.Kill(-d.pid(), syscall.SIGKILL)
	<-d.done
	return true
}

// waitHealthy runs a healthcheck command until it succeeds, the daemon
// exits, or ctx is done. Failures include the tail of the daemon's log.
func (d *daemon) waitHealthy(ctx context.Context, bin string, args ...string) error {
	tick := time.NewTicker(healthPoll)
	defer tick.Stop()
	for {
		if exec.CommandContext(ctx, bin, args...).Run() == nil {
			return nil
		}
		select {
		case <-d.done:
			return d.failure(fmt.Errorf("%s exited during startup: %w", d.name, exitErr(d.waitErr)))
		case <-ctx.Done():
			return d.failure(fmt.Errorf("%s not healthy: %w", d.name, ctx.Err()))
		case <-tick.C:
		}
	}
}

// failure adds the tail of the daemon's log to err.
func (d *daemon) failure(err error) error {
	tail, terr := tailFile(d.logPath, 4000)
	if terr != nil {
		return err
	}
	return fmt.Errorf("%w\n--- tail of %s ---\n%s", err, d.logPath, strings.TrimSpace(tail))
}

// exitErr turns a nil Wait result into an error for messages.
func exitErr(err error) error {
	if err == nil {
		return errors.New("exit status 0")
	}
	return err
}
