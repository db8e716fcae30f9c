package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one measured cell.
type row struct {
	mix    string
	c      int
	client string
	target string

	ops, errs int64
	elapsed   time.Duration
	p50, p99  time.Duration
	firstErr  error
	// serverCPU and clientCPU are CPU time over the measured interval;
	// serverCPU is -1 when the target's process is not known.
	serverCPU, clientCPU time.Duration
}

func (r row) opsPerSec() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// perOp returns d per successful operation in µs, NaN without any.
func (r row) perOp(d time.Duration) float64 {
	if r.ops == 0 || d < 0 {
		return math.NaN()
	}
	return float64(d.Microseconds()) / float64(r.ops)
}

// sameCell reports whether o measured the cell r did, on another target.
func (r row) sameCell(o row) bool { return r.mix == o.mix && r.c == o.c && r.client == o.client }

// table is the rows of a run in the order they were measured, and the
// target the ratio columns compare with ("" for none).
type table struct {
	rows []row
	ref  string
}

var header = []string{"mix", "c", "client", "target", "ops/s", "×ref", "p50", "p99", "errors", "server µs/op", "×ref CPU", "client µs/op"}

// cells returns each row's cells as text.
func (t table) cells() [][]string {
	out := make([][]string, 0, len(t.rows))
	for _, r := range t.rows {
		ratio, cpuRatio := "", ""
		if t.ref != "" {
			if i := slices.IndexFunc(t.rows, func(o row) bool { return o.target == t.ref && r.sameCell(o) }); i >= 0 {
				ref := t.rows[i]
				ratio = fmtRatio(r.opsPerSec(), ref.opsPerSec())
				cpuRatio = fmtRatio(r.perOp(r.serverCPU), ref.perOp(ref.serverCPU))
			}
		}
		out = append(out, []string{
			r.mix, strconv.Itoa(r.c), r.client, r.target,
			fmtThousands(r.opsPerSec()), ratio,
			fmtLatency(r.p50), fmtLatency(r.p99),
			strconv.FormatInt(r.errs, 10),
			fmtMicros(r.perOp(r.serverCPU)), cpuRatio,
			fmtMicros(r.perOp(r.clientCPU)),
		})
	}
	return out
}

// write prints the table as aligned text ("text") or as a Markdown table
// ("md"), then the first error of each row that had any.
func (t table) write(w io.Writer, format string) error {
	switch format {
	case "md":
		fmt.Fprintf(w, "| %s |\n", strings.Join(header, " | "))
		seps := make([]string, len(header))
		for i := range seps {
			seps[i] = "---:"
			if i == 2 || i == 3 || i == 0 {
				seps[i] = "---"
			}
		}
		fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
		for _, c := range t.cells() {
			fmt.Fprintf(w, "| %s |\n", strings.Join(c, " | "))
		}
	case "text":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\t\n", strings.Join(header, "\t"))
		for _, c := range t.cells() {
			fmt.Fprintf(tw, "%s\t\n", strings.Join(c, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	default:
		return fmt.Errorf("-format %q: want text or md", format)
	}
	for _, r := range t.rows {
		if r.firstErr != nil {
			fmt.Fprintf(w, "\nfirst error of %s c=%d %s %s (%d errors): %v", r.mix, r.c, r.client, r.target, r.errs, r.firstErr)
		}
	}
	if slices.ContainsFunc(t.rows, func(r row) bool { return r.firstErr != nil }) {
		fmt.Fprintln(w)
	}
	return nil
}

// fmtThousands prints a rate rounded to a whole number, with commas.
func fmtThousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRatio prints a/b to two places, "-" when either is unknown.
func fmtRatio(a, b float64) string {
	if math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "-"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// fmtMicros prints µs to whole numbers below 10,000, "-" when unknown.
func fmtMicros(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	return fmtThousands(v)
}

// fmtLatency prints a latency in ms with two decimals ("0.84 ms"), or
// "-" for none.
func fmtLatency(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}
