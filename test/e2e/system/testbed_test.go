//go:build linux

package system

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestLayoutRejectsBadNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		workloads []Workload
		wantErr   string
	}{
		{"ok", []Workload{{Name: "a", ID: "/a"}, {Name: "b", Command: "spike", ID: "/b"}}, ""},
		{"empty", []Workload{{Name: "", ID: "/a"}}, "plain file name"},
		{"path", []Workload{{Name: "x/a", ID: "/a"}}, "plain file name"},
		{"build dir", []Workload{{Name: "build", ID: "/a"}}, "plain file name"},
		{"twice", []Workload{{Name: "a", ID: "/a"}, {Name: "a", ID: "/b"}}, "used twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := &Testbed{dir: "/tb", paths: map[string]string{}}
			entries, err := tb.layout(tc.workloads)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, e := range entries {
				w := tc.workloads[i]
				if e.SpiffeID != ID(w.ID) || len(e.Selectors) != 1 || e.Selectors[0] != "unix:path:/tb/"+w.Name {
					t.Errorf("entry %+v for %+v", e, w)
				}
			}
		})
	}
}

func TestLinkIsOneFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	if err := os.WriteFile(src, []byte("binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Link(src, dst); err != nil {
		t.Fatal(err)
	}
	a, errA := os.Stat(src)
	b, errB := os.Stat(dst)
	if errA != nil || errB != nil || !os.SameFile(a, b) || b.Mode()&os.ModeSymlink != 0 {
		t.Errorf("dst is not a hard link of src: %v %v", errA, errB)
	}
	if err := Link(src, dst); err == nil {
		t.Error("a second Link onto an existing path succeeded")
	}
}

func TestFreeAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		freeAddr func(testing.TB) string
	}{
		{"zero Ports", new(Ports).FreeAddr},
		{"Testbed", new(Testbed).FreeAddr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			low := ephemeralLow()
			seen := map[string]bool{}
			taken := 0
			for range 50 {
				addr := tc.freeAddr(t)
				host, port, err := net.SplitHostPort(addr)
				if err != nil || host != "127.0.0.1" {
					t.Fatalf("%q: not a loopback address (%v)", addr, err)
				}
				if n, _ := strconv.Atoi(port); low-lowestPort >= 1000 && (n < lowestPort || n >= low) {
					t.Errorf("port %d outside [%d, %d)", n, lowestPort, low)
				}
				if seen[addr] {
					t.Fatalf("%s handed out twice", addr)
				}
				seen[addr] = true
				ln, err := net.Listen("tcp", addr)
				if err != nil {
					// Free a moment ago is all FreeAddr promises: other
					// test processes bind ports in the same range.
					taken++
					t.Logf("%s is not free now: %v", addr, err)
					continue
				}
				ln.Close()
			}
			if taken > 2 {
				t.Errorf("%d of 50 addresses were not free when tried", taken)
			}
		})
	}
}

// TestPortsAcrossGoroutines: goroutines sharing one Ports never get the
// same port.
func TestPortsAcrossGoroutines(t *testing.T) {
	t.Parallel()
	const workers, each = 8, 25
	var p Ports
	got := make([][]string, workers)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			for range each {
				got[i] = append(got[i], p.FreeAddr(t))
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, addrs := range got {
		for _, addr := range addrs {
			if seen[addr] {
				t.Errorf("%s handed out twice", addr)
			}
			seen[addr] = true
		}
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct addresses, want %d", len(seen), workers*each)
	}
}

func TestBaseEnvDropsSpikeAndSpiffe(t *testing.T) {
	t.Setenv("SPIKE_E2E_SYSTEM_PROBE", "x")
	t.Setenv("SPIFFE_ENDPOINT_SOCKET", "unix:///nowhere")
	t.Setenv("E2E_SYSTEM_KEPT", "y")
	kept := false
	for _, kv := range BaseEnv() {
		if strings.HasPrefix(kv, "SPIKE_") || strings.HasPrefix(kv, "SPIFFE_") {
			t.Errorf("BaseEnv keeps %s", strings.SplitN(kv, "=", 2)[0])
		}
		kept = kept || kv == "E2E_SYSTEM_KEPT=y"
	}
	if !kept {
		t.Error("BaseEnv drops E2E_SYSTEM_KEPT")
	}
}
