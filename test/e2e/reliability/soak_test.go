//go:build linux

package reliability

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// The soak's settings: how long (default 2m, what `make test` runs;
// `make soak` sets 10m) and, if set, where to copy the samples' CSV (the
// deployment's log directory goes with the test).
const (
	soakDurationEnv = "SPIKE_SOAK_DURATION"
	soakCSVEnv      = "SPIKE_SOAK_CSV"
)

const (
	defaultSoak = 2 * time.Minute
	// soakWorkers clients with soakPaths paths each: enough in flight to
	// keep Nexus busy on two cores, and more paths than any cache holds.
	soakWorkers = 32
	soakPaths   = 16
	// warmupShare of the run is left out of the fits: caches, pools and
	// the heap grow to their working size first.
	warmupShare = 0.20
)

// The growth criteria, per series (see growth): growth over the fitted
// window beyond a tenth of the mean and beyond a floor, with the window's
// second half growing as steeply, fails the soak. Each floor is what a
// steady process may legitimately grow by:
//
//   - the Go heap live at the last collection: 8 MiB, a megabyte a
//     minute over a ten-minute soak; a leak in Go code grows it without
//     bound, while the heap in use, which Nexus lets grow to five times
//     the live heap between collections (GOGC 400), says little;
//   - anonymous resident memory (RssAnon): the heap plus what lives
//     outside it, chiefly SQLite's page caches, which fill as the
//     projection grows, up to 32 MiB for each of the projection's four
//     connections (projections.openFile): 128 MiB, and 32 MiB more for
//     the heap's own drift and the runtime's unreturned spans;
//   - goroutines and open files: the load keeps 32 connections, each
//     with its goroutines and a file, and a few come and go at any
//     moment.
//
// VmRSS is reported and not judged: it also counts the event log's pages
// that bbolt maps, which grow with the log by design.
var (
	heapGrowth      = growth{Relative: 0.10, Floor: 8 << 20}
	memoryGrowth    = growth{Relative: 0.10, Floor: 160 << 20}
	goroutineGrowth = growth{Relative: 0.10, Floor: 32}
	fileGrowth      = growth{Relative: 0.10, Floor: 16}
)

// sample is one look at the Nexus process.
type sample struct {
	at         time.Duration // since the load started
	rss        int64         // VmRSS, bytes
	anon       int64         // RssAnon, bytes: the heap and stacks, not the mapped files
	heap       int64         // go_memstats_heap_inuse_bytes from /metrics
	live       int64         // the heap marked live at the last collection (see liveHeap)
	goroutines int           // go_goroutines from /metrics
	threads    int
	fds        int
}

// TestSoak runs 32 clients' mixed load against one Nexus for the soak's
// duration, sampling the Nexus process every second, and fails on any
// request that did not succeed and on a growth trend after the warm-up in
// the Go heap, anonymous resident memory, goroutines or open files (see
// the criteria above).
func TestSoak(t *testing.T) {
	tb := setup(t)
	dur := defaultSoak
	if v := os.Getenv(soakDurationEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Second {
			t.Fatalf("%s=%q: want a duration of 10s or more", soakDurationEnv, v)
		}
		dur = d
	}
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2})
	nexus := d.Nexus()
	load := startLoad(t, tb, d, workersEnv+"="+strconv.Itoa(soakWorkers), pathsEnv+"="+strconv.Itoa(soakPaths))
	begin := time.Now()
	var samples []sample
	tick := time.NewTicker(time.Second)
	for time.Since(begin) < dur {
		<-tick.C
		if nexus.Exited() {
			t.Fatalf("nexus exited during the soak: %v\n%s", nexus.Err(), system.Tail(nexus.Log()))
		}
		if load.Exited() {
			t.Fatalf("the load ended by itself\n%s", system.Tail(load.Stderr))
		}
		s, err := sampleProc(nexus.Pid(), d.NexusOpsAddr())
		if err != nil {
			t.Fatalf("sample nexus: %v", err)
		}
		s.at = time.Since(begin)
		samples = append(samples, s)
	}
	tick.Stop()
	sum := stopLoad(t, load)
	took := time.Since(begin)

	csv := writeSamples(t, d, samples)
	acked := total(sum.Acked)
	t.Logf("soak: %v, %d clients; %d acknowledged ops (%.0f/s: %s); %d failed, %d unknown outcome, %d mismatches; samples in %s",
		took.Round(time.Second), soakWorkers, acked, float64(acked)/took.Seconds(), byKind(sum.Acked),
		total(sum.Failed), total(sum.Unknown), sum.Mismatches, csv)
	if n := total(sum.Failed) + total(sum.Unknown) + sum.Mismatches; n > 0 {
		t.Errorf("%d requests did not succeed during the soak; the first: %q", n, sum.Errors)
	}
	if acked == 0 {
		t.Error("the soak acknowledged nothing")
	}

	warmup := warmupShare * dur.Seconds()
	series := []struct {
		name  string
		unit  float64 // divides values for the report
		uname string
		crit  *growth // nil: reported, not judged
		value func(s sample) float64
	}{
		{"VmRSS", 1 << 20, "MiB", nil, func(s sample) float64 { return float64(s.rss) }},
		{"RssAnon", 1 << 20, "MiB", &memoryGrowth, func(s sample) float64 { return float64(s.anon) }},
		{"Go heap in use", 1 << 20, "MiB", nil, func(s sample) float64 { return float64(s.heap) }},
		{"Go live heap", 1 << 20, "MiB", &heapGrowth, func(s sample) float64 { return float64(s.live) }},
		{"goroutines", 1, "", &goroutineGrowth, func(s sample) float64 { return float64(s.goroutines) }},
		{"threads", 1, "", nil, func(s sample) float64 { return float64(s.threads) }},
		{"open files", 1, "", &fileGrowth, func(s sample) float64 { return float64(s.fds) }},
	}
	xs := make([]float64, len(samples))
	for i, s := range samples {
		xs[i] = s.at.Seconds()
	}
	var report []string
	for _, se := range series {
		ys := make([]float64, len(samples))
		for i, s := range samples {
			ys[i] = se.value(s)
		}
		tr, late, err := trends(xs, ys, warmup)
		if err != nil {
			t.Fatalf("%s: %v", se.name, err)
		}
		line := fmt.Sprintf("%s mean %.1f%s slope %+.3f%s/min (%+.1f%s over the window), second half %+.3f%s/min",
			se.name, tr.Mean/se.unit, se.uname, tr.Slope*60/se.unit, se.uname, tr.Projected/se.unit, se.uname, late.Slope*60/se.unit, se.uname)
		report = append(report, line)
		if se.crit != nil && se.crit.leaks(tr, late) {
			t.Errorf("%s grows after the warm-up and is still growing at the end: %s; more than %.0f%% of the mean and %.0f%s",
				se.name, line, se.crit.Relative*100, se.crit.Floor/se.unit, se.uname)
		}
	}
	t.Logf("soak: data directory at the end: %s", dataSizes(t, d))
	t.Logf("soak trends after a %v warm-up: %s", time.Duration(warmup*float64(time.Second)).Round(time.Second), strings.Join(report, "; "))
}

// dataSizes lists the sizes of the files in Nexus's data directory.
func dataSizes(t *testing.T, d *system.Deployment) string {
	t.Helper()
	entries, err := os.ReadDir(d.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			out = append(out, fmt.Sprintf("%s %.1f MiB", e.Name(), float64(fi.Size())/(1<<20)))
		}
	}
	return strings.Join(out, ", ")
}

// sampleProc reads one sample of process pid, whose metrics are at
// http://opsAddr/metrics.
func sampleProc(pid int, opsAddr string) (sample, error) {
	var s sample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		name, value, _ := strings.Cut(line, ":")
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			s.rss = n << 10 // kB
		case "RssAnon":
			s.anon = n << 10
		case "Threads":
			s.threads = int(n)
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.fds = len(fds)
	m, err := metrics(opsAddr, "go_goroutines", "go_memstats_heap_inuse_bytes", "go_memstats_next_gc_bytes", "go_gc_gogc_percent")
	if err != nil {
		return s, err
	}
	s.goroutines, s.heap = int(m["go_goroutines"]), int64(m["go_memstats_heap_inuse_bytes"])
	s.live = liveHeap(m["go_memstats_next_gc_bytes"], m["go_gc_gogc_percent"])
	return s, nil
}

// liveHeap estimates the heap the last collection marked live from the
// goal it set for the next: marked + (marked + stacks + globals) times
// GOGC/100, without a memory limit, which Nexus does not set. Dividing
// the goal by 1 + GOGC/100 overstates the marked heap by a near-constant
// share of the stacks and globals, which leaves its trend as it is.
func liveHeap(nextGC, gogc float64) int64 {
	if gogc <= 0 {
		return int64(nextGC)
	}
	return int64(nextGC / (1 + gogc/100))
}

// metrics reads the named gauges from the metrics endpoint.
func metrics(opsAddr string, names ...string) (map[string]float64, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + opsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", name, v, err)
		}
		out[name] = f
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("/metrics has no %s", n)
		}
	}
	return out, nil
}

// writeSamples writes the samples as CSV into the deployment's log
// directory, and to SPIKE_SOAK_CSV if set, and returns where they are.
func writeSamples(t *testing.T, d *system.Deployment, samples []sample) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("seconds,vmrss_bytes,rssanon_bytes,heap_inuse_bytes,live_heap_bytes,goroutines,threads,open_files\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%.3f,%d,%d,%d,%d,%d,%d,%d\n", s.at.Seconds(), s.rss, s.anon, s.heap, s.live, s.goroutines, s.threads, s.fds)
	}
	paths := []string{filepath.Join(d.LogDir(), "soak-samples.csv")}
	if p := os.Getenv(soakCSVEnv); p != "" {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
			t.Fatalf("samples: %v", err)
		}
	}
	return paths[len(paths)-1]
}
