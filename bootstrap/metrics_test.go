package bootstrap

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/internal/telemetry"
)

// gaugeValue returns the value of the unlabelled gauge name in reg.
func gaugeValue(t *testing.T, reg prometheus.Gatherer, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestRunCountsKeepersReached: keepers_reached is the number of keepers
// that took their shard, whether or not the run as a whole succeeded.
func TestRunCountsKeepersReached(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		keepers int
		down    int // position of a keeper that never answers; 0 for none
		want    float64
	}{
		{"all three", 3, 0, 3},
		{"one of three down", 3, 2, 2},
		{"one of one", 1, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			keepers := w.keepers(tc.keepers)
			nexus := w.nexus(keepers, tc.keepers/2+1, nexusOpts{})
			cfg := testConfig(keepers, nexus)
			if tc.down > 0 {
				cfg.Keepers[tc.down-1], _ = deadKeeper(t)
			}
			reg := prometheus.NewRegistry()
			cfg.Metrics = NewMetrics(reg)
			cfg.Metrics.Start()
			if got := gaugeValue(t, reg, "spike_bootstrap_running"); got != 1 {
				t.Fatalf("running = %v after Start, want 1", got)
			}
			_, err := w.run(cfg)
			if (err != nil) != (tc.down > 0) {
				t.Fatalf("run: %v", err)
			}
			if got := gaugeValue(t, reg, "spike_bootstrap_keepers_reached"); got != tc.want {
				t.Errorf("keepers_reached = %v, want %v", got, tc.want)
			}
			cfg.Metrics.Finish(err == nil, 1500*time.Millisecond, time.Unix(1700000000, 0))
			for name, want := range map[string]float64{
				"spike_bootstrap_running":                    0,
				"spike_bootstrap_last_run_success":           telemetry.Bool(tc.down == 0),
				"spike_bootstrap_last_run_duration_seconds":  1.5,
				"spike_bootstrap_last_run_timestamp_seconds": 1700000000,
			} {
				if got := gaugeValue(t, reg, name); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if logs := w.logs.String(); tc.down > 0 && !strings.Contains(logs, `"msg":"shard distribution failed"`) ||
				tc.down == 0 && !strings.Contains(logs, `"msg":"shard distribution done`) {
				t.Errorf("no log line says how the shard distribution went:\n%s", logs)
			}
		})
	}
}

// TestServeMetrics: /metrics answers while served and not after stop.
func TestServeMetrics(t *testing.T) {
	t.Parallel()
	reg := telemetry.NewRegistry()
	m := NewMetrics(reg)
	m.Start()
	ln := listen(t)
	stop := ServeMetrics(context.Background(), ln, reg, slog.New(slog.DiscardHandler))
	url := "http://" + ln.Addr().String() + "/metrics"
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"spike_bootstrap_running 1\n", "# HELP spike_bootstrap_keepers_reached ", "go_goroutines"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, b)
		}
	}
	stop()
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("/metrics still answers after stop")
	}
}
