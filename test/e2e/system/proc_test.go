//go:build linux

package system

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startUp starts the test binary as role and waits until it says "up".
func startUp(t *testing.T, role string) *Proc {
	t.Helper()
	bin, env := self(t, role)
	p := StartProc(t, t, role, bin, filepath.Join(t.TempDir(), role+".log"), env)
	WaitFor(t, role+" up", p, func() (bool, string) {
		b, err := os.ReadFile(p.Log())
		return strings.Contains(string(b), "up\n"), string(b) + errString(err)
	})
	return p
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestProcStopAndKill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		role     string
		end      func(*Proc, testing.TB)
		wantSig  syscall.Signal
		termEnds bool // whether SIGTERM alone ends it
	}{
		{"sleep", (*Proc).Stop, syscall.SIGTERM, true},
		{"stubborn", (*Proc).Kill, syscall.SIGKILL, false},
	}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			t.Parallel()
			p := startUp(t, tc.role)
			if p.Exited() {
				t.Fatalf("%s exited at once: %v", tc.role, p.Err())
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", p.Pid())); err != nil {
				t.Errorf("Pid %d is not a running process: %v", p.Pid(), err)
			}
			if !tc.termEnds {
				// The process ignores SIGTERM; a short wait must report it
				// still running. (The length of the wait is not asserted.)
				if p.Signal(syscall.SIGTERM, 200*time.Millisecond) {
					t.Fatalf("%s ended on SIGTERM: %v", tc.role, p.Err())
				}
			}
			tc.end(p, t)
			if !p.Exited() {
				t.Fatal("not exited after it ended")
			}
			ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != tc.wantSig {
				t.Errorf("ended by %v (%v), want %v", ws.Signal(), p.Err(), tc.wantSig)
			}
		})
	}
}

// TestProcCleanup checks that a process still running when its owner
// ends is stopped: the stubborn one with SIGKILL after the grace period
// would take 10 s, so the well-behaved one is used.
func TestProcCleanup(t *testing.T) {
	t.Parallel()
	var p *Proc
	t.Run("owner", func(t *testing.T) { p = startUp(t, "sleep") })
	select {
	case <-p.Done():
	default:
		t.Fatal("the process outlived its owner")
	}
}
