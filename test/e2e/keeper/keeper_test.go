//go:build linux

package keeper

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/test/e2e/spire"
)

func TestMain(m *testing.M) {
	if os.Getenv(roleEnv) != "" {
		os.Exit(runClient())
	}
	os.Exit(m.Run())
}

const (
	td       = "spike.test"
	keeperID = "spiffe://" + td + "/spike/keeper/1"
)

func id(path string) string { return "spiffe://" + td + path }

// buildKeeper builds cmd/spike-keeper into dir and returns its path.
func buildKeeper(t *testing.T, dir string) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(gomod)) == "" || strings.TrimSpace(string(gomod)) == os.DevNull {
		t.Fatalf("find the module root: %q, %v", gomod, err)
	}
	bin := filepath.Join(dir, "spike-keeper")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/spike-keeper")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/spike-keeper: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// syncBuffer collects a process's output safely across goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// keeperProc is a running spike-keeper.
type keeperProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer // stdout and stderr
	url  string
	ops  string
	done chan struct{}
	err  error // valid after done is closed
}

// startKeeper runs the binary under SPIRE and waits for /healthz.
func startKeeper(t *testing.T, c *spire.Cluster, bin string) *keeperProc {
	t.Helper()
	tlsAddr, opsAddr := freeAddr(t), freeAddr(t)
	p := &keeperProc{out: &syncBuffer{}, url: "https://" + tlsAddr, ops: "http://" + opsAddr, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), c.Env(), "SPIKE_TRUST_ROOT="+td,
		"SPIKE_KEEPER_TLS_PORT="+tlsAddr, "SPIKE_KEEPER_OPS_ADDR="+opsAddr, "SPIKE_SYSTEM_LOG_LEVEL=debug")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	p.waitHealthy(t)
	return p
}

// waitHealthy polls /healthz until it answers 200, the keeper exits, or
// a minute passes.
func (p *keeperProc) waitHealthy(t *testing.T) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		if status, _ := get(p.ops + "/healthz"); status == http.StatusOK {
			return
		}
		select {
		case <-p.done:
			t.Fatalf("spike-keeper exited during startup: %v\n%s", p.err, p.out)
		case <-deadline:
			t.Fatalf("spike-keeper not healthy within a minute:\n%s", p.out)
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and returns the exit status.
func (p *keeperProc) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("spike-keeper ignored SIGTERM for 30s:\n%s", p.out)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// runClient runs a role binary's plan against the keeper.
func runPlan(t *testing.T, c *spire.Cluster, bin, url string, plan []step) []outcome {
	t.Helper()
	pj, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), c.Env(), roleEnv+"=1", urlEnv+"="+url, pinEnv+"="+keeperID, planEnv+"="+string(pj))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("client %s: %v\n%s", filepath.Base(bin), err, stderr.String())
	}
	var got []outcome
	if err := json.Unmarshal(out, &got); err != nil || len(got) != len(plan) {
		t.Fatalf("client %s said %q: %v", filepath.Base(bin), out, err)
	}
	return got
}

func shardOf(b byte) *api.Shard {
	var s api.Shard
	for i := range s {
		s[i] = b ^ byte(i*37) | 0x80
	}
	return &s
}

func TestKeeperUnderSPIRE(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test under a real SPIRE: skipped with -short")
	}
	dir := t.TempDir()
	keeperBin := buildKeeper(t, dir)
	bins := map[string]string{keeperBin: "/spike/keeper/1"}
	roles := map[string]string{}
	for name, path := range map[string]string{"nexus": "/spike/nexus", "bootstrap": "/spike/bootstrap", "app": "/workload/app"} {
		roles[name] = spire.RoleBinary(t, dir, name)
		bins[roles[name]] = path
	}
	var entries []spire.Entry
	for bin, path := range bins {
		entries = append(entries, spire.Entry{SpiffeID: id(path), Selectors: []string{"unix:path:" + bin}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := spire.Start(ctx, spire.Options{TrustDomain: td, Entries: entries})
	if err != nil {
		t.Fatalf("SPIRE: %v", err)
	}
	t.Cleanup(func() { c.Stop() })

	k := startKeeper(t, c, keeperBin)
	if status, body := get(k.ops + "/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, "no shard") {
		t.Errorf("readyz before any shard: %d %q", status, body)
	}
	first, second := shardOf(1), shardOf(2)
	got := runPlan(t, c, roles["nexus"], k.url, []step{{Op: "shard"}, {Op: "contribute", Shard: first}, {Op: "shard"}})
	if got[0].Status != 400 || got[1].Status != 200 || got[2].Status != 200 || got[2].Shard == nil || *got[2].Shard != *first {
		t.Fatalf("nexus: %+v; want 400 before any shard, then its shard back", got)
	}
	got = runPlan(t, c, roles["bootstrap"], k.url, []step{{Op: "contribute", Shard: second}, {Op: "shard"}})
	if got[0].Status != 200 || got[1].Status != 401 || got[1].Code != string(api.CodeUnauthorized) {
		t.Fatalf("bootstrap: %+v; want to contribute, then 401 on reading", got)
	}
	got = runPlan(t, c, roles["app"], k.url, []step{{Op: "contribute", Shard: first}, {Op: "shard"}})
	for i, o := range got {
		if o.Status != 0 || o.Err == "" {
			t.Errorf("workload call %d: %+v; want a handshake failure", i, o)
		}
	}
	got = runPlan(t, c, roles["nexus"], k.url, []step{{Op: "shard"}})
	if got[0].Shard == nil || *got[0].Shard != *second {
		t.Fatalf("nexus after bootstrap's contribution: %+v; want bootstrap's shard", got)
	}
	if status, body := get(k.ops + "/readyz"); status != http.StatusOK {
		t.Errorf("readyz with a shard: %d %q", status, body)
	}

	if code := k.stop(t); code != 0 {
		t.Fatalf("spike-keeper exited %d after SIGTERM:\n%s", code, k.out)
	}
	logs := k.out.String()
	for _, want := range []string{keeperID, "keeper serving", "shard stored", "shard zeroed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
	for _, sh := range []*api.Shard{first, second} {
		for _, form := range printedForms(sh) {
			if strings.Contains(logs, form) {
				t.Fatalf("the log holds a shard as %q", form)
			}
		}
	}
}

// printedForms returns the shard as hex and as a decimal list, the way
// JSON, fmt and people print it.
func printedForms(sh *api.Shard) []string {
	dec := make([]string, len(sh))
	for i, b := range sh {
		dec[i] = strconv.Itoa(int(b))
	}
	return []string{
		hex.EncodeToString(sh[:]),
		strings.ToUpper(hex.EncodeToString(sh[:])),
		hex.EncodeToString(sh[:16]),
		hex.EncodeToString(sh[16:]),
		strings.Join(dec, ","),
		strings.Join(dec, ", "),
		strings.Join(dec, " "),
		fmt.Sprint(*sh),
	}
}

// TestBadConfigurationExits2: a bad setting stops the binary at once
// with one line on stderr and status 2, before it looks for an SVID.
func TestBadConfigurationExits2(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary: skipped with -short")
	}
	bin := buildKeeper(t, t.TempDir())
	for _, tc := range []struct {
		env  string
		want string
	}{
		{"SPIKE_KEEPER_TLS_PORT=not-a-port", "TLS address"},
		{"SPIKE_KEEPER_OPS_ADDR=127.0.0.1:99999", "operations address"},
		{"SPIKE_SPIFFE_SOURCE_TIMEOUT=soon", "SPIKE_SPIFFE_SOURCE_TIMEOUT"},
		{"SPIKE_SYSTEM_LOG_LEVEL=loud", "SPIKE_SYSTEM_LOG_LEVEL"},
		{"SPIKE_TRUST_ROOT=Not A Domain", "SPIKE_TRUST_ROOT"},
	} {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), tc.env, "SPIFFE_ENDPOINT_SOCKET=unix:///nonexistent/agent.sock")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		line := stderr.String()
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || strings.Count(line, "\n") != 1 || !strings.Contains(line, tc.want) || stdout.Len() != 0 {
			t.Errorf("%s: %v, stderr %q; want exit 2 and one line naming %s", tc.env, err, line, tc.want)
		}
	}
}
