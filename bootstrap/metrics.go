package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/internal/telemetry"
)

// Metrics are one process's bootstrap gauges (docs/metrics.md,
// "Bootstrap"): whether a run is going on, how the last one ended and how
// many keepers took their shard. They hold no key material: gauges of
// counts, times and a yes/no.
type Metrics struct {
	running, success, duration, timestamp, reached prometheus.Gauge
}

// NewMetrics registers the bootstrap gauges with reg (nil: counted into
// nothing).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Subsystem: "bootstrap", Name: name, Help: help})
	}
	m := &Metrics{
		running:   g("running", "1 while a bootstrap run is in progress."),
		success:   g("last_run_success", "1 if the last bootstrap run succeeded (bootstrapped, or nothing to do), 0 if it failed."),
		duration:  g("last_run_duration_seconds", "How long the last bootstrap run took."),
		timestamp: g("last_run_timestamp_seconds", "When the last bootstrap run ended, in seconds since the Unix epoch."),
		reached:   g("keepers_reached", "Keepers that took their shard in the last (or the current) run."),
	}
	telemetry.Registerer(reg).MustRegister(m)
	return m
}

// Start marks a run started: running, and no keeper reached yet. The
// process calls it and Finish around everything a run does, getting an
// SVID included; Run counts the keepers reached in between.
func (m *Metrics) Start() {
	if m == nil {
		return
	}
	m.running.Set(1)
	m.reached.Set(0)
}

// keeperReached counts a keeper that took its shard.
func (m *Metrics) keeperReached() {
	if m != nil {
		m.reached.Inc()
	}
}

// Finish marks the run ended at now after took, successfully or not.
func (m *Metrics) Finish(ok bool, took time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.running.Set(0)
	m.success.Set(telemetry.Bool(ok))
	m.duration.Set(took.Seconds())
	m.timestamp.Set(float64(now.UnixNano()) / 1e9)
}

// WriteFile writes the bootstrap gauges to path in the Prometheus text
// format, which node_exporter's textfile collector reads. Only these
// gauges: the Go and process collectors of the served registry are left
// out, since node_exporter exports its own under the same names. The
// file is replaced atomically (a temporary file in the same directory,
// then a rename), so a collector never reads half of it. It holds
// counts, times and a yes/no only, so it is world-readable (0644), as
// the collector expects.
func (m *Metrics) WriteFile(path string) error {
	own := prometheus.NewRegistry()
	if err := own.Register(m); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	if err := prometheus.WriteToTextfile(path, own); err != nil {
		return fmt.Errorf("metrics file %s: %w", path, err)
	}
	return nil
}

// Describe and Collect make the gauges one collector, for WriteFile.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range m.gauges() {
		g.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, g := range m.gauges() {
		g.Collect(ch)
	}
}

func (m *Metrics) gauges() []prometheus.Gauge {
	return []prometheus.Gauge{m.running, m.success, m.duration, m.timestamp, m.reached}
}

// ServeMetrics serves reg at GET /metrics on ln until ctx ends or the
// returned stop is called; stop waits for the server to finish. Errors
// after the start are logged, not returned: metrics must not fail a
// bootstrap.
func ServeMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, logger *slog.Logger) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", telemetry.Handler(reg))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("metrics listener failed", "addr", ln.Addr().String(), "err", err)
		}
	}()
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		<-ctx.Done()
		shutCtx, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelShut()
		srv.Shutdown(shutCtx)
	}()
	return func() {
		cancel()
		<-done
	}
}
