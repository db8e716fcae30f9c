package service

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/projections"
)

// lineCounter counts the lines a tail writes and ends it once it has
// written want of them.
type lineCounter struct {
	lines, want int
	stop        context.CancelFunc
}

func (c *lineCounter) Write(p []byte) (int, error) {
	if c.lines += bytes.Count(p, []byte{'\n'}); c.lines >= c.want {
		c.stop()
	}
	return len(p), nil
}

// BenchmarkAuditTailCatchUp measures an audit tail catching up from the
// log's first event, with no filter, down the whole path a tail takes in
// Nexus but TLS: each event read through its own subscription, decrypted,
// decoded and turned into its row by projections.Matcher, and written as
// a JSON line. The log holds SPIKE_BENCH_EVENTS events (default 200,000),
// mostly reads as a busy deployment's are; one op is one full catch-up.
//
//	SPIKE_BENCH_EVENTS=1000000 go test -run '^$' -bench AuditTailCatchUp -benchtime 3x ./nexus
func BenchmarkAuditTailCatchUp(b *testing.B) {
	n := 200_000
	if s := os.Getenv("SPIKE_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	s := newTestService(b, 0)
	ctx := context.Background()
	r := &transport.Request{ID: "01JBENCHREQUEST00000000000", Peer: testWorkload}
	batch := make([]eventlog.Event, 0, 1000)
	for i := range n {
		path := fmt.Sprintf("apps/app-%d/db", i%5000)
		var p events.Payload = &events.SecretRead{Path: path, Version: 1 + i%10, Outcome: events.OutcomeOK}
		if i%10 == 0 {
			p = &events.AccessDenied{Path: path, Action: "read", Reason: "no policy"}
		}
		batch = append(batch, event(r, p))
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := s.log.Append(ctx, batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	total := int(s.log.Size())
	b.ResetTimer()
	for b.Loop() {
		ctx, cancel := context.WithCancel(ctx)
		// A heartbeat, then one line per event.
		w := &lineCounter{want: 1 + total, stop: cancel}
		s.follow(ctx, w, 1, projections.HistoryQuery{})
		cancel()
		if w.lines < w.want {
			b.Fatalf("wrote %d lines, want %d", w.lines, w.want)
		}
	}
	b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
