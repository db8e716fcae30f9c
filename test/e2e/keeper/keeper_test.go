//go:build linux

package keeper

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/test/e2e/system"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		os.Exit(runClient())
	}
	os.Exit(m.Run())
}

// The testbed's workloads besides the keepers, Nexus and Bootstrap: the
// test binary as the keeper's three kinds of caller (roles_test.go).
const (
	asNexus     = "client-as-nexus"     // spike/nexus
	asBootstrap = "client-as-bootstrap" // spike/bootstrap
	asApp       = "client-as-app"       // workload/app
)

// setup builds the binaries and starts a SPIRE of the calling test's own,
// stopped when the test ends. Under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test under a real SPIRE: skipped with -short")
	}
	tb, err := system.NewTestbed(t.Context(), system.Options{
		Prefix:  "spike-keeper-",
		Keepers: 1,
		Workloads: []system.Workload{
			{Name: asNexus, ID: "/spike/nexus"},
			{Name: asBootstrap, ID: "/spike/bootstrap"},
			{Name: asApp, ID: "/workload/app"},
		},
	})
	if err != nil {
		t.Fatalf("end-to-end setup failed: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("keeper e2e: %v", err)
		}
	})
	return tb
}

// runPlan runs the test binary as one of the keeper's callers, bin,
// against the keeper at url, and returns one outcome per step.
func runPlan(t *testing.T, tb *system.Testbed, bin, url string, plan []step) []outcome {
	t.Helper()
	pj, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	r := system.Run(t, system.Cmd{Bin: bin, Env: append(system.BaseEnv(), tb.Cluster().Env(),
		roleEnv+"=1", urlEnv+"="+url, pinEnv+"="+system.KeeperID(1), planEnv+"="+string(pj))})
	if r.Code != 0 {
		t.Fatalf("client %s: %s", filepath.Base(bin), r)
	}
	var got []outcome
	if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil || len(got) != len(plan) {
		t.Fatalf("client %s said %q: %v", filepath.Base(bin), r.Stdout, err)
	}
	return got
}

func shardOf(b byte) *api.Shard {
	var s api.Shard
	for i := range s {
		s[i] = b ^ byte(i*37) | 0x80
	}
	return &s
}

func TestKeeperUnderSPIRE(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	d := system.NewDeployment(t, tb, system.DeployOptions{Keepers: 1, Threshold: 1, Env: []string{"SPIKE_SYSTEM_LOG_LEVEL=debug"}})
	d.StartKeeper(t, 1)
	url := d.KeeperURL(1)

	if status, body := d.KeeperReadyz(1); status != http.StatusServiceUnavailable || !strings.Contains(body, "no shard") {
		t.Errorf("readyz before any shard: %d %q", status, body)
	}
	first, second := shardOf(1), shardOf(2)
	got := runPlan(t, tb, tb.Path(asNexus), url, []step{{Op: "shard"}, {Op: "contribute", Shard: first}, {Op: "shard"}})
	if got[0].Status != 400 || got[1].Status != 200 || got[2].Status != 200 || got[2].Shard == nil || *got[2].Shard != *first {
		t.Fatalf("nexus: %+v; want 400 before any shard, then its shard back", got)
	}
	got = runPlan(t, tb, tb.Path(asBootstrap), url, []step{{Op: "contribute", Shard: second}, {Op: "shard"}})
	if got[0].Status != 200 || got[1].Status != 401 || got[1].Code != string(api.CodeUnauthorized) {
		t.Fatalf("bootstrap: %+v; want to contribute, then 401 on reading", got)
	}
	got = runPlan(t, tb, tb.Path(asApp), url, []step{{Op: "contribute", Shard: first}, {Op: "shard"}})
	for i, o := range got {
		if o.Status != 0 || o.Err == "" {
			t.Errorf("workload call %d: %+v; want a handshake failure", i, o)
		}
	}
	got = runPlan(t, tb, tb.Path(asNexus), url, []step{{Op: "shard"}})
	if got[0].Shard == nil || *got[0].Shard != *second {
		t.Fatalf("nexus after bootstrap's contribution: %+v; want bootstrap's shard", got)
	}
	if status, body := d.KeeperReadyz(1); status != http.StatusOK {
		t.Errorf("readyz with a shard: %d %q", status, body)
	}

	d.StopKeepers(t, 1)
	k := d.Keeper(1)
	if err := k.Err(); err != nil {
		t.Fatalf("spike-keeper after SIGTERM: %v, want exit 0:\n%s", err, system.Tail(k.Log()))
	}
	b, err := os.ReadFile(k.Log())
	if err != nil {
		t.Fatal(err)
	}
	logs := string(b)
	for _, want := range []string{system.KeeperID(1), "keeper serving", "shard stored", "shard zeroed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	for _, sh := range []*api.Shard{first, second} {
		for _, form := range printedForms(sh) {
			if strings.Contains(logs, form) {
				t.Fatalf("the log holds a shard as %q", form)
			}
		}
	}
}

// printedForms returns the shard as hex and as a decimal list, the way
// JSON, fmt and people print it.
func printedForms(sh *api.Shard) []string {
	dec := make([]string, len(sh))
	for i, b := range sh {
		dec[i] = strconv.Itoa(int(b))
	}
	return []string{
		hex.EncodeToString(sh[:]),
		strings.ToUpper(hex.EncodeToString(sh[:])),
		hex.EncodeToString(sh[:16]),
		hex.EncodeToString(sh[16:]),
		strings.Join(dec, ","),
		strings.Join(dec, ", "),
		strings.Join(dec, " "),
		fmt.Sprint(*sh),
	}
}

// TestBadConfigurationExits2: a bad setting stops the binary at once
// with one line on stderr and status 2, before it looks for an SVID.
func TestBadConfigurationExits2(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary: skipped with -short")
	}
	built, err := system.Build(t.Context(), t.TempDir(), "spike-keeper")
	if err != nil {
		t.Fatal(err)
	}
	bin := built[0]
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"SPIKE_KEEPER_TLS_PORT=not-a-port", "TLS address"},
		{"SPIKE_KEEPER_OPS_ADDR=127.0.0.1:99999", "operations address"},
		{"SPIKE_SPIFFE_SOURCE_TIMEOUT=soon", "SPIKE_SPIFFE_SOURCE_TIMEOUT"},
		{"SPIKE_SYSTEM_LOG_LEVEL=loud", "SPIKE_SYSTEM_LOG_LEVEL"},
		{"SPIKE_TRUST_ROOT=Not A Domain", "SPIKE_TRUST_ROOT"},
	} {
		t.Run(tc.env, func(t *testing.T) {
			t.Parallel()
			r := system.Run(t, system.Cmd{Bin: bin,
				Env: append(system.BaseEnv(), tc.env, "SPIFFE_ENDPOINT_SOCKET=unix:///nonexistent/agent.sock")})
			if r.Code != 2 || strings.Count(r.Stderr, "\n") != 1 || !strings.Contains(r.Stderr, tc.want) || r.Stdout != "" {
				t.Errorf("%s: %s\nwant exit 2 and one line naming %s", tc.env, r, tc.want)
			}
		})
	}
}
