//go:build linux

package faults

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// TestStartOrders starts a fresh 3/2 system in each of the six orders of
// keepers, Nexus and Bootstrap, each started as soon as the one before
// is up (Bootstrap as soon as it is launched: it waits for Nexus and
// retries the keepers, as designed). Every order must end with Bootstrap
// reporting "bootstrap complete", Nexus ready and a secret written and
// read back under a checkpoint that verifies.
func TestStartOrders(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	for _, order := range [][]string{
		{"keepers", "nexus", "bootstrap"},
		{"keepers", "bootstrap", "nexus"},
		{"nexus", "keepers", "bootstrap"},
		{"nexus", "bootstrap", "keepers"},
		{"bootstrap", "keepers", "nexus"},
		{"bootstrap", "nexus", "keepers"},
	} {
		t.Run(strings.Join(order, "-"), func(t *testing.T) {
			s := newDeployment(t, tb, 3, 2)
			begin := time.Now()
			var boot *bootstrapRun
			for _, what := range order {
				switch what {
				case "keepers":
					s.StartKeepers(t, s.All()...)
				case "nexus":
					s.StartNexus(t)
				case "bootstrap":
					boot = s.startBootstrap(t)
				}
			}
			out := boot.wait(t)
			if out.Code != 0 || !strings.Contains(out.Stdout, "bootstrap complete") {
				t.Fatalf("spike-bootstrap started %s: want exit 0 and \"bootstrap complete\"\n%s\n--- nexus log ---\n%s",
					strings.Join(order, ", "), out, system.Tail(s.NexusLog()))
			}
			s.WaitReady(t, "after bootstrap")
			s.seed(t)
			s.intact(t, "fresh system started "+strings.Join(order, ", "))
			t.Logf("ORDER %s: bootstrap exit 0 after %v, nexus ready and the canary read back %v after the first start",
				strings.Join(order, ", "), out.Took.Round(100*time.Millisecond), time.Since(begin).Round(100*time.Millisecond))
			s.Shutdown(t)
		})
	}
}

// TestRestartOrders restarts a bootstrapped 3/2 system in several
// orders. A keeper keeps its shard in memory only, so a restarted keeper
// is empty: only a rolling restart ends ready from the keepers alone,
// with Nexus restarted in between while enough keepers hold their
// shards, or with Nexus running and refilling each keeper as it comes
// back from its outage; once
// every keeper has restarted while Nexus was down, Nexus stays sealed
// however the processes come back, a further Bootstrap must recognise
// the system and change nothing (no new root key), and the operator's
// recovery files bring the original key back. The canary reads back and
// the checkpoint verifies after each.
func TestRestartOrders(t *testing.T) {
	t.Parallel()
	s := bootstrapped(t, setup(t), 3, 2)
	if r := s.pilot(t, recoverBin, "operator", "recover"); r.Code != 0 {
		t.Fatalf("spike operator recover: %s", r)
	}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, func(t *testing.T) {
			begin := time.Now()
			f(t)
			s.intact(t, name)
			if ok, msg := s.holdRight(t); !ok {
				t.Fatalf("%s: every keeper must hold its shard again: %s", name, msg)
			}
			t.Logf("RESTART %s: ready, canary intact, every keeper refilled, in %v", name, time.Since(begin).Round(100*time.Millisecond))
		}) {
			t.FailNow()
		}
	}
	step("rolling keepers with nexus restarts", func(t *testing.T) {
		for _, k := range s.All() {
			s.StopKeepers(t, k)
			s.StartKeeper(t, k)
			s.RestartNexus(t)
			s.WaitReady(t, fmt.Sprintf("with keeper %d restarted empty", k))
			system.WaitFor(t, fmt.Sprintf("nexus gives restarted keeper %d its shard", k), s.Nexus(), func() (bool, string) {
				return s.holdRight(t)
			})
		}
	})
	step("rolling keepers while nexus runs", func(t *testing.T) {
		// Nexus probes the keepers every 2 s here; each keeper stays
		// down until Nexus has seen it go, so that its return is an
		// outage's end (a restart quicker than a probe goes unseen and
		// waits for the next distribution).
		for _, k := range s.All() {
			s.StopKeepers(t, k)
			system.WaitFor(t, fmt.Sprintf("nexus sees keeper %d down", k), s.Nexus(), func() (bool, string) {
				return s.nexusLogLine("keeper unreachable", s.proxies[k-1].URL()) != "", ""
			})
			s.StartKeeper(t, k)
			took := system.WaitFor(t, fmt.Sprintf("nexus refills restarted keeper %d", k), s.Nexus(), func() (bool, string) {
				return s.holdRight(t)
			})
			t.Logf("keeper %d restarted empty, refilled by nexus %v after it started", k, took.Round(100*time.Millisecond))
		}
		s.RestartNexus(t)
		s.WaitReady(t, "from keepers that were all restarted while it ran")
	})
	step("keepers first then nexus", func(t *testing.T) {
		s.Nexus().Stop(t)
		s.StopKeepers(t, s.All()...)
		s.StartKeepers(t, s.All()...)
		s.StartNexus(t)
		s.sealedUntilRestore(t)
	})
	step("nexus first then keepers one by one", func(t *testing.T) {
		s.Shutdown(t)
		s.StartNexus(t)
		body := s.WaitSealed(t, "0 of 2 verified shards needed")
		t.Logf("nexus alone: /readyz %q", strings.TrimSpace(body))
		for _, k := range s.All() {
			s.StartKeeper(t, k)
			s.staysSealed(t, 2*time.Second)
		}
		s.sealedUntilRestore(t)
	})
	step("bootstrap first then keepers then nexus", func(t *testing.T) {
		s.Shutdown(t)
		boot := s.startBootstrap(t)
		s.StartKeepers(t, s.All()...)
		s.StartNexus(t)
		out := boot.wait(t)
		if out.Code != 0 || !strings.Contains(out.Stdout, "already bootstrapped") || strings.Contains(out.Stdout, "bootstrap complete") {
			t.Fatalf("spike-bootstrap started before keepers and a sealed nexus: want exit 0 and \"already bootstrapped\"\n%s", out)
		}
		s.sealedUntilRestore(t)
	})
	s.verifyLog(t)
}

// sealedUntilRestore checks that Nexus, back with keepers that lost
// their shards, stays sealed and says so; that Bootstrap run now leaves
// everything alone; and that the operator's recovery files bring the
// original key back.
func (s *deployment) sealedUntilRestore(t *testing.T) {
	t.Helper()
	body := s.WaitSealed(t, "0 of 2 verified shards needed")
	if !strings.Contains(body, "holds no shard") {
		t.Errorf("nexus /readyz %q: want it to say the keepers hold no shard", body)
	}
	t.Logf("nexus with empty keepers: /readyz %q", strings.TrimSpace(body))
	s.staysSealed(t, 3*time.Second)
	r := s.Bootstrap(t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "already bootstrapped") || strings.Contains(r.Stdout, "bootstrap complete") {
		t.Fatalf("spike-bootstrap against a sealed, bootstrapped nexus: want exit 0 and \"already bootstrapped\"\n%s", r)
	}
	for n, o := range s.peek(t) {
		if o.Status == http.StatusOK {
			t.Fatalf("keeper %d holds a shard after spike-bootstrap ran against a sealed, bootstrapped nexus", n+1)
		}
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "spike.recovery.*.txt"))
	if len(files) != s.Keepers() {
		t.Fatalf("recovery files: %d in %s, want %d", len(files), s.dir, s.Keepers())
	}
	r = s.pilot(t, restoreBin, "operator", "restore", files[0], files[2])
	if r.Code != 0 || !strings.Contains(r.Stdout, "restored and ready") {
		t.Fatalf("spike operator restore with 2 of 3 recovery files: %s\n--- nexus log ---\n%s", r, system.Tail(s.NexusLog()))
	}
	s.WaitReady(t, "after the operator restore")
	system.WaitFor(t, "nexus gives every keeper its shard after the restore", s.Nexus(), func() (bool, string) {
		return s.holdRight(t)
	})
}

// bootstrapRun is spike-bootstrap running in the background, so that
// the processes it waits for can start after it.
type bootstrapRun struct {
	cmd            *exec.Cmd
	begin          time.Time
	stdout, stderr bytes.Buffer
}

// startBootstrap launches spike-bootstrap, its output also kept in the
// log directory.
func (s *deployment) startBootstrap(t *testing.T) *bootstrapRun {
	t.Helper()
	b := &bootstrapRun{cmd: exec.Command(s.tb.Bootstrap())}
	b.cmd.Env = s.Env("SPIKE_BOOTSTRAP_TIMEOUT=2m")
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	b.begin = time.Now()
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start spike-bootstrap: %v", err)
	}
	t.Cleanup(func() { b.cmd.Process.Kill() })
	name := filepath.Join(s.LogDir(), fmt.Sprintf("bootstrap-%d", time.Now().UnixNano()))
	t.Cleanup(func() {
		os.WriteFile(name+".stdout", b.stdout.Bytes(), 0o600)
		os.WriteFile(name+".stderr", b.stderr.Bytes(), 0o600)
	})
	return b
}

// wait waits for Bootstrap to end, at most system.RunWait.
func (b *bootstrapRun) wait(t *testing.T) system.Result {
	t.Helper()
	if b == nil {
		t.Fatal("spike-bootstrap was never started")
	}
	done := make(chan error, 1)
	go func() { done <- b.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(system.RunWait):
		b.cmd.Process.Kill()
		<-done
		t.Fatalf("spike-bootstrap did not finish within %v\n%s", system.RunWait, b.stderr.String())
	}
	return system.Result{Code: b.cmd.ProcessState.ExitCode(), Stdout: b.stdout.String(), Stderr: b.stderr.String(), Took: time.Since(b.begin)}
}
