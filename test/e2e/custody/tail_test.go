//go:build linux

package custody

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/test/e2e/system"
)

// TestAuditTail is the acceptance of the live tail under a real SPIRE:
// while the auditor's `spike audit tail` runs (the real binary, its SVID
// from the Workload API), a workload reads a secret, and the read, with
// the workload's SPIFFE ID, is printed within one second; SIGINT ends
// the tail with exit 0.
func TestAuditTail(t *testing.T) {
	t.Parallel()
	s := newDeployment(t, 3, 2)
	s.step("fresh bootstrap", s.freshBootstrap)
	s.step("secret and policy", func() {
		for _, args := range [][]string{
			{"secret", "put", "tail/db", "pass=x"},
			{"policy", "create", "--name", "reader", "--spiffeid-pattern", "^" + system.ID("/workload/reader") + "$",
				"--path-pattern", "^tail/.*$", "--permissions", "read"},
		} {
			if r := s.pilot(superBin, nil, args...); r.Code != 0 {
				s.t.Fatalf("spike %v: %s", args, r)
			}
		}
	})
	s.step("tail sees the read", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.tb.Path(auditorBin), "-f", "json", "audit", "tail", "--type", "secret.read", "--path-prefix", "tail/")
		cmd.Env = s.Env()
		out, err := cmd.StdoutPipe()
		if err != nil {
			s.t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			s.t.Fatal(err)
		}
		defer cmd.Process.Kill()
		lines := make(chan api.AuditEvent, 16)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				var ev api.AuditEvent
				if json.Unmarshal(sc.Bytes(), &ev) == nil {
					lines <- ev
				}
			}
		}()
		// The tail starts with the next event: give it time to open
		// before the read, which it must then show.
		time.Sleep(2 * time.Second)
		if r := s.pilot(readerBin, nil, "secret", "get", "tail/db"); r.Code != 0 {
			s.t.Fatalf("workload read: %s", r)
		}
		read := time.Now()
		select {
		case ev, ok := <-lines:
			if !ok {
				s.t.Fatal("audit tail ended before the read")
			}
			if ev.Type != "secret.read" || ev.Path != "tail/db" || ev.Actor != system.ID("/workload/reader") || ev.Outcome != "ok" {
				s.t.Fatalf("tail printed %+v", ev)
			}
			s.t.Logf("the read was printed %v after the workload's get returned", time.Since(read).Round(time.Millisecond))
		case <-time.After(time.Second):
			s.t.Fatal("the workload's read was not printed within one second")
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			s.t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			s.t.Fatalf("audit tail after SIGINT: %v, want exit 0", err)
		}
	})
}
