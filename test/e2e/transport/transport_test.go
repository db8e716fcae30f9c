//go:build linux

package transport

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/spire"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

const td = "spike.test"

func id(path string) string { return "spiffe://" + td + path }

// cluster starts SPIRE with one entry per role binary. It fails (never
// skips) when SPIRE cannot be had, except under -short.
func cluster(t *testing.T, ttl time.Duration, roles map[string]string) (*spire.Cluster, map[string]string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test under a real SPIRE: skipped with -short")
	}
	dir := t.TempDir()
	bins := map[string]string{}
	var entries []spire.Entry
	for name, path := range roles {
		bins[name] = spire.RoleBinary(t, dir, name)
		entries = append(entries, spire.Entry{SpiffeID: id(path), Selectors: []string{"unix:path:" + bins[name]}, X509SVIDTTL: ttl})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := spire.Start(ctx, spire.Options{TrustDomain: td, Entries: entries})
	if err != nil {
		t.Fatalf("SPIRE: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	return c, bins
}

// startServer runs a role binary as the server and returns its URL.
func startServer(t *testing.T, c *spire.Cluster, bin string, env ...string) string {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), append(env, c.Env(), roleEnv+"=server", "SPIKE_E2E_TD="+td)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("server did not start: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
	if !ok {
		t.Fatalf("server said %q", line)
	}
	return url
}

// runClient runs a role binary as a client and decodes its report.
func runClient(t *testing.T, c *spire.Cluster, bin, url, pin, plan string, out any) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), c.Env(), roleEnv+"=client", urlEnv+"="+url, pinEnv+"="+pin, planEnv+"="+plan)
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("client %s: %v", filepath.Base(bin), err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("client %s said %q: %v", filepath.Base(bin), b, err)
	}
}

func TestMTLSUnderSPIRE(t *testing.T) {
	t.Parallel()
	c, bins := cluster(t, 0, map[string]string{
		"nexus":   "/spike/nexus",
		"fake":    "/spike/keeper/1", // a server that is not nexus
		"pilot":   "/spike/pilot/role/superuser",
		"app":     "/workload/app",
		"outside": "/workload/outsider",
	})
	nexus := startServer(t, c, bins["nexus"])
	fake := startServer(t, c, bins["fake"])
	strict := startServer(t, c, bins["nexus"], admitEnv+"="+id("/spike/pilot/role/superuser"))
	plan := `[{"path":"/v1/echo"},{"path":"/v1/echo","action":"pilot"},{"path":"/v1/nope"}]`

	var got []outcome
	runClient(t, c, bins["pilot"], nexus, id("/spike/nexus"), plan, &got)
	if got[0].Status != 200 || got[1].Status != 200 || got[2].Status != 400 {
		t.Errorf("pilot against nexus: %+v", got)
	}
	runClient(t, c, bins["app"], nexus, id("/spike/nexus"), plan, &got)
	if got[0].Status != 200 || got[1].Status != 401 || got[1].Code != "access_unauthorized" {
		t.Errorf("app against nexus: %+v, want 200 then 401", got)
	}
	// The listener that admits only pilot refuses the app at the handshake.
	runClient(t, c, bins["app"], strict, id("/spike/nexus"), plan, &got)
	if got[0].Status != 0 || got[0].Err == "" {
		t.Errorf("app against a pilot-only listener: %+v, want a handshake failure", got)
	}
	// A client pinned to nexus refuses a server with another identity.
	runClient(t, c, bins["pilot"], fake, id("/spike/nexus"), plan, &got)
	if got[0].Status != 0 || got[0].Err == "" {
		t.Errorf("pilot against a non-nexus server: %+v, want a handshake failure", got)
	}
}

// TestRotationUnderSPIRE: SVIDs live 20 s, so SPIRE rotates both sides
// every few seconds; the client calls throughout, each time over a fresh
// handshake, until it has seen both its own and the server's SVID change
// at least twice, with no failed call.
func TestRotationUnderSPIRE(t *testing.T) {
	t.Parallel()
	c, bins := cluster(t, 20*time.Second, map[string]string{"nexus": "/spike/nexus", "pilot": "/spike/pilot/role/superuser"})
	url := startServer(t, c, bins["nexus"])
	var rep loopReport
	runClient(t, c, bins["pilot"], url, id("/spike/nexus"), "loop:90", &rep)
	t.Logf("%d calls; client SVIDs %d, server SVIDs %d", rep.Calls, len(rep.ClientSerials), len(rep.ServerSerials))
	if len(rep.Failures) != 0 {
		t.Errorf("%d failed calls across rotations: %q", len(rep.Failures), rep.Failures)
	}
	if len(rep.ClientSerials) < 3 || len(rep.ServerSerials) < 3 {
		t.Errorf("saw %d client and %d server SVIDs; want at least two rotations of each", len(rep.ClientSerials), len(rep.ServerSerials))
	}
}
