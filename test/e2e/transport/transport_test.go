//go:build linux

package transport

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/spire"
	"github.com/spikeledger/spike/test/e2e/system"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

// cluster starts SPIRE with one entry per role binary, each SVID living
// ttl (0: the server's default). The roles are all the test binary: the
// suite needs none of the module's commands, so it starts SPIRE itself
// rather than on a system.Testbed. It fails (never skips) when SPIRE
// cannot be had, except under -short.
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
		entries = append(entries, spire.Entry{SpiffeID: system.ID(path), Selectors: []string{"unix:path:" + bins[name]}, X509SVIDTTL: ttl})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := spire.Start(ctx, spire.Options{TrustDomain: system.TrustDomain, Entries: entries})
	if err != nil {
		t.Fatalf("SPIRE: %v", err)
	}
	t.Cleanup(func() { c.Stop() })
	return c, bins
}

// startServer runs a role binary as the server and returns its URL once
// it listens. When the test ends the server gets SIGTERM, and must then
// exit cleanly.
func startServer(t *testing.T, c *spire.Cluster, bin string, env ...string) string {
	t.Helper()
	env = append(append(system.BaseEnv(), c.Env(), roleEnv+"=server"), env...)
	p := system.StartProc(t, t, "server "+filepath.Base(bin), bin, filepath.Join(t.TempDir(), "server.log"), env)
	t.Cleanup(func() {
		p.Stop(t)
		if err := p.Err(); err != nil {
			t.Errorf("%s after SIGTERM: %v\n%s", p.Name(), err, system.Tail(p.Log()))
		}
	})
	var url string
	system.WaitFor(t, p.Name()+" listening", p, func() (bool, string) {
		b, err := os.ReadFile(p.Log())
		if err != nil {
			return false, err.Error()
		}
		lines := strings.Split(string(b), "\n")
		for _, line := range lines[:len(lines)-1] { // whole lines only
			if u, ok := strings.CutPrefix(line, "LISTEN "); ok {
				url = u
				return true, line
			}
		}
		return false, fmt.Sprintf("%q", b)
	})
	return url
}

// runClient runs a role binary as a client and decodes its report.
func runClient(t *testing.T, c *spire.Cluster, bin, url, pin, plan string, out any) {
	t.Helper()
	r := system.Run(t, system.Cmd{Bin: bin,
		Env: append(system.BaseEnv(), c.Env(), roleEnv+"=client", urlEnv+"="+url, pinEnv+"="+pin, planEnv+"="+plan)})
	if r.Code != 0 {
		t.Fatalf("client %s: %s", filepath.Base(bin), r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), out); err != nil {
		t.Fatalf("client %s said %q: %v", filepath.Base(bin), r.Stdout, err)
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
	strict := startServer(t, c, bins["nexus"], admitEnv+"="+system.ID("/spike/pilot/role/superuser"))
	plan := `[{"path":"/v1/echo"},{"path":"/v1/echo","action":"pilot"},{"path":"/v1/nope"}]`

	var got []outcome
	runClient(t, c, bins["pilot"], nexus, system.ID("/spike/nexus"), plan, &got)
	if got[0].Status != 200 || got[1].Status != 200 || got[2].Status != 400 {
		t.Errorf("pilot against nexus: %+v", got)
	}
	runClient(t, c, bins["app"], nexus, system.ID("/spike/nexus"), plan, &got)
	if got[0].Status != 200 || got[1].Status != 401 || got[1].Code != "access_unauthorized" {
		t.Errorf("app against nexus: %+v, want 200 then 401", got)
	}
	// The listener that admits only pilot refuses the app at the handshake.
	runClient(t, c, bins["app"], strict, system.ID("/spike/nexus"), plan, &got)
	if got[0].Status != 0 || got[0].Err == "" {
		t.Errorf("app against a pilot-only listener: %+v, want a handshake failure", got)
	}
	// A client pinned to nexus refuses a server with another identity.
	runClient(t, c, bins["pilot"], fake, system.ID("/spike/nexus"), plan, &got)
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
	runClient(t, c, bins["pilot"], url, system.ID("/spike/nexus"), "loop:90", &rep)
	t.Logf("%d calls; client SVIDs %d, server SVIDs %d", rep.Calls, len(rep.ClientSerials), len(rep.ServerSerials))
	if len(rep.Failures) != 0 {
		t.Errorf("%d failed calls across rotations: %q", len(rep.Failures), rep.Failures)
	}
	if len(rep.ClientSerials) < 3 || len(rep.ServerSerials) < 3 {
		t.Errorf("saw %d client and %d server SVIDs; want at least two rotations of each", len(rep.ClientSerials), len(rep.ServerSerials))
	}
}
