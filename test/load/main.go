// Command load benchmarks Nexus the way a user comparing it with SPIKE
// would: audited gets and durable puts of 100-byte secrets over many
// paths, from 1 to 64 concurrent callers, through spike's own client and
// through SPIKE's SDK, against one or more Nexus processes side by side.
// It prints one table: throughput, p50 and p99 latency, errors, and CPU
// time per operation — the server's, from /proc/<pid>/stat, and its own.
//
// The matrix is every -mix × every -c × every -clients × every -target,
// measured in that order, so that consecutive rows alternate between
// targets and whatever else loads the machine hits all of them alike.
// Each cell runs for -d after an unmeasured warm-up of a fifth of that
// (at most 1 s), with a fresh set of callers.
//
// Targets:
//
//   - dev (the default): a development cluster (package devcluster, as
//     `spike dev` runs it) started in a child process, so that its CPU is
//     measured apart from the load's.
//   - name=N,url=https://host:port,svid-dir=D[,pid=P][,load-svid-dir=L]:
//     a running Nexus — spike's or SPIKE's — driven as the superuser whose
//     SVID files (svid.pem, svid_key.pem, svid_bundle.pem) are in D. With
//     pid its server CPU is measured; pid=P1+P2+P3 sums the CPU of several
//     processes, e.g. every replica of a cluster. With -policies the calls are made as
//     spiffe://<trust domain>/workload/load, whose SVID files are in L
//     (default D/../load). The trust domain is the SVID's.
//
// Clients:
//
//   - ours: spike's transport client, one for all callers, connections
//     pooled — how spike's SDK and pilot call.
//   - sdk: SPIKE's SDK (spike-sdk-go v0.19.9): its request and response
//     types, its net.Post status mapping and errors.FromCode, over one
//     keep-alive mTLS client per caller made by its own constructor — how a
//     long-running workload would use it.
//   - sdk-new: SPIKE's SDK as it ships: api.API's GetSecret and
//     PutSecret, each a new mTLS connection.
//
// Before the first cell each target is given -paths secrets that gets
// read (load/r000000 on), each written -versions times, and -paths that
// puts write (load/w000000 on), each written once; and with -policies P,
// P policies of which only the last grants workload/load read and write
// on load/. Each call picks one of the paths at random. Gets and puts use
// different paths so that a get cell finds every secret with -versions
// versions whatever cells came before it.
//
// Interrupted (Ctrl-C), it stops a development cluster as it would at the
// end: the child closes the cluster and removes its temporary directory,
// which holds the development CA's key and the unencrypted recovery files.
//
//	go run ./test/load                                   # the default matrix against dev
//	go run ./test/load -mix get -c 8 -clients ours -d 10s
//	go run ./test/load -target dev -target name=spike-v0.8.2,url=https://127.0.0.1:18553,pid=123,svid-dir=/x/svid/superuser -ref spike-v0.8.2 -format md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
)

// maxCallers bounds -c, and is the ours client's connection limit, so
// that every caller has a connection of its own.
const maxCallers = 1024

type options struct {
	targets   targetList
	ref       string
	mixes     []mix
	callers   []int
	clients   []string
	duration  time.Duration
	paths     int
	versions  int
	policies  int
	valueSize int
	format    string
	profile   string // the development cluster's CPU profile
	serve     bool   // internal: be the development cluster
}

// Defaults: `make bench`'s matrix.
const (
	defaultMixes   = "get,put"
	defaultCallers = "1,8,32,64"
	defaultClients = "ours,sdk"
)

// parseOptions reads the command line.
func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.targets, "target", "a Nexus to drive: dev, or name=N,url=U,svid-dir=D[,pid=P][,load-svid-dir=L]; repeatable (default dev)")
	fs.StringVar(&o.ref, "ref", "", "the target the ×ref columns compare with")
	mixes := fs.String("mix", defaultMixes, "comma-separated: get, put, mixed (90/10) or G/P (G % gets, P % puts)")
	op := fs.String("op", "", "old spelling of a one-entry -mix (get or put)")
	callers := fs.String("c", defaultCallers, "comma-separated concurrent callers")
	clients := fs.String("clients", defaultClients, "comma-separated: ours, sdk, sdk-new")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "measured time per cell, after a warm-up of a fifth of it (at most 1s)")
	fs.IntVar(&o.paths, "paths", 1000, "secrets the load reads and writes")
	fs.IntVar(&o.versions, "versions", 1, "versions each secret is given before the first cell")
	fs.IntVar(&o.policies, "policies", 0, "create this many policies and call as a workload granted by the last (0: as the superuser)")
	fs.IntVar(&o.valueSize, "value-size", 100, "bytes per secret value")
	fs.StringVar(&o.format, "format", "text", "text or md (a Markdown table)")
	nexusURL := fs.String("nexus", "", "old spelling of -target name=nexus,url=…")
	svidDir := fs.String("svid-dir", "", "with -nexus: the superuser's SVID files")
	serverPID := fs.Int("server-pid", 0, "with -nexus: the Nexus process, to measure its CPU")
	fs.StringVar(&o.profile, "server-cpuprofile", "", "write the development cluster's CPU profile here")
	fs.BoolVar(&o.serve, "serve", false, "internal: run the development cluster and print its address")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.serve {
		return o, nil
	}
	if *op != "" {
		if *op != "get" && *op != "put" {
			return o, fmt.Errorf("-op %q: want get or put", *op)
		}
		*mixes = *op
	}
	var err error
	if o.mixes, err = parseMixes(*mixes); err != nil {
		return o, err
	}
	if o.callers, err = parseCallers(*callers); err != nil {
		return o, err
	}
	if o.clients, err = parseClients(*clients); err != nil {
		return o, err
	}
	if *nexusURL != "" {
		spec := "name=nexus,url=" + *nexusURL
		if *svidDir != "" {
			spec += ",svid-dir=" + *svidDir
		}
		if *serverPID != 0 {
			spec += fmt.Sprintf(",pid=%d", *serverPID)
		}
		if err := o.targets.Set(spec); err != nil {
			return o, fmt.Errorf("-nexus: %w", err)
		}
	} else if *svidDir != "" || *serverPID != 0 {
		return o, errors.New("-svid-dir and -server-pid go with -nexus")
	}
	if len(o.targets) == 0 {
		o.targets = targetList{{name: devTarget}}
	}
	return o, o.check()
}

// check validates what the flags cannot.
func (o options) check() error {
	switch {
	case o.duration <= 0:
		return errors.New("-d must be positive")
	case o.paths < 1 || o.versions < 1 || o.valueSize < 1:
		return errors.New("-paths, -versions and -value-size must be positive")
	case o.paths > 1_000_000:
		return errors.New("-paths: at most 1,000,000")
	case o.policies < 0:
		return errors.New("-policies must be 0 or more")
	case o.format != "text" && o.format != "md":
		return fmt.Errorf("-format %q: want text or md", o.format)
	case o.ref != "" && !slices.ContainsFunc(o.targets, func(t targetSpec) bool { return t.name == o.ref }):
		return fmt.Errorf("-ref %q: no -target of that name", o.ref)
	}
	return nil
}

func main() {
	o, err := parseOptions(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.serve {
		err = serve(ctx, o.profile)
	} else {
		err = run(ctx, o, os.Stdout, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// run measures the matrix and writes the table to out, progress to
// progress.
func run(ctx context.Context, o options, out, progress io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	var targets []*target
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	var tds []spiffeid.TrustDomain
	for _, spec := range o.targets {
		t, err := openTarget(ctx, spec, o.profile)
		if err != nil {
			return err
		}
		targets = append(targets, t)
		if !slices.Contains(tds, t.td) {
			tds = append(tds, t.td)
		}
	}
	if slices.Contains(o.clients, clientSDK) || slices.Contains(o.clients, clientSDKNew) {
		if err := sdkEnvFor(tds); err != nil {
			return fmt.Errorf("SPIKE SDK settings: %w", err)
		}
	}
	w := newWorkload(o)
	for _, t := range targets {
		began := time.Now()
		if err := w.prepare(ctx, t); err != nil {
			return fmt.Errorf("target %s: %w", t.name, err)
		}
		fmt.Fprintf(progress, "load: %s prepared in %v (%s)\n", t.name, time.Since(began).Round(time.Millisecond), w.describe())
	}
	load0 := loadAverage()
	tab := table{ref: o.ref}
	n, i := len(o.mixes)*len(o.callers)*len(o.clients)*len(targets), 0
	for _, m := range o.mixes {
		for _, c := range o.callers {
			for _, kind := range o.clients {
				for _, t := range targets {
					i++
					r, err := w.measure(ctx, t, kind, m, c, o.duration)
					if err != nil {
						return err
					}
					tab.rows = append(tab.rows, r)
					fmt.Fprintf(progress, "load: [%d/%d] %s c=%d %s %s: %s ops/s, %d errors\n", i, n, m.name, c, kind, t.name, fmtThousands(r.opsPerSec()), r.errs)
				}
			}
		}
	}
	fmt.Fprintf(out, "%s; %d paths, %d-byte values, %d version(s) each; %s per cell; %d CPUs; load average %s before, %s after\n\n",
		w.describe(), o.paths, o.valueSize, o.versions, o.duration, runtime.NumCPU(), load0, loadAverage())
	if err := tab.write(out, o.format); err != nil {
		return err
	}
	for _, t := range targets {
		fmt.Fprint(out, serverNote(t.name, t.pids))
	}
	fmt.Fprintln(out)
	if slices.ContainsFunc(tab.rows, func(r row) bool { return r.ops == 0 }) {
		return errors.New("a cell had no successful operation")
	}
	return nil
}

// serverNote says, after the table, whose CPU a target's server column
// counts and its peak resident memory; "" when no pid was given.
func serverNote(name string, pids []int) string {
	if len(pids) == 0 {
		return ""
	}
	var peaks []string
	for _, pid := range pids {
		if peak, err := procPeakRSS(pid); err == nil {
			peaks = append(peaks, fmt.Sprintf("%.0f", float64(peak)/(1<<20)))
		}
	}
	if len(pids) == 1 {
		if len(peaks) == 0 {
			return ""
		}
		return fmt.Sprintf("\n%s: server peak RSS %s MiB", name, peaks[0])
	}
	ids := make([]string, len(pids))
	for i, pid := range pids {
		ids[i] = strconv.Itoa(pid)
	}
	note := fmt.Sprintf("\n%s: server CPU is the sum of %d processes (pids %s)", name, len(pids), strings.Join(ids, "+"))
	if len(peaks) > 0 {
		note += fmt.Sprintf("; their peak RSS %s MiB", strings.Join(peaks, ", "))
	}
	return note
}

// loadAverage is the 1-minute load average from /proc/loadavg, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// workload is what the cells do: the paths, the value, who calls.
type workload struct {
	// Gets read getPaths, puts write putPaths: so that a get cell sees
	// each secret with exactly -versions versions whatever cells ran
	// before it (SPIKE's get costs more the more versions a secret has).
	getPaths, putPaths []string
	values             map[string]string
	versions           int
	policies           int
}

func newWorkload(o options) *workload {
	w := &workload{values: map[string]string{"k": strings.Repeat("v", o.valueSize)}, versions: o.versions, policies: o.policies}
	for i := range o.paths {
		w.getPaths = append(w.getPaths, fmt.Sprintf("load/r%06d", i))
		w.putPaths = append(w.putPaths, fmt.Sprintf("load/w%06d", i))
	}
	return w
}

func (w *workload) describe() string {
	if w.policies > 0 {
		return fmt.Sprintf("as workload/load, granted by the last of %d policies", w.policies)
	}
	return "as the superuser"
}

// prepareCallers is how many callers write the secrets before the first
// cell.
const prepareCallers = 32

// prepare writes every get path w.versions times and every put path once
// as the superuser and, with policies, creates them and makes the target
// call as workload/load.
func (w *workload) prepare(ctx context.Context, t *target) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan string)
	)
	for range prepareCallers {
		wg.Go(func() {
			for p := range next {
				if err := t.su.put(ctx, p, w.values); err != nil {
					mu.Lock()
					first = cmpErr(first, fmt.Errorf("put %s: %w", p, err))
					mu.Unlock()
				}
			}
		})
	}
	send := func(paths []string) {
		for _, p := range paths {
			select {
			case next <- p:
			case <-ctx.Done():
			}
		}
	}
	for range w.versions {
		send(w.getPaths)
	}
	send(w.putPaths)
	close(next)
	wg.Wait()
	if first != nil || ctx.Err() != nil {
		return cmpErr(first, ctx.Err())
	}
	if w.policies == 0 {
		return nil
	}
	td := strings.ReplaceAll(t.td.Name(), ".", `\.`)
	for i := range w.policies - 1 {
		p := api.PolicyPutRequest{Name: fmt.Sprintf("load-other-%03d", i), SPIFFEIDPattern: fmt.Sprintf(`^spiffe://%s/workload/other-%d$`, td, i),
			PathPattern: fmt.Sprintf(`^team-%d/.*$`, i), Permissions: []api.Permission{api.PermRead}}
		if err := t.su.do(ctx, api.OpPolicyPut, p, &api.PolicyPutResponse{}); err != nil {
			return fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	last := api.PolicyPutRequest{Name: "load", SPIFFEIDPattern: fmt.Sprintf(`^spiffe://%s/workload/load$`, td),
		PathPattern: `^load/.*$`, Permissions: []api.Permission{api.PermRead, api.PermWrite}}
	if err := t.su.do(ctx, api.OpPolicyPut, last, &api.PolicyPutResponse{}); err != nil {
		return fmt.Errorf("policy load: %w", err)
	}
	t.callAs(t.loadDir)
	return nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// measure runs one cell: c callers of client kind against t for d, after
// a warm-up.
func (w *workload) measure(ctx context.Context, t *target, kind string, m mix, c int, d time.Duration) (row, error) {
	cl, err := t.client(ctx, kind)
	if err != nil {
		return row{}, err
	}
	if kind == clientSDKNew {
		// api.API reads its Nexus from the environment on every call.
		if err := os.Setenv("SPIKE_NEXUS_API_URL", t.url); err != nil {
			return row{}, err
		}
	}
	sessions := make([]session, c)
	for i := range sessions {
		sessions[i] = cl.session()
	}
	defer func() {
		for _, s := range sessions {
			s.close()
		}
	}()
	w.drive(ctx, sessions, m, min(time.Second, d/5)) // connections, caches
	server0, serverErr := procsCPU(t.pids)
	self0 := selfCPU()
	r := w.drive(ctx, sessions, m, d)
	server1, serverErr1 := procsCPU(t.pids)
	r.clientCPU = selfCPU() - self0
	r.serverCPU = server1 - server0
	if serverErr != nil || serverErr1 != nil {
		r.serverCPU = -1
	}
	r.mix, r.c, r.client, r.target = m.name, c, kind, t.name
	return r, ctx.Err()
}

// drive runs one caller per session for d and collects every latency.
func (w *workload) drive(ctx context.Context, sessions []session, m mix, d time.Duration) row {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		r         row
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	seed := uint64(time.Now().UnixNano())
	start := time.Now()
	for i, s := range sessions {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			var lat []time.Duration
			var errs int64
			var first error
			for ctx.Err() == nil {
				get := rng.IntN(100) < m.getPercent
				n := rng.IntN(len(w.getPaths))
				t0 := time.Now()
				var err error
				if get {
					err = s.get(ctx, w.getPaths[n])
				} else {
					err = s.put(ctx, w.putPaths[n], w.values)
				}
				if ctx.Err() != nil {
					break // cut short by the end of the cell: not an error
				}
				if err != nil {
					errs++
					first = cmpErr(first, err)
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			r.errs += errs
			r.firstErr = cmpErr(r.firstErr, first)
			mu.Unlock()
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.ops = int64(len(latencies))
	slices.Sort(latencies)
	r.p50, r.p99 = quantile(latencies, 0.5), quantile(latencies, 0.99)
	return r
}

// quantile returns the q-quantile of sorted latencies (nearest rank
// below), 0 for none.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1))]
}
