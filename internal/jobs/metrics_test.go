package jobs

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRunCountsResults(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	ctx, cancel := context.WithCancel(context.Background())
	results := []error{nil, errors.New("keeper down"), nil, nil, errors.New("again")}
	n := 0
	m.Run(ctx, "probe", time.Millisecond, func(context.Context) error {
		err := results[n]
		n++
		if n == len(results) {
			cancel() // the last run ends with ctx: not counted
		}
		return err
	})
	for _, tc := range []struct {
		result string
		want   float64
	}{
		{"ok", 3},
		{"error", 1},
	} {
		if got := testutil.ToFloat64(m.runs.WithLabelValues("probe", tc.result)); got != tc.want {
			t.Errorf("runs{result=%q} = %v, want %v", tc.result, got, tc.want)
		}
	}
	if got := testutil.ToFloat64(m.success.WithLabelValues("probe")); got < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("last success %v is not a recent Unix time", got)
	}
	if got := testutil.CollectAndCount(m.duration); got != 1 {
		t.Errorf("%d duration series, want 1", got)
	}
}

func TestNilMetricsStillRuns(t *testing.T) {
	t.Parallel()
	var m *Metrics
	ran := false
	if err := m.Once(context.Background(), "x", func(context.Context) error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("Once on nil metrics: ran %v, err %v", ran, err)
	}
}
