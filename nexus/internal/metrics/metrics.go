// Package metrics holds Nexus's own metrics: authorisation, cipher, the
// command loop, the event log and the projection (as their Observer),
// shard distribution. One Metrics is shared by the service and custody.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/jobs"
	"github.com/spikeledger/spike/internal/telemetry"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/authz"
)

// Metrics are Nexus's own: authorisation, cipher, the command loop, the
// event log and the projection (as their Observer), custody. Everything
// a scrape reads is a counter, a gauge kept up to date, or a cheap read
// of custody's fields and the log's counters: a scrape never waits on
// the command loop or queries the projection.
type Metrics struct {
	reg       prometheus.Registerer
	Transport *transport.Metrics
	Jobs      *jobs.Metrics

	authz          *prometheus.CounterVec
	policies       prometheus.Gauge
	policyCompiled prometheus.Gauge
	cipher         *prometheus.CounterVec

	Batch   prometheus.Histogram
	Command prometheus.Histogram

	commitEvents prometheus.Histogram
	sync         prometheus.Histogram
	appendWait   prometheus.Histogram
	appended     *prometheus.CounterVec
	appendErrors prometheus.Counter

	apply   prometheus.Histogram
	query   *prometheus.HistogramVec
	rebuild prometheus.Histogram

	distributions *prometheus.CounterVec
	distributedAt prometheus.Gauge

	Followers prometheus.Gauge
}

func New(reg prometheus.Registerer) *Metrics {
	reg = telemetry.Registerer(reg)
	ns := telemetry.Namespace
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: name, Help: help}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help})
	}
	histogram := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: name, Help: help, Buckets: buckets})
	}
	lat, size := telemetry.LatencyBuckets, telemetry.SizeBuckets
	m := &Metrics{
		reg:       reg,
		Transport: transport.NewMetrics(reg),
		Jobs:      jobs.NewMetrics(reg),
		authz: counter("nexus_authz_decisions_total",
			"Authorisation decisions by result (allowed, denied) and what decided them (policy, role).", "result", "kind"),
		policies:       gauge("nexus_policies", "Policies in force."),
		policyCompiled: gauge("nexus_policy_compile_timestamp_seconds", "When the policy set was last compiled, in Unix seconds."),
		cipher: counter("nexus_cipher_operations_total",
			"Cipher operations by mode (json, stream), direction (encrypt, decrypt) and result (ok, error).", "mode", "direction", "result"),
		Batch:        histogram("nexus_command_batch_size", "Commands the command loop took in one step.", size),
		Command:      histogram("nexus_command_duration_seconds", "From a command's enqueue to its answer, its events durable.", lat),
		commitEvents: histogram("eventlog_events_per_commit", "Events made durable by one group commit.", size),
		sync:         histogram("eventlog_fsync_duration_seconds", "Making one group commit durable: the journal's write and fdatasync, or a bbolt commit.", lat),
		appendWait:   histogram("eventlog_append_duration_seconds", "From an append's submission to its events being durable.", lat),
		appended:     counter("eventlog_events_appended_total", "Events appended since start, by event type.", "type"),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "eventlog_append_errors_total",
			Help: "Group commits that failed; after a failed sync the log refuses writes until restarted."}),
		apply: histogram("projection_apply_duration_seconds", "Applying one batch of events to the projection.", lat),
		query: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Name: "projection_query_duration_seconds",
			Help: "Projection reads, by query.", Buckets: lat}, []string{"query"}),
		rebuild: histogram("projection_rebuild_duration_seconds", "Full rebuilds of the projection from the log.",
			prometheus.ExponentialBuckets(0.01, 2, 16)),
		distributions: counter("nexus_shard_distributions_total",
			"Shard distribution rounds by result: error when a keeper did not take its shard.", "result"),
		distributedAt: gauge("nexus_shard_distribution_timestamp_seconds", "When a shard distribution round last reached every keeper, in Unix seconds."),
		Followers:     gauge("nexus_audit_followers", "Audit tails following the log now."),
	}
	for _, r := range []string{"allowed", "denied"} {
		for _, k := range []string{"policy", "role"} {
			m.authz.WithLabelValues(r, k)
		}
	}
	for _, r := range []string{"ok", "error"} {
		m.distributions.WithLabelValues(r)
	}
	reg.MustRegister(m.authz, m.policies, m.policyCompiled, m.cipher, m.Batch, m.Command,
		m.commitEvents, m.sync, m.appendWait, m.appended, m.appendErrors,
		m.apply, m.query, m.rebuild, m.distributions, m.distributedAt, m.Followers)
	return m
}

// Committed, Appended and Failed make Metrics the event log's Observer.
func (m *Metrics) Committed(events int, sync time.Duration) {
	m.commitEvents.Observe(float64(events))
	m.sync.Observe(sync.Seconds())
}

func (m *Metrics) Appended(typ string, wait time.Duration) {
	m.appended.WithLabelValues(typ).Inc()
	m.appendWait.Observe(wait.Seconds())
}

func (m *Metrics) Failed() { m.appendErrors.Inc() }

// Applied, Queried and Rebuilt make Metrics the projection's Observer.
func (m *Metrics) Applied(events int, took time.Duration) { m.apply.Observe(took.Seconds()) }

func (m *Metrics) Queried(query string, took time.Duration) {
	m.query.WithLabelValues(query).Observe(took.Seconds())
}

func (m *Metrics) Rebuilt(events uint64, took time.Duration) { m.rebuild.Observe(took.Seconds()) }

func (m *Metrics) Decided(d authz.Decision, holdsRole bool) {
	switch {
	case d == authz.ByRole:
		m.authz.WithLabelValues("allowed", "role").Inc()
	case d == authz.ByPolicy:
		m.authz.WithLabelValues("allowed", "policy").Inc()
	case holdsRole:
		m.authz.WithLabelValues("denied", "role").Inc()
	default:
		m.authz.WithLabelValues("denied", "policy").Inc()
	}
}

func (m *Metrics) Compiled(policies int) {
	m.policies.Set(float64(policies))
	m.policyCompiled.SetToCurrentTime()
}

func (m *Metrics) Ciphered(stream bool, op api.Op, ok bool) {
	mode, dir, result := "json", "encrypt", "ok"
	if stream {
		mode = "stream"
	}
	if op == api.OpCipherDecrypt {
		dir = "decrypt"
	}
	if !ok {
		result = "error"
	}
	m.cipher.WithLabelValues(mode, dir, result).Inc()
}

func (m *Metrics) Distributed(everyKeeper bool) {
	if everyKeeper {
		m.distributions.WithLabelValues("ok").Inc()
		m.distributedAt.SetToCurrentTime()
		return
	}
	m.distributions.WithLabelValues("error").Inc()
}

// MustRegister registers collectors (the gauges read at scrape time) with
// the registry m counts into.
func (m *Metrics) MustRegister(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }
