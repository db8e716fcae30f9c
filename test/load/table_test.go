package main

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// sampleTable is two targets side by side on one cell, and a cell only
// one of them ran.
func sampleTable() table {
	return table{ref: "spike", rows: []row{
		{mix: "get", c: 8, client: "ours", target: "dev", ops: 10000, elapsed: 2 * time.Second,
			p50: 840 * time.Microsecond, p99: 3 * time.Millisecond, serverCPU: time.Second, clientCPU: 500 * time.Millisecond},
		{mix: "get", c: 8, client: "ours", target: "spike", ops: 5000, elapsed: 2 * time.Second,
			p50: 1500 * time.Microsecond, p99: 12345 * time.Microsecond, serverCPU: 2 * time.Second, clientCPU: 250 * time.Millisecond},
		{mix: "90/10", c: 64, client: "sdk-new", target: "dev", ops: 1234567, errs: 3, elapsed: time.Second,
			p50: time.Millisecond, p99: 2 * time.Millisecond, serverCPU: -1, clientCPU: 0, firstErr: errors.New("boom")},
	}}
}

func TestTableText(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := sampleTable().write(&b, "text"); err != nil {
		t.Fatal(err)
	}
	want := `    mix   c   client  target      ops/s  ×ref      p50       p99  errors  server µs/op  ×ref CPU  client µs/op
    get   8     ours     dev      5,000  2.00  0.84 ms   3.00 ms       0           100      0.25            50
    get   8     ours   spike      2,500  1.00  1.50 ms  12.35 ms       0           400      1.00            50
  90/10  64  sdk-new     dev  1,234,567        1.00 ms   2.00 ms       3             -                       0

first error of 90/10 c=64 sdk-new dev (3 errors): boom
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTableMarkdown(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	tab := sampleTable()
	tab.rows = tab.rows[:2]
	if err := tab.write(&b, "md"); err != nil {
		t.Fatal(err)
	}
	want := `| mix | c | client | target | ops/s | ×ref | p50 | p99 | errors | server µs/op | ×ref CPU | client µs/op |
|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
| get | 8 | ours | dev | 5,000 | 2.00 | 0.84 ms | 3.00 ms | 0 | 100 | 0.25 | 50 |
| get | 8 | ours | spike | 2,500 | 1.00 | 1.50 ms | 12.35 ms | 0 | 400 | 1.00 | 50 |
`
	if got := b.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// Without -ref the ratio columns are empty.
func TestTableWithoutReference(t *testing.T) {
	t.Parallel()
	tab := sampleTable()
	tab.ref = ""
	for _, c := range tab.cells() {
		if c[5] != "" || c[10] != "" {
			t.Errorf("row %v has ratios without a reference", c)
		}
	}
	if err := tab.write(&strings.Builder{}, "csv"); err == nil {
		t.Error("format csv accepted")
	}
}

func TestFormatters(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{fmtThousands(0), "0"},
		{fmtThousands(999.4), "999"},
		{fmtThousands(999.5), "1,000"},
		{fmtThousands(1234567), "1,234,567"},
		{fmtRatio(3, 2), "1.50"},
		{fmtRatio(1, 0), "-"},
		{fmtRatio(math.NaN(), 1), "-"},
		{fmtMicros(math.NaN()), "-"},
		{fmtMicros(12345.6), "12,346"},
		{fmtLatency(0), "-"},
		{fmtLatency(1234567 * time.Nanosecond), "1.23 ms"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRowPerOp(t *testing.T) {
	t.Parallel()
	r := row{ops: 4, elapsed: 2 * time.Second}
	if got := r.perOp(time.Millisecond); got != 250 {
		t.Errorf("perOp(1ms) over 4 ops = %v µs, want 250", got)
	}
	if !math.IsNaN(r.perOp(-1)) || !math.IsNaN((row{}).perOp(time.Second)) {
		t.Error("unknown CPU or no operations should give NaN")
	}
	if got := r.opsPerSec(); got != 2 {
		t.Errorf("opsPerSec = %v, want 2", got)
	}
}

func TestQuantile(t *testing.T) {
	t.Parallel()
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i))
	}
	for _, tc := range []struct {
		in   []time.Duration
		q    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{lat, 0.5, 50},
		{lat, 0.99, 99},
		{lat, 1, 100},
		{lat[:1], 0.99, 1},
	} {
		if got := quantile(tc.in, tc.q); got != tc.want {
			t.Errorf("quantile(%d values, %v) = %v, want %v", len(tc.in), tc.q, got, tc.want)
		}
	}
}
