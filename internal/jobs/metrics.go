package jobs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/internal/telemetry"
)

// Metrics counts job runs by job name and result. The label is "name",
// not "job": Prometheus keeps job for the scrape job. Names are fixed by the
// code that runs the jobs, so the series are bounded.
type Metrics struct {
	runs     *prometheus.CounterVec
	success  *prometheus.GaugeVec
	duration *prometheus.HistogramVec
}

// NewMetrics registers job metrics with reg (nil: counted into nothing).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "job_runs_total",
			Help: "Periodic job runs, by job name and result (ok, error)."}, []string{"name", "result"}),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Name: "job_last_success_timestamp_seconds",
			Help: "When the job last ran without error, in Unix seconds."}, []string{"name"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: telemetry.Namespace, Name: "job_duration_seconds",
			Help: "How long one run of the job took.", Buckets: telemetry.LatencyBuckets}, []string{"name"}),
	}
	telemetry.Registerer(reg).MustRegister(m.runs, m.success, m.duration)
	return m
}

// Run is Every for a named job whose runs can fail: each run is timed
// and counted under name. m may be nil (nothing is counted). A run cut
// short because ctx ended is not counted: shutting down is not a failure.
func (m *Metrics) Run(ctx context.Context, name string, interval time.Duration, run func(context.Context) error) {
	if m != nil {
		// Every job that is scheduled shows, at zero, before its first
		// run: a job that never succeeds is then visible as such.
		m.runs.WithLabelValues(name, "ok")
		m.runs.WithLabelValues(name, "error")
	}
	Every(ctx, interval, func(ctx context.Context) {
		m.Once(ctx, name, run)
	})
}

// Once runs run one time, counted under name, for work that runs both on
// a schedule and on its own (a distribution right after unseal).
func (m *Metrics) Once(ctx context.Context, name string, run func(context.Context) error) error {
	start := time.Now()
	err := run(ctx)
	if m == nil || ctx.Err() != nil {
		return err
	}
	m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	if err != nil {
		m.runs.WithLabelValues(name, "error").Inc()
		return err
	}
	m.runs.WithLabelValues(name, "ok").Inc()
	m.success.WithLabelValues(name).Set(float64(time.Now().UnixNano()) / 1e9)
	return nil
}
