package telemetry

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every spike metric.
const Namespace = "spike"

// NewRegistry returns a registry holding the Go runtime and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves reg's metrics in the Prometheus exposition formats. A
// scrape only reads counters and gauges the servers keep up to date; it
// never waits on a server's command loop.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
}

// Registerer returns reg, or a registry that is thrown away when reg is
// nil, so a component built without metrics (a unit test, a library
// user) counts into nothing instead of checking for nil everywhere.
func Registerer(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return prometheus.NewRegistry()
	}
	return reg
}

// LatencyBuckets are the upper bounds, in seconds, of every latency
// histogram: 50 µs to about 6.5 s, doubling. An fsync on a fast disk, an
// audited read and a slow keeper all land in a bucket of their own.
var LatencyBuckets = prometheus.ExponentialBuckets(50e-6, 2, 18)

// SizeBuckets are the upper bounds of histograms that count things per
// step (events per commit, commands per batch): 1 to 4096, doubling.
var SizeBuckets = prometheus.ExponentialBuckets(1, 2, 13)

// Class is the outcome class of an HTTP status: "2xx", "4xx", "5xx".
func Class(status int) string {
	switch {
	case status < 200 || status > 599:
		return "other"
	default:
		return strconv.Itoa(status/100) + "xx"
	}
}

// Code is status as a label value. Only real HTTP codes pass; anything
// else is "other", so a broken handler cannot mint series.
func Code(status int) string {
	if status < 100 || status > 599 {
		return "other"
	}
	return strconv.Itoa(status)
}

// Bool is a gauge value for a condition.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
