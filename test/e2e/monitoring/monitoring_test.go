//go:build linux

package monitoring

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

const (
	nKeepers  = 3
	threshold = 2

	// The test binary's identities in the testbed.
	pilotBin = "pilot" // spike/pilot/role/superuser
	appBin   = "app"   // workload/monitoring, with the appPolicy

	// dataWait bounds the wait for every dashboard query to return data:
	// a few scrapes after the load.
	dataWait = 60 * time.Second
)

// setup builds the binaries and starts a SPIRE of the test's own, stopped
// when it ends. Under -short it skips.
func setup(t *testing.T) *system.Testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE and a real Prometheus: skipped with -short")
	}
	tool(t, "prometheus") // skips, before SPIRE, if it cannot be had
	begin := time.Now()
	tb, err := system.NewTestbed(t.Context(), system.Options{
		Prefix:  "spike-monitoring-",
		Keepers: nKeepers,
		Workloads: []system.Workload{
			{Name: pilotBin, ID: "/spike/pilot/role/superuser"},
			{Name: appBin, ID: "/workload/monitoring"},
		},
	})
	if err != nil {
		t.Fatalf("end-to-end setup failed: %v", err)
	}
	t.Cleanup(func() {
		if err := tb.Close(); err != nil {
			t.Errorf("monitoring e2e: %v", err)
		}
	})
	t.Logf("binaries built and SPIRE started in %v", time.Since(begin).Round(time.Millisecond))
	return tb
}

// TestPrometheusScrapesSpike is issue 13's acceptance test: a real
// Prometheus scrapes Nexus and three keepers under SPIRE while a load
// runs; every dashboard and alert expression evaluates, every dashboard
// query returns data, every rule is loaded and healthy and none but the
// latency alert's expression returns anything; with one keeper down the
// at-threshold warning's expression returns a series, and with keepers
// below the threshold and Nexus restarted the keeper alert's does.
func TestPrometheusScrapesSpike(t *testing.T) {
	tb := setup(t)
	begin := time.Now()
	// Keepers probed every 2 s rather than 30: the keeper_probe job's
	// series (last success, duration) exist soon after the start.
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: nKeepers, Threshold: threshold,
		Env: []string{"SPIKE_NEXUS_KEEPER_HEALTH_INTERVAL=2s"}})
	// A restart with every keeper up: Nexus asks them for their shards,
	// so the keepers' shard request series exist too.
	d.RestartNexus(t)
	d.WaitReady(t, "after a restart with every keeper up")

	root := repoRoot(t)
	prom := startPrometheus(t, tb.FreeAddr(t), []scrapeJob{
		{name: "spike-nexus", targets: []string{d.NexusOpsAddr()}},
		{name: "spike-keeper", targets: d.KeeperOpsAddrs()},
	}, filepath.Join(root, alertsFile))
	ctx := t.Context()

	t.Run("targets up", func(t *testing.T) {
		poll(t, "every target scraped and up", func() (bool, string) {
			ts, err := prom.targets(ctx)
			if err != nil {
				return false, err.Error()
			}
			up := 0
			var seen []string
			for _, tg := range ts {
				if tg.Health == "up" {
					up++
				}
				seen = append(seen, fmt.Sprintf("%s %s %s %s", tg.Labels["job"], tg.Labels["instance"], tg.Health, tg.LastError))
			}
			return len(ts) == 1+nKeepers && up == len(ts), strings.Join(seen, "; ")
		})
	})
	if t.Failed() {
		t.FailNow()
	}

	loadBegin := time.Now()
	calls := runLoad(t, tb, d)
	t.Logf("load: %d calls in %v", calls, time.Since(loadBegin).Round(time.Millisecond))

	// Prometheus has scraped Nexus after the load once it counts every
	// write of the superuser's load.
	waitQuery(t, prom, fmt.Sprintf(`sum(spike_requests_total{job="spike-nexus",route="secret.put",class="2xx"}) >= %d`, loadPaths+appPaths))

	rules := checkRules(t, prom)

	t.Run("dashboard queries return data", func(t *testing.T) {
		dash := readDashboard(t)
		qs := append(dash.queries(), dash.variableQueries(t)...)
		if len(qs) == 0 {
			t.Fatal("no dashboard queries")
		}
		returnData(t, prom, qs)
	})

	t.Run("alert expressions evaluate", func(t *testing.T) {
		for _, r := range rules {
			if _, err := prom.query(ctx, r.Query); err != nil {
				t.Errorf("alert %s: %v\n%s", r.Name, err, r.Query)
			}
		}
	})

	t.Run("alerts quiet on a healthy system", func(t *testing.T) {
		// All but the latency alert, which a slow machine may trip.
		var quiet []rule
		for _, r := range rules {
			if r.Name != "SpikeRequestLatencyHigh" {
				quiet = append(quiet, r)
			}
		}
		poll(t, "every alert expression empty", func() (bool, string) {
			var firing []string
			for _, r := range quiet {
				s, err := prom.query(ctx, r.Query)
				if err != nil {
					t.Fatalf("alert %s: %v", r.Name, err)
				}
				if len(s) > 0 {
					firing = append(firing, fmt.Sprintf("%s: %v", r.Name, s))
				}
			}
			return len(firing) == 0, strings.Join(firing, "; ")
		})
	})
	if t.Failed() {
		t.FailNow()
	}

	below, at := ruleNamed(t, rules, keeperAlert), ruleNamed(t, rules, keeperWarning)
	t.Run("keepers at threshold", func(t *testing.T) {
		down := d.All()[threshold:] // leaves threshold keepers
		d.StopKeepers(t, down...)
		waitQuery(t, prom, at.Query)
		if s, err := prom.query(ctx, below.Query); err != nil || len(s) > 0 {
			t.Errorf("%s with %d of %d keepers up: %v %v, want nothing", keeperAlert, threshold, nKeepers, s, err)
		}
	})
	t.Run("keepers below threshold", func(t *testing.T) {
		down := d.All()[threshold-1:] // leaves threshold-1 keepers
		for _, n := range down {
			if p := d.Keeper(n); !p.Exited() {
				d.StopKeepers(t, n)
			}
		}
		d.RestartNexus(t)
		body := d.WaitSealed(t, "verified shards needed")
		t.Logf("keepers %v stopped, nexus restarted: /readyz %q", down, strings.TrimSpace(body))
		var got []sample
		took := poll(t, keeperAlert+" expression returns a series", func() (bool, string) {
			s, err := prom.query(ctx, below.Query)
			if err != nil {
				t.Fatalf("%s: %v", keeperAlert, err)
			}
			got = s
			return len(s) > 0, fmt.Sprint(s)
		})
		t.Logf("%s: %v, %v after nexus restarted", keeperAlert, got, took.Round(time.Millisecond))
		waitQuery(t, prom, ruleNamed(t, rules, "SpikeNexusSealed").Query)
	})
	t.Logf("after SPIRE: %v", time.Since(begin).Round(time.Millisecond))
}

// runLoad runs the pilot's load and then the app's, and returns how many
// calls they made.
func runLoad(t *testing.T, tb *system.Testbed, d *system.Deployment) int {
	t.Helper()
	total := 0
	for _, role := range []struct{ name, bin string }{{"pilot", tb.Path(pilotBin)}, {"app", tb.Path(appBin)}} {
		r := d.Run(t, "load-"+role.name, system.Cmd{Bin: role.bin, Env: append(system.BaseEnv(),
			tb.Cluster().Env(),
			"SPIKE_NEXUS_URL="+d.NexusURL(),
			"SPIKE_TRUST_ROOT="+system.TrustDomain,
			roleEnv+"="+role.name,
		)})
		if r.Code != 0 {
			t.Fatalf("load as %s:\n%s\n--- nexus log ---\n%s", role.name, r, system.Tail(d.NexusLog()))
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(r.Stdout), " calls"))
		if err != nil {
			t.Fatalf("load as %s: stdout %q, want \"N calls\"", role.name, r.Stdout)
		}
		total += n
	}
	return total
}

// checkRules waits until every alert of the rules file is loaded and has
// been evaluated without error, and returns them.
func checkRules(t *testing.T, prom *promServer) []rule {
	t.Helper()
	alerts, _ := readAlerts(t)
	var want []string
	for _, a := range alerts {
		want = append(want, a.name)
	}
	var rules []rule
	poll(t, "every alert rule loaded and evaluated", func() (bool, string) {
		var err error
		if rules, err = prom.rules(t.Context()); err != nil {
			return false, err.Error()
		}
		var got, pending []string
		for _, r := range rules {
			got = append(got, r.Name)
			if r.Health != "ok" {
				pending = append(pending, fmt.Sprintf("%s: %s %s", r.Name, r.Health, r.LastError))
			}
		}
		slices.Sort(got)
		sorted := slices.Sorted(slices.Values(want))
		return slices.Equal(got, sorted) && len(pending) == 0, fmt.Sprintf("rules %v, want %v; not ok: %v", got, sorted, pending)
	})
	for _, r := range rules {
		if r.Type != "alerting" || r.Annotations["summary"] == "" || r.Annotations["runbook"] == "" || r.Labels["severity"] == "" {
			t.Errorf("rule %s: type %s, labels %v, annotations %v: want an alert with a severity, a summary and a runbook", r.Name, r.Type, r.Labels, r.Annotations)
		}
	}
	return rules
}

// ruleNamed returns the rule called name.
func ruleNamed(t *testing.T, rules []rule, name string) rule {
	t.Helper()
	for _, r := range rules {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no rule %s loaded", name)
	return rule{}
}

// waitQuery waits until expr returns a series.
func waitQuery(t *testing.T, prom *promServer, expr string) {
	t.Helper()
	poll(t, expr, func() (bool, string) {
		s, err := prom.query(t.Context(), expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return len(s) > 0, fmt.Sprint(s)
	})
}

// returnData queries every q, with the template variables made concrete,
// until each has returned a series; an expression Prometheus refuses
// fails at once, one that returns nothing within dataWait at the end.
func returnData(t *testing.T, prom *promServer, qs []query) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), dataWait)
	defer cancel()
	pending := map[int]query{}
	for i, q := range qs {
		pending[i] = q
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for len(pending) > 0 {
		for i, q := range pending {
			s, err := prom.query(ctx, concrete(t, q))
			switch {
			case ctx.Err() != nil:
			case err != nil:
				t.Errorf("%s: %v\n%s", q.where, err, q.expr)
				delete(pending, i)
			case len(s) > 0:
				checkLegend(t, q, s)
				delete(pending, i)
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for _, q := range pending {
				t.Errorf("%s: no data within %v\n%s", q.where, dataWait, concrete(t, q))
			}
			return
		case <-tick.C:
		}
	}
	t.Logf("%d dashboard queries return data", len(qs))
}

// legendLabel finds the labels a legend format names: {{route}}.
var legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)

// checkLegend fails when a panel's legend names a label its query's
// series do not carry: the panel would draw, but every line would be
// unnamed (grouping by a label that does not exist still returns data).
func checkLegend(t *testing.T, q query, series []sample) {
	t.Helper()
	for _, m := range legendLabel.FindAllStringSubmatch(q.legend, -1) {
		for _, s := range series {
			if s.Metric[m[1]] == "" {
				t.Errorf("%s: legend %q names label %s, missing from %v", q.where, q.legend, m[1], s.Metric)
				break
			}
		}
	}
}
