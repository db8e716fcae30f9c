package transport

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// metricValue sums the samples of family name whose labels include
// labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	found := false
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if !includes(got, labels) {
				continue
			}
			found = true
			sum += sampleValue(m)
		}
	}
	return sum, found
}

func includes(got, want map[string]string) bool {
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// waitMetric waits until the metric reaches at least min: handshake
// failures are counted by the server after the client has given up.
func waitMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, min float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := metricValue(t, reg, name, labels)
		if v >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want at least %v", name, labels, v, min)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRequestMetrics(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	ts := startServer(t, p, tlsconfig.AuthorizeAny())
	c := client(t, p.source(appID), tlsconfig.AuthorizeID(nexusID))
	ctx := context.Background()
	calls := []struct {
		path, action string
	}{
		{"/v1/echo", ""},
		{"/v1/echo", ""},
		{"/v1/nowhere", ""},            // no route: 400, labelled unknown
		{"/v1/echo", "no-such-action"}, // no route either
		{"/v1/echo", "pilot"},          // refused by Allow: 401
		{"/v1/panic", ""},              // 500
	}
	for _, call := range calls {
		c.Do(ctx, Call{BaseURL: ts.url, Path: call.path, Action: call.action, Request: struct{}{}})
	}
	for _, tc := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"route": "echo", "class": "2xx", "code": "200"}, 2},
		{map[string]string{"route": "unknown", "class": "4xx", "code": "400"}, 2},
		{map[string]string{"route": "unknown", "class": "4xx", "code": "401"}, 1},
		{map[string]string{"route": "unknown", "class": "5xx", "code": "500"}, 1},
	} {
		if got, _ := metricValue(t, ts.reg, "spike_requests_total", tc.labels); got != tc.want {
			t.Errorf("spike_requests_total%v = %v, want %v", tc.labels, got, tc.want)
		}
	}
	if got, _ := metricValue(t, ts.reg, "spike_request_duration_seconds", nil); got != float64(len(calls)) {
		t.Errorf("request latencies observed %v times, want %d", got, len(calls))
	}
	if got, _ := metricValue(t, ts.reg, "spike_open_connections", nil); got < 1 {
		t.Errorf("spike_open_connections = %v with a keep-alive client connected", got)
	}
}
