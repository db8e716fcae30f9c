package keeper

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/internal/telemetry"
)

// The result label values of the keeper's counters (docs/metrics.md,
// "Keeper"): a fixed set, whatever the callers send.
const (
	resultOK      = "ok"      // stored, or served
	resultRefused = "refused" // the caller may not use the route
	resultInvalid = "invalid" // the body is not a valid request (or shard)
	resultNone    = "none"    // asked for the shard before one was held
	resultError   = "error"   // the keeper could not do it: stopping
)

// metrics are the keeper's own series, beside the API server's.
type metrics struct {
	contributions *prometheus.CounterVec
	requests      *prometheus.CounterVec
	holds         prometheus.Gauge
	epoch         prometheus.Gauge
	updated       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		contributions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Subsystem: "keeper", Name: "shard_contributions_total",
			Help: "Shards sent to this keeper, by result: ok (stored), refused (caller may not contribute), invalid (not a valid shard), error (keeper stopping)."},
			[]string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Subsystem: "keeper", Name: "shard_requests_total",
			Help: "Requests for this keeper's shard, by result: ok (served), refused (caller may not read it), none (no shard held), invalid (malformed request), error."},
			[]string{"result"}),
		holds: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Subsystem: "keeper", Name: "holds_shard",
			Help: "1 while the keeper holds a shard."}),
		epoch: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Subsystem: "keeper", Name: "shard_epoch",
			Help: "Epoch of the shard the keeper holds (0: none, or an unnumbered shard)."}),
		updated: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Subsystem: "keeper", Name: "shard_update_timestamp_seconds",
			Help: "When the keeper's shard last changed, in seconds since the Unix epoch (0: never)."}),
	}
	// Every series from the start, at 0, so that rate() and alerts see
	// the first refusal as an increase.
	for _, r := range []string{resultOK, resultRefused, resultInvalid, resultError} {
		m.contributions.WithLabelValues(r)
	}
	for _, r := range []string{resultOK, resultRefused, resultNone, resultInvalid, resultError} {
		m.requests.WithLabelValues(r)
	}
	telemetry.Registerer(reg).MustRegister(m.contributions, m.requests, m.holds, m.epoch, m.updated)
	return m
}

// stored records a new shard of epoch at now.
func (m *metrics) stored(epoch uint64, now time.Time) {
	m.contributions.WithLabelValues(resultOK).Inc()
	m.holds.Set(1)
	m.epoch.Set(float64(epoch))
	m.updated.Set(float64(now.UnixNano()) / 1e9)
}

// dropped records that the shard is gone (the keeper stopped).
func (m *metrics) dropped(now time.Time) {
	m.holds.Set(0)
	m.epoch.Set(0)
	m.updated.Set(float64(now.UnixNano()) / 1e9)
}
