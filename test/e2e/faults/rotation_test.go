//go:build linux

package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// Rotation settings. The SVID TTL is the testbed's SPIRE server default.
// SPIRE backdates NotBefore by 10 s and the agent renews an SVID past
// half its lifetime: with a TTL of 10 s an SVID is due for renewal the
// moment it is issued, so the agent renews every workload's SVID at
// every turn of its loop (measured: a new serial at every sample, twice
// a second, for every workload),
// the hardest rotation SPIRE produces. A longer TTL (ttlEnv; 20s gave
// a new SVID about every 4 s) is the gentler, usual case.
const (
	rotationTTL     = 10 * time.Second
	ttlEnv          = "SPIKE_E2E_FAULTS_SVID_TTL" // overrides rotationTTL
	rotationEnv     = "SPIKE_E2E_FAULTS_ROTATION" // how long the load runs, e.g. 10m; default 2m
	rotationDefault = 2 * time.Minute
	loadClients     = 3 // processes
	loadWorkers     = 4 // callers in each
)

// TestRotationUnderLoad runs a 3/2 system under a SPIRE whose SVIDs live
// 10 s (see rotationTTL) while several SDK clients write and read back their secrets
// without retries, opening new connections every few calls, and Nexus
// probes its keepers every second. No call may fail, every side must
// have rotated at least twice (serials seen at fresh handshakes), Nexus
// must never have lost a keeper, and afterwards Nexus must recover its
// key from the keepers over their latest SVIDs.
func TestRotationUnderLoad(t *testing.T) {
	skipShort(t)
	d := rotationDefault
	if v := os.Getenv(rotationEnv); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("%s=%q: %v", rotationEnv, v, err)
		}
	}
	ttl := rotationTTL
	if v := os.Getenv(ttlEnv); v != "" {
		var err error
		if ttl, err = time.ParseDuration(v); err != nil || ttl%time.Second != 0 {
			t.Fatalf("%s=%q: want whole seconds (%v)", ttlEnv, v, err)
		}
	}
	tb, err := system.NewTestbed(context.Background(), options("spike-rotation-", ttl))
	if err != nil {
		t.Fatalf("testbed with %v SVIDs: %v", ttl, err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Log(err)
		}
	})
	s := system.Deploy(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2,
		Env: []string{"SPIKE_NEXUS_KEEPER_HEALTH_INTERVAL=1s"}})

	reports := make([]loadReport, loadClients)
	errs := make([]error, loadClients)
	var wg sync.WaitGroup
	for i := range loadClients {
		wg.Go(func() { reports[i], errs[i] = runLoad(s, tb, i, d) })
	}
	wg.Wait()
	calls, failed := 0, 0
	for i, r := range reports {
		if errs[i] != nil {
			t.Fatalf("load client %d: %v", i, errs[i])
		}
		calls += r.Calls
		failed += r.Failed
		keeperSerials := []string{}
		for k := 1; k <= s.Keepers(); k++ {
			keeperSerials = append(keeperSerials, strconv.Itoa(len(r.Keeper[s.KeeperURL(k)])))
		}
		t.Logf("ROTATION client %d: %d calls, %d failed; SVIDs seen: own %d, nexus %d, keepers %s",
			i, r.Calls, r.Failed, len(r.Own), len(r.Nexus), strings.Join(keeperSerials, "/"))
		if r.Failed > 0 {
			t.Errorf("load client %d: %d of %d calls failed across rotations, first: %q", i, r.Failed, r.Calls, r.Failures)
		}
		if len(r.Own) < 3 || len(r.Nexus) < 3 {
			t.Errorf("load client %d saw %d own and %d nexus SVIDs: want at least two rotations of each", i, len(r.Own), len(r.Nexus))
		}
		for k := 1; k <= s.Keepers(); k++ {
			if n := len(r.Keeper[s.KeeperURL(k)]); n < 3 {
				t.Errorf("load client %d saw %d SVIDs of keeper %d: want at least two rotations", i, n, k)
			}
		}
	}
	t.Logf("ROTATION total: %d calls in %v by %d clients × %d workers under %v SVIDs, %d failed (%.0f calls/s)",
		calls, d, loadClients, loadWorkers, ttl, failed, float64(calls)/d.Seconds())
	if calls == 0 {
		t.Fatal("the load clients made no call")
	}
	if line := nexusLogHas(s.NexusLog(), "keeper unreachable"); line != "" {
		t.Errorf("nexus lost a keeper during the rotations: %s", line)
	}
	s.RestartNexus(t)
	s.WaitReady(t, "from the keepers after the rotations")
}

// runLoad runs one load client process for d and returns its report.
func runLoad(s *system.Deployment, tb *system.Testbed, i int, d time.Duration) (loadReport, error) {
	cmd := exec.Command(tb.Path(loadBin))
	cmd.Env = append(s.Env(), roleEnv+"=load", keepersEnv+"="+strings.Join(s.KeeperURLs(), ","),
		durationEnv+"="+d.String(), workersEnv+"="+strconv.Itoa(loadWorkers), nameEnv+"="+strconv.Itoa(i))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r loadReport
	if err != nil {
		return r, fmt.Errorf("%v\n%s", err, system.Tail(writeTemp(stderr.Bytes())))
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return r, fmt.Errorf("report: %v: %q", err, out)
	}
	return r, nil
}

// writeTemp keeps b in a temporary file for Tail; "" if it cannot.
func writeTemp(b []byte) string {
	f, err := os.CreateTemp("", "spike-faults-load-*.stderr")
	if err != nil {
		return ""
	}
	defer f.Close()
	f.Write(b)
	return f.Name()
}

// nexusLogHas returns the first line of the log at path holding want.
func nexusLogHas(path, want string) string {
	b, _ := os.ReadFile(path)
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, want) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}
