//go:build linux

package custody

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/spire"
)

const (
	td = "spike.test"
	// maxKeepers is how many keeper identities are registered.
	maxKeepers = 5
	// readyWait bounds every wait for a process to come up or for Nexus
	// to reach a state.
	readyWait = 60 * time.Second
	// runWait bounds every one-shot command (bootstrap, the CLI).
	runWait = 3 * time.Minute
	// poll is the polling period of every wait.
	poll = 100 * time.Millisecond
)

func spiffeID(path string) string { return "spiffe://" + td + path }

func keeperSPIFFEID(n int) string { return spiffeID("/spike/keeper/" + strconv.Itoa(n)) }

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	code := m.Run()
	env.teardown()
	os.Exit(code)
}

// binaries are the paths every suite runs, one per SPIFFE identity.
type binaries struct {
	keepers   [maxKeepers + 1]string // keepers[n] is spike/keeper/n
	nexus     string                 // spike/nexus
	bootstrap string                 // spike/bootstrap
	recover   string                 // spike CLI as spike/pilot/role/recover
	restore   string                 // spike CLI as spike/pilot/role/restore
	peek      string                 // the test binary as spike/nexus
	contrib   string                 // the test binary as spike/bootstrap
}

// environment is what the suites share: the binaries and one SPIRE
// cluster, set up by the first test that needs them.
type environment struct {
	once    sync.Once
	err     error
	dir     string
	bins    binaries
	cluster *spire.Cluster
}

var env environment

// setup builds the binaries and starts SPIRE once per package; a failure
// fails every test that asks, with the reason. Under -short it skips.
func setup(t *testing.T) (*spire.Cluster, binaries) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE: skipped with -short")
	}
	env.once.Do(func() { env.err = env.start() })
	if env.err != nil {
		t.Fatalf("end-to-end setup failed: %v", env.err)
	}
	return env.cluster, env.bins
}

func (e *environment) start() error {
	begin := time.Now()
	dir, err := os.MkdirTemp("", "spike-custody-")
	if err != nil {
		return err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return err
	}
	e.dir = dir
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	b := &e.bins
	for n := 1; n <= maxKeepers; n++ {
		b.keepers[n] = filepath.Join(dir, "keeper-"+strconv.Itoa(n))
	}
	b.nexus = filepath.Join(dir, "nexus")
	b.bootstrap = filepath.Join(dir, "bootstrap")
	b.recover = filepath.Join(dir, "spike-recover")
	b.restore = filepath.Join(dir, "spike-restore")
	b.peek = filepath.Join(dir, "peek-as-nexus")
	b.contrib = filepath.Join(dir, "contribute-as-bootstrap")
	entries := []spire.Entry{
		{SpiffeID: spiffeID("/spike/nexus"), Selectors: []string{"unix:path:" + b.nexus}},
		{SpiffeID: spiffeID("/spike/bootstrap"), Selectors: []string{"unix:path:" + b.bootstrap}},
		{SpiffeID: spiffeID("/spike/pilot/role/recover"), Selectors: []string{"unix:path:" + b.recover}},
		{SpiffeID: spiffeID("/spike/pilot/role/restore"), Selectors: []string{"unix:path:" + b.restore}},
		{SpiffeID: spiffeID("/spike/nexus"), Selectors: []string{"unix:path:" + b.peek}},
		{SpiffeID: spiffeID("/spike/bootstrap"), Selectors: []string{"unix:path:" + b.contrib}},
	}
	for n := 1; n <= maxKeepers; n++ {
		entries = append(entries, spire.Entry{SpiffeID: keeperSPIFFEID(n), Selectors: []string{"unix:path:" + b.keepers[n]}})
	}

	// Build and start SPIRE at the same time: the entries only need the
	// paths.
	var wg sync.WaitGroup
	var buildErr, spireErr error
	wg.Go(func() { buildErr = e.build(root) })
	wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		e.cluster, spireErr = spire.Start(ctx, spire.Options{TrustDomain: td, Entries: entries})
	})
	wg.Wait()
	if err := errors.Join(buildErr, spireErr); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "custody e2e: binaries built and SPIRE started in %v\n", time.Since(begin).Round(time.Millisecond))
	return nil
}

// build compiles the four commands and makes the identity links.
func (e *environment) build(root string) error {
	src := filepath.Join(e.dir, "build")
	names := []string{"spike-keeper", "spike-nexus", "spike-bootstrap", "spike"}
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() {
			cmd := exec.Command("go", "build", "-o", filepath.Join(src, name), "./cmd/"+name)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build ./cmd/%s (in %s): %v\n%s", name, root, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	b := e.bins
	links := map[string]string{
		b.nexus:     filepath.Join(src, "spike-nexus"),
		b.bootstrap: filepath.Join(src, "spike-bootstrap"),
		b.recover:   filepath.Join(src, "spike"),
		b.restore:   filepath.Join(src, "spike"),
	}
	for n := 1; n <= maxKeepers; n++ {
		links[b.keepers[n]] = filepath.Join(src, "spike-keeper")
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the test executable: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return fmt.Errorf("resolve the test executable: %w", err)
	}
	links[b.peek], links[b.contrib] = self, self
	for dst, from := range links {
		if err := linkOrCopy(from, dst); err != nil {
			return fmt.Errorf("identity binary %s: %w", dst, err)
		}
	}
	return nil
}

// moduleRoot finds the directory of go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find the module root with go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// linkOrCopy makes dst a hard link of src, or a copy where a link is not
// possible. Each path is its own SPIFFE identity; a symlink would not be
// (the agent sees the target's path).
func linkOrCopy(src, dst string) (err error) {
	linkErr := os.Link(src, dst)
	if linkErr == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return errors.Join(linkErr, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return errors.Join(linkErr, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}

func (e *environment) teardown() {
	if e.cluster != nil {
		if err := e.cluster.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "custody e2e: stop SPIRE: %v\n", err)
		}
	}
	if e.dir != "" {
		os.RemoveAll(e.dir)
	}
}

// baseEnv is the environment of every child: the test's own without any
// SPIKE_ or SPIFFE_ setting, so that nothing from outside leaks in.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SPIKE_") || strings.HasPrefix(kv, "SPIFFE_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// ports hands out loopback ports below the kernel's ephemeral range, so
// that no outgoing connection can take a stopped keeper's port before it
// restarts there, each port once per test process.
var ports struct {
	mu    sync.Mutex
	given map[int]bool
}

// freeAddr returns a loopback address that was free a moment ago and
// that no other part of this test process was given.
func freeAddr(t *testing.T) string {
	t.Helper()
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.given == nil {
		ports.given = map[int]bool{}
	}
	lo, hi := 20000, ephemeralLow()
	for range 200 {
		port := 0 // the kernel's choice, when there is no room below the range
		if hi-lo >= 1000 {
			port = lo + rand.IntN(hi-lo)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		if !ports.given[addr.Port] {
			ports.given[addr.Port] = true
			return addr.String()
		}
	}
	t.Fatal("no free loopback port")
	return ""
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}

// proc is a running daemon whose output goes to a file.
type proc struct {
	name string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed
}

// startProc starts bin with env, its stdout and stderr appended to
// logPath, and reaps it when owner (the test that outlives the process,
// t or a parent of t) ends.
func startProc(t *testing.T, owner testing.TB, name, bin, logPath string, env []string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, log: logPath, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	owner.Cleanup(func() {
		if !p.exited() {
			p.signal(syscall.SIGTERM, 10*time.Second)
		}
		if !p.exited() {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signal sends sig and waits up to d for the process to end.
func (p *proc) signal(sig syscall.Signal, d time.Duration) bool {
	if p.exited() {
		return true
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

// stop ends the process with SIGTERM and fails the test if it does not
// go within 30 s.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	if !p.signal(syscall.SIGTERM, 30*time.Second) {
		t.Fatalf("%s ignored SIGTERM for 30s; log %s:\n%s", p.name, p.log, tail(p.log))
	}
}

// kill ends the process with SIGKILL.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if !p.signal(syscall.SIGKILL, 30*time.Second) {
		t.Fatalf("%s survived SIGKILL for 30s", p.name)
	}
}

// tail returns the end of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	const n = 6000
	if len(b) > n {
		b = append([]byte("…"), b[len(b)-n:]...)
	}
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// httpGet returns the status and body of a plain-HTTP GET (0 and the
// error when there is no answer).
func httpGet(url string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, string(b)
}

// result is how a one-shot command ended.
type result struct {
	code           int // exit status; -1 if it did not exit normally
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\n--- stdout ---\n%s--- stderr ---\n%s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// runCmd runs bin to completion (bounded by runWait) with stdin, its
// stdout and stderr kept in files under logDir named after label.
func runCmd(t *testing.T, logDir, label, bin string, env []string, stdin io.Reader, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runWait)
	defer cancel()
	outPath := filepath.Join(logDir, label+".stdout")
	errPath := filepath.Join(logDir, label+".stderr")
	fo, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	fe, err := os.Create(errPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, stdin, fo, fe
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	begin := time.Now()
	runErr := cmd.Run()
	took := time.Since(begin)
	fo.Close()
	fe.Close()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: readFile(t, outPath), stderr: readFile(t, errPath), took: took}
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %v\n%s", filepath.Base(bin), strings.Join(args, " "), runWait, r)
	}
	var ee *exec.ExitError
	if runErr != nil && !errors.As(runErr, &ee) {
		t.Fatalf("%s: %v", filepath.Base(bin), runErr)
	}
	return r
}

// waitFor polls cond until it holds or readyWait passes, and fails the
// test otherwise, with the last thing cond saw and, when p is given, p's
// log. If p exits the wait ends at once.
func waitFor(t *testing.T, what string, p *proc, cond func() (bool, string)) time.Duration {
	t.Helper()
	begin := time.Now()
	deadline := time.After(readyWait)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var died <-chan struct{}
	if p != nil {
		died = p.done
	}
	for {
		ok, last := cond()
		if ok {
			return time.Since(begin)
		}
		select {
		case <-died:
			t.Fatalf("%s: %s exited while waiting (%v); last seen: %s\n--- %s ---\n%s", what, p.name, p.err, last, p.log, tail(p.log))
		case <-deadline:
			msg := fmt.Sprintf("%s: not within %v; last seen: %s", what, readyWait, last)
			if p != nil {
				msg += fmt.Sprintf("\n--- %s ---\n%s", p.log, tail(p.log))
			}
			t.Fatal(msg)
		case <-tick.C:
		}
	}
}
