package keeper_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/transport"
)

// series returns every sample of the families in g whose name starts
// with prefix, as "name{label=value,...}" → value.
func series(t *testing.T, g prometheus.Gatherer, prefix string) map[string]float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if !strings.HasPrefix(f.GetName(), prefix) {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(labels)
			key := f.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsCountOutcomes drives every outcome of both routes, the
// refused ones included, and checks each counter and gauge after each
// step.
func TestMetricsCountOutcomes(t *testing.T) {
	t.Parallel()
	e := start(t)
	nexus, bootstrap := e.client(nexusID), e.client(bootstrapID)
	contrib := func(r string) string { return "spike_keeper_shard_contributions_total{result=" + r + "}" }
	request := func(r string) string { return "spike_keeper_shard_requests_total{result=" + r + "}" }
	want := map[string]float64{
		contrib("ok"): 0, contrib("refused"): 0, contrib("invalid"): 0, contrib("error"): 0,
		request("ok"): 0, request("refused"): 0, request("none"): 0, request("invalid"): 0, request("error"): 0,
		"spike_keeper_holds_shard": 0, "spike_keeper_shard_epoch": 0, "spike_keeper_shard_update_timestamp_seconds": 0,
	}
	check := func(step string) {
		t.Helper()
		got := series(t, e.k.Metrics(), "spike_keeper_")
		for k, v := range want {
			if k == "spike_keeper_shard_update_timestamp_seconds" && v != 0 {
				if got[k] <= 0 {
					t.Errorf("%s: %s = %v, want a time", step, k, got[k])
				}
				continue
			}
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %s = %v (present %v), want %v", step, k, g, ok, v)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: %d keeper series, want %d: %v", step, len(got), len(want), got)
		}
	}
	check("at start")

	for _, step := range []struct {
		name string
		do   func()
		adds map[string]float64 // added to want
		sets map[string]float64 // set in want
	}{
		{"shard asked for before any is held", func() { e.shard(nexus) }, map[string]float64{request("none"): 1}, nil},
		{"nexus contributes", func() {
			sh := randomShard(t)
			if err := e.client(nexusID).Do(t.Context(), transportCall(e, api.ShardContributeRequest{Shard: &sh, Epoch: 7})); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{contrib("ok"): 1}, map[string]float64{"spike_keeper_holds_shard": 1, "spike_keeper_shard_epoch": 7, "spike_keeper_shard_update_timestamp_seconds": 1}},
		{"bootstrap contributes", func() {
			if err := e.contribute(bootstrap, randomShard(t)); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{contrib("ok"): 1}, map[string]float64{"spike_keeper_shard_epoch": 0}},
		{"all-zero shard", func() { e.raw(nexusID, api.PathKeeperContribute, `{"shard":[`+strings.Repeat("0,", 31)+`0]}`) },
			map[string]float64{contrib("invalid"): 1}, nil},
		{"not JSON", func() { e.raw(bootstrapID, api.PathKeeperContribute, `shard`) }, map[string]float64{contrib("invalid"): 1}, nil},
		{"nexus reads the shard", func() {
			if _, err := e.shard(nexus); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{request("ok"): 1}, nil},
		{"bootstrap may not read it", func() { e.shard(bootstrap) }, map[string]float64{request("refused"): 1}, nil},
		{"malformed request", func() { e.raw(nexusID, api.PathKeeperShard, `[]`) }, map[string]float64{request("invalid"): 1}, nil},
		// Refused at the handshake: no route is reached, so only the API
		// server's refusal counter moves.
		{"a workload is refused at the handshake", func() { e.contribute(e.client(workloadID), randomShard(t)) }, nil, nil},
	} {
		step.do()
		for k, v := range step.adds {
			want[k] += v
		}
		for k, v := range step.sets {
			want[k] = v
		}
		check(step.name)
	}

	server := series(t, e.k.Metrics(), "spike_")
	for k, v := range map[string]float64{
		"spike_requests_total{class=2xx,code=200,route=keeper.contribute}": 2,
		"spike_requests_total{class=4xx,code=400,route=keeper.contribute}": 2,
		"spike_requests_total{class=2xx,code=200,route=keeper.shard}":      1,
		"spike_requests_total{class=4xx,code=401,route=keeper.shard}":      1,
		"spike_requests_total{class=4xx,code=400,route=keeper.shard}":      2,
		"spike_peer_refusals_total{reason=unauthorized}":                   1,
		"spike_request_duration_seconds{route=keeper.contribute}":          4,
	} {
		if server[k] != v {
			t.Errorf("%s = %v, want %v", k, server[k], v)
		}
	}

	// The same numbers at GET /metrics on the operations listener.
	status, body := e.get("/metrics")
	for _, line := range []string{
		`spike_keeper_shard_contributions_total{result="ok"} 2`,
		`spike_keeper_shard_requests_total{result="refused"} 1`,
		"spike_keeper_holds_shard 1",
		"# HELP spike_keeper_shard_epoch ",
		"go_goroutines ",
		"process_open_fds ",
	} {
		if status != http.StatusOK || !strings.Contains(body, line) {
			t.Errorf("GET /metrics: %d, no %q", status, line)
		}
	}

	e.stop()
	if got := series(t, e.k.Metrics(), "spike_keeper_holds_shard")["spike_keeper_holds_shard"]; got != 0 {
		t.Errorf("holds_shard = %v after stop, want 0: the shard was zeroed", got)
	}
}

// TestMetricsSeriesBounded: whatever paths callers ask for, the number of
// series stays the same: unknown routes are one "unknown" label.
func TestMetricsSeriesBounded(t *testing.T) {
	t.Parallel()
	e := start(t)
	count := func() int { return len(series(t, e.k.Metrics(), "spike_")) }
	for i := range 5 {
		e.raw(nexusID, fmt.Sprintf("/v1/store/x%d", i), "{}")
	}
	before := count()
	for i := range 50 {
		e.raw(nexusID, fmt.Sprintf("/v1/store/y%d?action=z%d", i, i), "{}")
		e.raw(bootstrapID, fmt.Sprintf("/nowhere/%d", i), "{}")
	}
	if after := count(); after != before {
		t.Fatalf("100 requests to distinct paths grew the series from %d to %d", before, after)
	}
	if got := series(t, e.k.Metrics(), "spike_requests_total")["spike_requests_total{class=4xx,code=400,route=unknown}"]; got != 105 {
		t.Fatalf("unknown-route requests = %v, want 105", got)
	}
}

// transportCall contributes req.
func transportCall(e *env, req api.ShardContributeRequest) transport.Call {
	return transport.Call{BaseURL: e.url, Path: api.PathKeeperContribute, Request: req, Response: &api.ShardContributeResponse{}}
}
