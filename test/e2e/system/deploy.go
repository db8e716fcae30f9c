//go:build linux

package system

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DeployOptions configures a Deployment.
type DeployOptions struct {
	// Keepers is how many keepers, from 1 to the testbed's Keepers.
	Keepers int
	// Threshold is the Shamir threshold, from 1 to Keepers.
	Threshold int
	// Env is added to the environment of every process, e.g.
	// "SPIKE_SYSTEM_LOG_LEVEL=debug".
	Env []string
}

// Deployment is one SPIKE system on a Testbed: keepers 1 to n and one
// Nexus, each on loopback addresses fixed for the deployment's lifetime,
// and the one-shot commands run against them. Each process's runs log to
// numbered files in LogDir. A Deployment is driven by one goroutine at a
// time; its methods fail the t they are given.
type Deployment struct {
	tb    *Testbed
	owner testing.TB
	opts  DeployOptions

	dir, logDir, dataDir string

	keepers []*keeperSlot // keepers[i] is keeper i+1

	nexusTLS, nexusOps string
	nexus              *Proc
	nexusRuns          int
	nexusStarted       time.Time
	runs               int // one-shot commands run, for their log names
}

// keeperSlot is one keeper position: its addresses outlive its processes.
type keeperSlot struct {
	tlsAddr, opsAddr string
	proc             *Proc
	runs             int
}

// NewDeployment lays out a deployment in a directory of t's; nothing is
// started. Its processes end, at the latest, when t does.
func NewDeployment(t testing.TB, tb *Testbed, opts DeployOptions) *Deployment {
	t.Helper()
	if opts.Keepers < 1 || opts.Keepers > tb.Keepers() || opts.Threshold < 1 || opts.Threshold > opts.Keepers {
		t.Fatalf("deployment of %d keepers with threshold %d on a testbed of %d keepers", opts.Keepers, opts.Threshold, tb.Keepers())
	}
	dir := t.TempDir()
	d := &Deployment{tb: tb, owner: t, opts: opts, dir: dir,
		logDir: filepath.Join(dir, "logs"), dataDir: filepath.Join(dir, "data"),
		nexusTLS: tb.FreeAddr(t), nexusOps: tb.FreeAddr(t)}
	for _, sub := range []string{d.logDir, d.dataDir} {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for range opts.Keepers {
		d.keepers = append(d.keepers, &keeperSlot{tlsAddr: tb.FreeAddr(t), opsAddr: tb.FreeAddr(t)})
	}
	return d
}

// Deploy lays out a deployment, starts every keeper and Nexus, runs
// spike-bootstrap, which must report "bootstrap complete", and waits
// until Nexus is ready.
func Deploy(t testing.TB, tb *Testbed, opts DeployOptions) *Deployment {
	t.Helper()
	d := NewDeployment(t, tb, opts)
	d.StartKeepers(t, d.All()...)
	d.StartNexus(t)
	if r := d.Bootstrap(t); r.Code != 0 || !strings.Contains(r.Stdout, "bootstrap complete") {
		t.Fatalf("spike-bootstrap on a fresh %d/%d system: want exit 0 and \"bootstrap complete\"\n%s\n--- nexus log ---\n%s",
			opts.Keepers, opts.Threshold, r, Tail(d.NexusLog()))
	}
	d.WaitReady(t, "after bootstrap")
	return d
}

// Keepers returns the number of keepers.
func (d *Deployment) Keepers() int { return d.opts.Keepers }

// Threshold returns the Shamir threshold.
func (d *Deployment) Threshold() int { return d.opts.Threshold }

// All returns the keeper positions, 1 to Keepers.
func (d *Deployment) All() []int {
	out := make([]int, d.opts.Keepers)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// Dir returns the deployment's directory, which holds LogDir and DataDir.
func (d *Deployment) Dir() string { return d.dir }

// LogDir returns the directory of every process log and command output.
func (d *Deployment) LogDir() string { return d.logDir }

// DataDir returns Nexus's data directory.
func (d *Deployment) DataDir() string { return d.dataDir }

// KeeperURL returns the API URL of keeper n, from 1.
func (d *Deployment) KeeperURL(n int) string { return "https://" + d.keepers[n-1].tlsAddr }

// KeeperURLs returns every keeper's API URL, keeper 1 first.
func (d *Deployment) KeeperURLs() []string {
	urls := make([]string, len(d.keepers))
	for i := range d.keepers {
		urls[i] = d.KeeperURL(i + 1)
	}
	return urls
}

// NexusURL returns Nexus's API URL.
func (d *Deployment) NexusURL() string { return "https://" + d.nexusTLS }

// Env returns the environment of every SPIKE process of the deployment:
// BaseEnv, the Workload API, the trust root, the keepers, the Shamir
// parameters, Nexus's URL, DeployOptions.Env, then extra.
func (d *Deployment) Env(extra ...string) []string {
	env := append(BaseEnv(),
		d.tb.Cluster().Env(),
		"SPIKE_TRUST_ROOT="+TrustDomain,
		"SPIKE_KEEPERS="+strings.Join(d.KeeperURLs(), ","),
		"SPIKE_SHAMIR_SHARES="+strconv.Itoa(d.opts.Keepers),
		"SPIKE_SHAMIR_THRESHOLD="+strconv.Itoa(d.opts.Threshold),
		"SPIKE_NEXUS_URL="+d.NexusURL(),
	)
	env = append(env, d.opts.Env...)
	return append(env, extra...)
}

// StartKeeper starts keeper n, from 1, which holds no shard then, and
// waits until it answers /healthz.
func (d *Deployment) StartKeeper(t testing.TB, n int) {
	t.Helper()
	k := d.keepers[n-1]
	if k.proc != nil && !k.proc.Exited() {
		t.Fatalf("keeper %d is already running", n)
	}
	k.runs++
	k.proc = StartProc(t, d.owner, fmt.Sprintf("spike-keeper %d", n), d.tb.Keeper(n),
		filepath.Join(d.logDir, fmt.Sprintf("keeper-%d.run-%d.log", n, k.runs)),
		d.Env("SPIKE_KEEPER_TLS_PORT="+k.tlsAddr, "SPIKE_KEEPER_OPS_ADDR="+k.opsAddr))
	WaitFor(t, fmt.Sprintf("keeper %d /healthz", n), k.proc, OKAt("http://"+k.opsAddr+"/healthz"))
}

// StartKeepers starts the keepers ns in turn.
func (d *Deployment) StartKeepers(t testing.TB, ns ...int) {
	t.Helper()
	for _, n := range ns {
		d.StartKeeper(t, n)
	}
}

// StopKeepers stops the keepers ns with SIGTERM.
func (d *Deployment) StopKeepers(t testing.TB, ns ...int) {
	t.Helper()
	for _, n := range ns {
		d.keepers[n-1].proc.Stop(t)
	}
}

// Keeper returns the latest process of keeper n, from 1; nil before it
// was first started.
func (d *Deployment) Keeper(n int) *Proc { return d.keepers[n-1].proc }

// KeeperReadyz is keeper n's /readyz: 200 with a shard, 503 without.
func (d *Deployment) KeeperReadyz(n int) (int, string) {
	return HTTPGet("http://" + d.keepers[n-1].opsAddr + "/readyz")
}

// StartNexus starts Nexus on the data directory and waits until it
// answers /healthz; it is sealed or recovering then.
func (d *Deployment) StartNexus(t testing.TB) {
	t.Helper()
	if d.nexus != nil && !d.nexus.Exited() {
		t.Fatal("nexus is already running")
	}
	d.nexusRuns++
	d.nexusStarted = time.Now()
	d.nexus = StartProc(t, d.owner, "spike-nexus", d.tb.Nexus(), d.NexusLog(),
		d.Env("SPIKE_DATA_DIR="+d.dataDir, "SPIKE_NEXUS_TLS_PORT="+d.nexusTLS, "SPIKE_NEXUS_OPS_ADDR="+d.nexusOps,
			"SPIKE_NEXUS_RECOVERY_MAX_INTERVAL=1s", "SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL=1h"))
	WaitFor(t, "nexus /healthz", d.nexus, OKAt("http://"+d.nexusOps+"/healthz"))
}

// Nexus returns the latest Nexus process; nil before it was first
// started.
func (d *Deployment) Nexus() *Proc { return d.nexus }

// NexusLog returns the log file of the latest Nexus run.
func (d *Deployment) NexusLog() string {
	return filepath.Join(d.logDir, fmt.Sprintf("nexus.run-%d.log", d.nexusRuns))
}

// KillNexus ends Nexus with SIGKILL: no chance to tidy up.
func (d *Deployment) KillNexus(t testing.TB) {
	t.Helper()
	d.nexus.Kill(t)
}

// RestartNexus kills Nexus with SIGKILL and starts it again on the same
// data directory.
func (d *Deployment) RestartNexus(t testing.TB) {
	t.Helper()
	d.KillNexus(t)
	d.StartNexus(t)
}

// Readyz is Nexus's /readyz.
func (d *Deployment) Readyz() (int, string) { return HTTPGet("http://" + d.nexusOps + "/readyz") }

// WaitReady waits until Nexus's /readyz answers 200 "ready", and logs
// how long after its start that was; why names the occasion.
func (d *Deployment) WaitReady(t testing.TB, why string) {
	t.Helper()
	WaitFor(t, "nexus ready "+why, d.nexus, func() (bool, string) {
		code, body := d.Readyz()
		return code == http.StatusOK && strings.TrimSpace(body) == "ready", fmt.Sprintf("%d %q", code, body)
	})
	t.Logf("nexus ready %s: %v after its start", why, time.Since(d.nexusStarted).Round(time.Millisecond))
}

// WaitSealed waits until Nexus's /readyz answers 503 with a body that
// starts "sealed:" and contains want, and returns the body.
func (d *Deployment) WaitSealed(t testing.TB, want string) string {
	t.Helper()
	var got string
	WaitFor(t, fmt.Sprintf("nexus sealed, saying %q", want), d.nexus, func() (bool, string) {
		code, body := d.Readyz()
		got = body
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "sealed:") && strings.Contains(body, want),
			fmt.Sprintf("%d %q", code, body)
	})
	return got
}

// Run runs a one-shot command with Run, its output also kept in LogDir
// under a numbered name that ends in label, and logs how it ended.
func (d *Deployment) Run(t testing.TB, label string, c Cmd) Result {
	t.Helper()
	d.runs++
	c.Save = filepath.Join(d.logDir, fmt.Sprintf("%02d-%s", d.runs, label))
	r := Run(t, c)
	t.Logf("%s: exit %d in %v", strings.Join(append([]string{label}, c.Args...), " "), r.Code, r.Took.Round(time.Millisecond))
	return r
}

// Bootstrap runs spike-bootstrap, bounded so that a hang fails.
func (d *Deployment) Bootstrap(t testing.TB) Result {
	t.Helper()
	return d.Run(t, "bootstrap", Cmd{Bin: d.tb.Bootstrap(), Env: d.Env("SPIKE_BOOTSTRAP_TIMEOUT=2m")})
}

// Shutdown stops Nexus and then every keeper with SIGTERM, so that their
// last words are in their logs (and SQLite has checkpointed).
func (d *Deployment) Shutdown(t testing.TB) {
	t.Helper()
	if d.nexus != nil {
		d.nexus.Stop(t)
		if err := d.nexus.Err(); err != nil {
			t.Logf("nexus after SIGTERM: %v", err)
		}
	}
	for _, k := range d.keepers {
		if k.proc != nil {
			k.proc.Stop(t)
		}
	}
}
