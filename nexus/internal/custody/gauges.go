package custody

import (
	"context"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/telemetry"
	"github.com/spikeledger/spike/nexus/internal/metrics"
)

// Watch registers with m the gauges read from custody, the log and the
// service at scrape time.
func (c *Custody) Watch(m *metrics.Metrics) {
	log := c.log
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
	m.MustRegister(stateVec...)
	m.MustRegister(
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
				return float64(svc.QueueDepth())
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
			if svc := c.service.Load(); svc != nil {
				return float64(svc.Lag())
			}
			return 0
		}),
	)
}

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
