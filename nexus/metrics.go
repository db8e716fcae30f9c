package nexus

import (
	"context"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/jobs"
	"github.com/spikeledger/spike/internal/telemetry"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/authz"
)

// metrics are Nexus's own: authorisation, cipher, the command loop, the
// event log and the projection (as their Observer), custody. Everything
// a scrape reads is a counter, a gauge kept up to date, or a cheap read
// of custody's fields and the log's counters: a scrape never waits on
// the command loop or queries the projection.
type metrics struct {
	reg       prometheus.Registerer
	transport *transport.Metrics
	jobs      *jobs.Metrics

	authz          *prometheus.CounterVec
	policies       prometheus.Gauge
	policyCompiled prometheus.Gauge
	cipher         *prometheus.CounterVec

	batch   prometheus.Histogram
	command prometheus.Histogram

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

	followers prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
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
	m := &metrics{
		reg:       reg,
		transport: transport.NewMetrics(reg),
		jobs:      jobs.NewMetrics(reg),
		authz: counter("nexus_authz_decisions_total",
			"Authorisation decisions by result (allowed, denied) and what decided them (policy, role).", "result", "kind"),
		policies:       gauge("nexus_policies", "Policies in force."),
		policyCompiled: gauge("nexus_policy_compile_timestamp_seconds", "When the policy set was last compiled, in Unix seconds."),
		cipher: counter("nexus_cipher_operations_total",
			"Cipher operations by mode (json, stream), direction (encrypt, decrypt) and result (ok, error).", "mode", "direction", "result"),
		batch:        histogram("nexus_command_batch_size", "Commands the command loop took in one step.", size),
		command:      histogram("nexus_command_duration_seconds", "From a command's enqueue to its answer, its events durable.", lat),
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
		followers:     gauge("nexus_audit_followers", "Audit tails following the log now."),
	}
	for _, r := range []string{"allowed", "denied"} {
		for _, k := range []string{"policy", "role"} {
			m.authz.WithLabelValues(r, k)
		}
	}
	for _, r := range []string{"ok", "error"} {
		m.distributions.WithLabelValues(r)
	}
	reg.MustRegister(m.authz, m.policies, m.policyCompiled, m.cipher, m.batch, m.command,
		m.commitEvents, m.sync, m.appendWait, m.appended, m.appendErrors,
		m.apply, m.query, m.rebuild, m.distributions, m.distributedAt, m.followers)
	return m
}

// Committed, Appended and Failed make metrics the event log's Observer.
func (m *metrics) Committed(events int, sync time.Duration) {
	m.commitEvents.Observe(float64(events))
	m.sync.Observe(sync.Seconds())
}

func (m *metrics) Appended(typ string, wait time.Duration) {
	m.appended.WithLabelValues(typ).Inc()
	m.appendWait.Observe(wait.Seconds())
}

func (m *metrics) Failed() { m.appendErrors.Inc() }

// Applied, Queried and Rebuilt make metrics the projection's Observer.
func (m *metrics) Applied(events int, took time.Duration) { m.apply.Observe(took.Seconds()) }

func (m *metrics) Queried(query string, took time.Duration) {
	m.query.WithLabelValues(query).Observe(took.Seconds())
}

func (m *metrics) Rebuilt(events uint64, took time.Duration) { m.rebuild.Observe(took.Seconds()) }

func (m *metrics) decided(d authz.Decision, holdsRole bool) {
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

func (m *metrics) compiled(policies int) {
	m.policies.Set(float64(policies))
	m.policyCompiled.SetToCurrentTime()
}

func (m *metrics) ciphered(stream bool, op api.Op, ok bool) {
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

func (m *metrics) distributed(everyKeeper bool) {
	if everyKeeper {
		m.distributions.WithLabelValues("ok").Inc()
		m.distributedAt.SetToCurrentTime()
		return
	}
	m.distributions.WithLabelValues("error").Inc()
}

// watch registers the gauges read from custody, the log and the service
// at scrape time.
func (m *metrics) watch(c *Custody, log *eventlog.Log, proj func() projectionLag) {
	ns := telemetry.Namespace
	gaugeFunc := func(name, help string, f func() float64) prometheus.GaugeFunc {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, f)
	}
	state := func(want string) func() float64 {
		return func() float64 { return telemetry.Bool(c.keyState() == want) }
	}
	stateVec := []prometheus.Collector{}
	for _, s := range []string{keySealed, keyRecovering, keyReady} {
		stateVec = append(stateVec, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: "nexus_root_key_state",
			Help: "1 for the state the root key is in (sealed, recovering, ready), 0 for the others.", ConstLabels: prometheus.Labels{"state": s}}, state(s)))
	}
	m.reg.MustRegister(stateVec...)
	m.reg.MustRegister(
		gaugeFunc("nexus_unseal_timestamp_seconds", "When the root key came back, in Unix seconds; 0 while sealed.", func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.key == nil {
				return 0
			}
			return float64(c.unsealedAt.UnixNano()) / 1e9
		}),
		gaugeFunc("nexus_keepers_configured", "Keepers in the configuration.", func() float64 { return float64(len(c.cfg.Keepers)) }),
		gaugeFunc("nexus_keepers_reachable", "Keepers that answered when last contacted.", func() float64 {
			_, n := c.keeperStatuses()
			return float64(n)
		}),
		gaugeFunc("nexus_keepers_threshold", "Shards needed to rebuild the root key.", func() float64 { return float64(c.currentParams().Threshold) }),
		gaugeFunc("nexus_command_queue_depth", "Commands waiting for the command loop.", func() float64 {
			if svc := c.service.Load(); svc != nil {
				return float64(len(svc.cmds))
			}
			return 0
		}),
		gaugeFunc("eventlog_events", "Events in the log.", func() float64 { return float64(log.Size()) }),
		gaugeFunc("eventlog_size_bytes", "Size of the log's file and its journal on disk.", func() float64 { return float64(fileSizes(log.Path(), log.Path()+".journal")) }),
		gaugeFunc("eventlog_checkpoint_timestamp_seconds", "When the newest signed checkpoint was made, in Unix seconds (0: none yet).", func() float64 {
			return checkpointTime(c.life, log)
		}),
		gaugeFunc("eventlog_checkpointed_events", "Events the newest signed checkpoint covers.", func() float64 { return float64(log.Stats().Checkpointed) }),
		gaugeFunc("projection_lag_events", "Events in the log not yet applied to the projection.", func() float64 {
			if p := proj(); p != nil {
				return float64(p.lag())
			}
			return 0
		}),
	)
}

// projectionLag is what the lag gauge needs of a service.
type projectionLag interface{ lag() uint64 }

func fileSizes(paths ...string) int64 {
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// checkpointTime is when the newest checkpoint was signed: by this
// process, or else the time of the event it ends at (a header read,
// which needs no key).
func checkpointTime(ctx context.Context, log *eventlog.Log) float64 {
	st := log.Stats()
	if !st.CheckpointTime.IsZero() {
		return float64(st.CheckpointTime.UnixNano()) / 1e9
	}
	if ctx == nil {
		ctx = context.Background()
	}
	cp, ok, err := log.LatestCheckpoint(ctx)
	if err != nil || !ok {
		return 0
	}
	rec, err := log.GetSealed(ctx, cp.Size)
	if err != nil {
		return 0
	}
	return float64(rec.Time.UnixNano()) / 1e9
}
