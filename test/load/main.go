// Command load drives a Nexus with audited gets or durable puts from many
// concurrent callers and reports throughput, latency and — the figure the
// command loop is designed around — CPU time per operation, the server's
// and its own, each read from /proc.
//
// Without -nexus it starts its own server: a development cluster
// (package devcluster, as `spike dev` runs it) in a child process, so the
// server's CPU is measured apart from the load's. With -nexus it drives an
// existing Nexus as the superuser whose SVID files are in -svid-dir, and
// measures server CPU only if -server-pid names the Nexus process.
//
// Interrupted (Ctrl-C), it stops the child as it would at the end: the
// child closes the cluster and removes its temporary directory, which
// holds the development CA's key and the unencrypted recovery files.
//
//	go run ./test/load -op get -c 16 -d 10s
//	go run ./test/load -op get -policies 100
//	go run ./test/load -op put
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus"
)

type options struct {
	nexus     string
	svidDir   string
	loadDir   string // SVID files of the load workload (-policies)
	serverPID int
	op        string
	workers   int
	duration  time.Duration
	policies  int
	valueSize int
	serve     bool
	profile   string
}

func main() {
	var o options
	flag.StringVar(&o.nexus, "nexus", "", "Nexus URL; empty starts a development cluster in a child process")
	flag.StringVar(&o.svidDir, "svid-dir", "", "superuser SVID files (with -nexus)")
	flag.IntVar(&o.serverPID, "server-pid", 0, "Nexus's process id, to measure its CPU (with -nexus)")
	flag.StringVar(&o.op, "op", "get", "get (audited read) or put (durable write)")
	flag.IntVar(&o.workers, "c", 16, "concurrent callers")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "how long to drive load, after a warm-up of a fifth of it (at most 1s)")
	flag.IntVar(&o.policies, "policies", 0, "with -op get: create this many policies and read as an ordinary workload granted by the last")
	flag.IntVar(&o.valueSize, "value-size", 32, "bytes per secret value")
	flag.BoolVar(&o.serve, "serve", false, "internal: run the development cluster and print its address")
	flag.StringVar(&o.profile, "server-cpuprofile", "", "write the child server's CPU profile here (without -nexus)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.serve {
		err = serve(ctx, o.profile)
	} else {
		err = run(ctx, o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, out io.Writer) error {
	if o.op != "get" && o.op != "put" {
		return fmt.Errorf("-op %q: want get or put", o.op)
	}
	if o.workers < 1 || o.workers > maxCallers || o.duration <= 0 || o.policies < 0 || o.valueSize < 1 {
		return fmt.Errorf("-c must be 1 to %d, -d and -value-size positive, -policies 0 or more", maxCallers)
	}
	if o.nexus == "" {
		child, err := startChild(ctx, o.profile)
		if err != nil {
			return err
		}
		defer child.stop()
		o.nexus, o.svidDir, o.loadDir, o.serverPID = child.url, child.svidDir, child.loadDir, child.cmd.Process.Pid
	}
	if o.svidDir == "" {
		return errors.New("-nexus needs -svid-dir")
	}
	if o.loadDir == "" {
		o.loadDir = loadDir(o.svidDir)
	}
	su, err := newClient(ctx, o.svidDir)
	if err != nil {
		return fmt.Errorf("superuser: %w", err)
	}
	defer su.Close()
	caller, call, err := prepare(ctx, o, su)
	if err != nil {
		return err
	}
	if caller != su {
		defer caller.Close()
	}
	fmt.Fprintf(out, "load: %s, %d callers, %s, nexus %s\n", describe(o), o.workers, o.duration, o.nexus)
	drive(ctx, caller, call, o.workers, min(time.Second, o.duration/5)) // warm-up: connections, caches
	server0, _ := procCPU(o.serverPID)
	self0, _ := procCPU(os.Getpid())
	r := drive(ctx, caller, call, o.workers, o.duration)
	server1, serverErr := procCPU(o.serverPID)
	self1, _ := procCPU(os.Getpid())
	r.print(out)
	if r.ops == 0 {
		return errors.New("no operation succeeded")
	}
	if o.serverPID != 0 && serverErr == nil {
		fmt.Fprintf(out, "server CPU: %.1f µs/op (%.2f cores)\n", perOp(server1-server0, r.ops), (server1-server0).Seconds()/r.elapsed.Seconds())
		if peak, err := procPeakRSS(o.serverPID); err == nil {
			fmt.Fprintf(out, "server peak RSS: %.1f MiB\n", float64(peak)/(1<<20))
		}
	}
	fmt.Fprintf(out, "load CPU:   %.1f µs/op (this process: client TLS, HTTP, JSON)\n", perOp(self1-self0, r.ops))
	return nil
}

func describe(o options) string {
	switch {
	case o.op == "put":
		return "durable puts to 1,000 paths"
	case o.policies > 0:
		return fmt.Sprintf("audited gets by a workload granted by the last of %d policies", o.policies)
	}
	return "audited gets by the superuser"
}

func perOp(d time.Duration, ops int64) float64 { return float64(d.Microseconds()) / float64(ops) }

// loadDir is where the SVID files of the load workload are beside the
// superuser's: -svid-dir/../load.
func loadDir(superuser string) string {
	return filepath.Join(filepath.Dir(filepath.Clean(superuser)), "load")
}

// prepare writes what the load reads and returns the client and the call
// maker each worker uses: su, or a client of the load workload's that the
// caller closes.
func prepare(ctx context.Context, o options, su *client) (*client, func(worker, i int) transport.Call, error) {
	value := strings.Repeat("v", o.valueSize)
	do := func(op api.Op, req any) error {
		return su.Do(ctx, transport.Call{BaseURL: o.nexus, Path: op.Path(), Action: string(op.Action()), Request: req})
	}
	if o.op == "put" {
		return su, func(w, i int) transport.Call {
			return transport.Call{BaseURL: o.nexus, Path: api.PathSecrets,
				Request: api.SecretPutRequest{Path: fmt.Sprintf("load/%03d", (w*7919+i)%1000), Values: map[string]string{"k": value}}}
		}, nil
	}
	if err := do(api.OpSecretPut, api.SecretPutRequest{Path: "load/secret", Values: map[string]string{"k": value}}); err != nil {
		return nil, nil, fmt.Errorf("put load/secret: %w", err)
	}
	caller := su
	if o.policies > 0 {
		var err error
		if caller, err = workload(ctx, o, do); err != nil {
			return nil, nil, err
		}
	}
	return caller, func(int, int) transport.Call {
		return transport.Call{BaseURL: o.nexus, Path: api.PathSecrets, Action: "get", Request: api.SecretGetRequest{Path: "load/secret"}}
	}, nil
}

// workload creates o.policies policies, the last granting read on load/
// to spiffe://TD/workload/load, and returns a client with that identity.
// It needs SVID files for it in o.loadDir, which the child writes.
func workload(ctx context.Context, o options, do func(api.Op, any) error) (*client, error) {
	td := "spike.ist"
	if v, ok := os.LookupEnv("SPIKE_TRUST_ROOT"); ok {
		td = v
	}
	for i := range o.policies - 1 {
		p := api.PolicyPutRequest{Name: fmt.Sprintf("other-%03d", i), SPIFFEIDPattern: fmt.Sprintf(`^spiffe://%s/workload/other-%d$`, td, i),
			PathPattern: fmt.Sprintf(`^team-%d/.*$`, i), Permissions: []api.Permission{api.PermRead}}
		if err := do(api.OpPolicyPut, p); err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.Name, err)
		}
	}
	last := api.PolicyPutRequest{Name: "load", SPIFFEIDPattern: fmt.Sprintf(`^spiffe://%s/workload/load$`, td), PathPattern: `^load/.*$`, Permissions: []api.Permission{api.PermRead}}
	if err := do(api.OpPolicyPut, last); err != nil {
		return nil, fmt.Errorf("policy load: %w", err)
	}
	cl, err := newClient(ctx, o.loadDir)
	if err != nil {
		return nil, fmt.Errorf("load workload: %w", err)
	}
	return cl, nil
}

// client is a transport client and the SVID source it presents, which
// Close closes too.
type client struct {
	*transport.Client
	src identity.Source
}

func (c *client) Close() {
	c.Client.Close()
	c.src.Close()
}

func newClient(ctx context.Context, svidDir string) (*client, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	roles, err := identity.NewRoles(os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("trust roots: %w", err)
	}
	src, err := identity.OpenSource(ctx, "", svidDir, 10*time.Second, logger)
	if err != nil {
		return nil, err
	}
	cl, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(roles.IsNexus), Retries: -1, Logger: logger, MaxConnsPerHost: maxCallers})
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("client: %w", err)
	}
	return &client{Client: cl, src: src}, nil
}

// maxCallers bounds -c, and is each client's connection limit, so that
// every caller has a connection of its own.
const maxCallers = 1024

type result struct {
	ops, errs int64
	elapsed   time.Duration
	latencies []time.Duration
	firstErr  error
}

// drive runs workers callers for d and collects every latency.
func drive(ctx context.Context, cl *client, call func(worker, i int) transport.Call, workers int, d time.Duration) result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu  sync.Mutex
		r   result
		ops atomic.Int64
		wg  sync.WaitGroup
	)
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			var lat []time.Duration
			var errs int64
			var first error
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				err := cl.Do(ctx, call(w, i))
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ops.Add(1)
			}
			mu.Lock()
			r.latencies = append(r.latencies, lat...)
			r.errs += errs
			if r.firstErr == nil {
				r.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	r.ops = ops.Load()
	return r
}

func (r result) print(out io.Writer) {
	slices.Sort(r.latencies)
	q := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[int(p*float64(len(r.latencies)-1))]
	}
	fmt.Fprintf(out, "ops: %d in %s = %.0f ops/s; errors %d\n", r.ops, r.elapsed.Round(time.Millisecond), float64(r.ops)/r.elapsed.Seconds(), r.errs)
	if r.firstErr != nil {
		fmt.Fprintf(out, "first error: %v\n", r.firstErr)
	}
	fmt.Fprintf(out, "latency: p50 %s  p99 %s  max %s\n", q(0.5).Round(time.Microsecond), q(0.99).Round(time.Microsecond), q(1).Round(time.Microsecond))
}

// procCPU returns the user+system CPU time of process pid from
// /proc/<pid>/stat (Linux).
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("server CPU: %w (needs Linux /proc)", err)
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("server CPU: short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("server CPU: %w", err)
	}
	const clockTick = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// procPeakRSS returns the peak resident set size of process pid, from
// VmHWM in /proc/<pid>/status (Linux).
func procPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("server memory: %w (needs Linux /proc)", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("server memory: %w", err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("server memory: no VmHWM in /proc status")
}

type child struct {
	cmd                   *exec.Cmd
	stdin                 io.WriteCloser
	url, svidDir, loadDir string
}

// childStopWait is how long a child that was asked to stop has to close
// its cluster and remove its directory before it is killed.
const childStopWait = 30 * time.Second

// startChild runs this program with -serve and reads its READY line.
// When ctx ends the child is asked to stop by closing its standard input,
// not killed: a killed child would leave its temporary directory behind.
func startChild(ctx context.Context, profile string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-serve", "-server-cpuprofile", profile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd.Cancel = stdin.Close
	cmd.WaitDelay = childStopWait
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
	if err != nil || len(f) != 4 || f[0] != "READY" {
		c.stop()
		return nil, fmt.Errorf("server did not start (%q): %v", line, err)
	}
	c.url, c.svidDir, c.loadDir = f[1], f[2], f[3]
	return c, nil
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}

// serve is the child: a development cluster on a free port, the
// superuser's SVID directory and one for the load workload, until stdin
// closes or ctx ends (an interrupt reaches the child too). It prints
// "READY\t<Nexus URL>\t<superuser SVID dir>\t<load SVID dir>".
func serve(ctx context.Context, profile string) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(nexus.GCPercent) // as spike-nexus runs
	}
	return serveUntil(ctx, profile, os.Stdin, os.Stdout)
}

func serveUntil(ctx context.Context, profile string, stdin io.Reader, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "spike-load-")
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := devcluster.Start(ctx, devcluster.Options{DataDir: dir, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff, Logger: logger})
	if err != nil {
		return err
	}
	defer c.Close()
	su := c.SVIDDir(devcluster.SVIDSuperuser)
	load := loadDir(su)
	if err := c.IssueSVIDDir(ctx, "/workload/load", load); err != nil {
		return fmt.Errorf("load workload SVID: %w", err)
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return fmt.Errorf("server CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("server CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "READY\t%s\t%s\t%s\n", c.NexusURL(), su, load)
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-ctx.Done():
	case <-closed:
	}
	return nil
}
