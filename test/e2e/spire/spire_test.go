//go:build linux

package spire

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// roleEnv makes the test binary act as a workload: see TestMain.
const roleEnv = "SPIKE_E2E_ROLE"

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	if cache := os.Getenv(fakeBuilderEnv); cache != "" {
		os.Exit(runFakeBuilder(cache))
	}
	os.Exit(m.Run())
}

// roleReport is what a role child prints on stdout.
type roleReport struct {
	Role string   `json:"role"`
	ID   string   `json:"id"`  // the X509Source's SVID
	All  []string `json:"all"` // every SVID issued to the process
}

// runRole is the child side of the re-exec pattern: wait for an SVID from
// $SPIFFE_ENDPOINT_SOCKET, then report it and every other SVID issued.
func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := reportRole(ctx, role); err != nil {
		fmt.Fprintf(os.Stderr, "role %s: %v\n", role, err)
		return 1
	}
	return 0
}

func reportRole(ctx context.Context, role string) error {
	src, err := workloadapi.NewX509Source(ctx)
	if err != nil {
		return fmt.Errorf("x509 source: %w", err)
	}
	defer src.Close()
	svid, err := src.GetX509SVID()
	if err != nil {
		return fmt.Errorf("get svid: %w", err)
	}
	all, err := workloadapi.FetchX509SVIDs(ctx)
	if err != nil {
		return fmt.Errorf("fetch all svids: %w", err)
	}
	rep := roleReport{Role: role, ID: svid.ID.String()}
	for _, s := range all {
		rep.All = append(rep.All, s.ID.String())
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// startCluster starts a cluster for one test and stops it at cleanup. It
// fails, not skips, when SPIRE is unavailable, except in -short mode.
func startCluster(t *testing.T, opts Options) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real SPIRE server and agent; skipped in -short mode")
	}
	opts.Logger = testLogger(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Minute)
	defer cancel()
	begin := time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start SPIRE %s (set SPIKE_SPIRE_BIN to prebuilt binaries, or make the build work): %v", Version, err)
	}
	t.Logf("cluster up in %v", time.Since(begin))
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c
}

// testLogger sends slog output to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// runChild re-executes the test binary at path as role and returns its
// report.
func runChild(t *testing.T, c *Cluster, path, role string) roleReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = append(os.Environ(), roleEnv+"="+role, c.Env())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("role %s: %v\nstderr: %s\nagent log: %s", role, err, stderr.String(), agentLogTail(c))
	}
	var rep roleReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("role %s: parse %q: %v", role, stdout.String(), err)
	}
	return rep
}

// agentLogTail returns the end of the agent log for failure messages.
func agentLogTail(c *Cluster) string {
	tail, err := tailFile(filepath.Join(c.Dir(), "logs", "agent.log"), 3000)
	if err != nil {
		return err.Error()
	}
	return tail
}

func TestDistinctIdentities(t *testing.T) {
	t.Parallel()
	roles := t.TempDir()
	tests := []struct{ role, id string }{
		{"nexus", "spiffe://spike.test/spike/nexus"},
		{"keeper-1", "spiffe://spike.test/spike/keeper/1"},
		{"pilot", "spiffe://spike.test/spike/pilot"},
	}
	var entries []Entry
	paths := map[string]string{}
	for _, tt := range tests {
		paths[tt.role] = RoleBinary(t, roles, tt.role)
		entries = append(entries, Entry{SpiffeID: tt.id, Selectors: []string{"unix:path:" + paths[tt.role]}})
	}
	c := startCluster(t, Options{Entries: entries})
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			t.Parallel()
			begin := time.Now()
			rep := runChild(t, c, paths[tt.role], tt.role)
			t.Logf("%s -> %s in %v", tt.role, rep.ID, time.Since(begin))
			if rep.ID != tt.id || !slices.Equal(rep.All, []string{tt.id}) {
				t.Errorf("role %s got id %s, all %v; want only %s", tt.role, rep.ID, rep.All, tt.id)
			}
		})
	}
}

func TestRegisterAfterStart(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Options{TrustDomain: "late.test"})
	path := RoleBinary(t, t.TempDir(), "late")
	want := "spiffe://late.test/late"
	begin := time.Now()
	if err := c.Register(t.Context(), Entry{SpiffeID: want, Selectors: []string{"unix:path:" + path}}); err != nil {
		t.Fatal(err)
	}
	rep := runChild(t, c, path, "late")
	t.Logf("registered entry visible to the workload after %v", time.Since(begin))
	if rep.ID != want || !slices.Equal(rep.All, []string{want}) {
		t.Errorf("got id %s, all %v; want only %s", rep.ID, rep.All, want)
	}
}

func TestRegisterInvalidEntry(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Options{})
	err := c.Register(t.Context(), Entry{SpiffeID: "spiffe://other.test/x", Selectors: []string{"unix:uid:0"}})
	if err == nil {
		t.Fatal("Register of an entry outside the trust domain succeeded")
	}
	t.Logf("error, as expected: %v", err)
}

// TestRotation checks that the agent rotates a short-lived SVID and that
// an X509Source sees the new one. SPIRE backdates NotBefore by 10 s and
// rotates at about half of the lifetime, so a 20 s TTL rotates ~5 s after
// issuance.
func TestRotation(t *testing.T) {
	t.Parallel()
	const ttl = 20 * time.Second
	tests := []struct {
		name string
		opts Options
		e    Entry
	}{
		{"server default TTL", Options{SVIDTTL: ttl}, Entry{}},
		{"entry TTL", Options{}, Entry{X509SVIDTTL: ttl}},
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := tt.e
			e.SpiffeID = "spiffe://spike.test/rotating"
			e.Selectors = []string{"unix:path:" + exe}
			tt.opts.Entries = []Entry{e}
			c := startCluster(t, tt.opts)
			watchRotation(t, c, ttl)
		})
	}
}

// watchRotation opens an X509Source in this process and waits until it
// has seen two distinct SVID serial numbers.
func watchRotation(t *testing.T, c *Cluster, ttl time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*ttl)
	defer cancel()
	begin := time.Now()
	src, err := workloadapi.NewX509Source(ctx, workloadapi.WithClientOptions(workloadapi.WithAddr(c.EndpointSocket())))
	if err != nil {
		t.Fatalf("x509 source: %v\nagent log: %s", err, agentLogTail(c))
	}
	defer src.Close()
	t.Logf("first SVID after %v", time.Since(begin))
	serials := map[string]bool{}
	for {
		svid, err := src.GetX509SVID()
		if err != nil {
			t.Fatal(err)
		}
		cert := svid.Certificates[0]
		if serial := cert.SerialNumber.String(); !serials[serial] {
			serials[serial] = true
			life := cert.NotAfter.Sub(cert.NotBefore)
			t.Logf("t+%v: SVID %s serial %s, lifetime %v",
				time.Since(begin).Round(time.Millisecond), svid.ID, serial, life)
			if life < ttl || life > ttl+10*time.Second {
				t.Errorf("SVID lifetime %v, want TTL %v plus at most 10 s of backdating", life, ttl)
			}
		}
		if len(serials) >= 2 {
			return
		}
		if err := src.WaitUntilUpdated(ctx); err != nil {
			t.Fatalf("no rotation seen: %v (serials %v)\nagent log: %s", err, serials, agentLogTail(c))
		}
	}
}

func TestStopLeavesNoProcesses(t *testing.T) {
	t.Parallel()
	c := startCluster(t, Options{})
	pids := []int{c.server.pid(), c.agent.pid()}
	dir := c.Dir()
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("process %d still exists after Stop (kill 0: %v)", pid, err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster dir %s still exists after Stop: %v", dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStartFailureReportsLog(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs the SPIRE binaries; skipped in -short mode")
	}
	_, err := Start(t.Context(), Options{TrustDomain: "Not A Domain"})
	if err == nil {
		t.Fatal("Start with an invalid trust domain succeeded")
	}
	if !strings.Contains(err.Error(), "tail of") {
		t.Errorf("error does not include the server log tail: %v", err)
	}
	t.Logf("error, as expected: %v", err)
}

func TestEntriesJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		entry   Entry
		want    string
		wantErr bool
	}{
		{
			name:  "path selector",
			entry: Entry{SpiffeID: "spiffe://td/a", Selectors: []string{"unix:path:/r/a"}},
			want:  `{"entries":[{"spiffe_id":"spiffe://td/a","parent_id":"spiffe://td/host","selectors":[{"type":"unix","value":"path:/r/a"}]}]}`,
		},
		{
			name:  "two selectors and TTL",
			entry: Entry{SpiffeID: "spiffe://td/b", Selectors: []string{"unix:path:/r/b", "unix:uid:0"}, X509SVIDTTL: time.Minute},
			want:  `{"entries":[{"spiffe_id":"spiffe://td/b","parent_id":"spiffe://td/host","selectors":[{"type":"unix","value":"path:/r/b"},{"type":"unix","value":"uid:0"}],"x509_svid_ttl":60}]}`,
		},
		{name: "no selectors", entry: Entry{SpiffeID: "spiffe://td/c"}, wantErr: true},
		{name: "bad selector", entry: Entry{SpiffeID: "spiffe://td/d", Selectors: []string{"unix"}}, wantErr: true},
		{name: "fractional TTL", entry: Entry{SpiffeID: "spiffe://td/e", Selectors: []string{"unix:uid:0"}, X509SVIDTTL: 1500 * time.Millisecond}, wantErr: true},
		{name: "negative TTL", entry: Entry{SpiffeID: "spiffe://td/f", Selectors: []string{"unix:uid:0"}, X509SVIDTTL: -time.Second}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := entriesJSON("spiffe://td/host", []Entry{tt.entry})
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		bins bool
		log  string // "" means no build.log
		want bool
	}{
		{"no binaries", false, "", false},
		{"binaries, no log", true, "", true},
		{"finished build", true, "$ go install\nrc=0\n", true},
		{"failed build", true, "$ go install\nrc=2\n", false},
		{"build in progress", true, "$ go install\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cache := t.TempDir()
			if tt.bins {
				writeFakeBinaries(t, cache)
			}
			if tt.log != "" {
				if err := os.WriteFile(filepath.Join(cache, "build.log"), []byte(tt.log), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if got := ready(cache); got != tt.want {
				t.Errorf("ready = %v, want %v", got, tt.want)
			}
		})
	}
}

func writeFakeBinaries(t *testing.T, cache string) {
	t.Helper()
	if err := fakeBinaries(cache); err != nil {
		t.Fatal(err)
	}
}

func TestBinariesPrebuiltMissing(t *testing.T) {
	t.Setenv("SPIKE_SPIRE_BIN", t.TempDir())
	if _, _, err := Binaries(t.Context()); err == nil {
		t.Fatal("Binaries succeeded with an empty SPIKE_SPIRE_BIN directory")
	}
}
