package transport

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/internal/telemetry"
)

// Metrics counts what a Server sees: requests by route and outcome, their
// latency, open connections and refused handshakes. Route labels are the
// routes' names, or "unknown" for a request that matched none, so callers
// cannot mint series.
type Metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	open        prometheus.Gauge
	handshakes  prometheus.Counter
	peerRefused *prometheus.CounterVec
	capWaits    prometheus.Counter
}

// NewMetrics registers a server's metrics with reg (nil: counted into
// nothing).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "requests_total",
			Help: "API requests answered, by route, status class and status code."}, []string{"route", "class", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: telemetry.Namespace, Name: "request_duration_seconds",
			Help: "Time from a request's arrival to its answer, by route.", Buckets: telemetry.LatencyBuckets}, []string{"route"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Name: "open_connections",
			Help: "Client connections open now."}),
		handshakes: prometheus.NewCounter(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "tls_handshake_failures_total",
			Help: "TLS handshakes that failed: no or bad client certificate, wrong protocol."}),
		peerRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "peer_refusals_total",
			Help: "Client certificates refused at the handshake: untrusted (not verified by the trust bundle) or unauthorized (an ID this server does not admit)."},
			[]string{"reason"}),
		capWaits: prometheus.NewCounter(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "connection_cap_waits_total",
			Help: "Times the server was at its connection cap and a new connection had to wait for one to close."}),
	}
	for _, r := range []string{"untrusted", "unauthorized"} {
		m.peerRefused.WithLabelValues(r)
	}
	telemetry.Registerer(reg).MustRegister(m.requests, m.latency, m.open, m.handshakes, m.peerRefused, m.capWaits)
	return m
}

// unknownRoute labels requests that matched no route.
const unknownRoute = "unknown"

func (m *Metrics) observe(route string, status int, took time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = unknownRoute
	}
	m.requests.WithLabelValues(route, telemetry.Class(status), telemetry.Code(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// connState keeps the open-connections gauge.
func (m *Metrics) connState(_ net.Conn, state http.ConnState) {
	if m == nil {
		return
	}
	switch state {
	case http.StateNew:
		m.open.Inc()
	case http.StateClosed, http.StateHijacked:
		m.open.Dec()
	}
}

// capped counts a wait at the connection cap.
func (m *Metrics) capped() {
	if m == nil {
		return
	}
	m.capWaits.Inc()
}

func (m *Metrics) peerRefusal(err error) {
	if m == nil || err == nil {
		return
	}
	reason := "untrusted"
	if errors.Is(err, errUnauthorized) {
		reason = "unauthorized"
	}
	m.peerRefused.WithLabelValues(reason).Inc()
}

// errorLog is http.Server's error log: it counts failed handshakes,
// which net/http reports only there, and passes every line on to the
// server's logger.
type errorLog struct {
	m   *Metrics
	log *slog.Logger
}

var handshakeError = []byte("TLS handshake error")

func (e errorLog) Write(p []byte) (int, error) {
	if e.m != nil && bytes.Contains(p, handshakeError) {
		e.m.handshakes.Inc()
	}
	e.log.Warn(string(bytes.TrimSpace(p)), "component", "http")
	return len(p), nil
}
