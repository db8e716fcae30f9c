package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/keeper"
)

// asKeeperEnv makes the test binary run main: see TestMain.
const asKeeperEnv = "SPIKE_KEEPER_TEST_AS_KEEPER"

func TestMain(m *testing.M) {
	if os.Getenv(asKeeperEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestKeepersSideBySide starts keepers the way SPIKE's start script does:
// separate processes with the same environment and identity (a bare
// spike/keeper) and only SPIKE_KEEPER_TLS_PORT different. Every one must
// come up, each with its own operations port at its TLS port + 1000, and
// stop cleanly on SIGTERM.
func TestKeepersSideBySide(t *testing.T) {
	t.Parallel()
	base := []string{asKeeperEnv + "=1", "SPIKE_SVID_DIR=" + keeperSVIDDir(t)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SPIKE_") && !strings.HasPrefix(kv, "SPIFFE_") {
			base = append(base, kv)
		}
	}
	type proc struct {
		cmd    *exec.Cmd
		log    *serving
		exited chan struct{}
	}
	ports := freeTLSPorts(t, 3)
	procs := make([]proc, len(ports))
	for i, port := range ports {
		p := proc{cmd: exec.Command(os.Args[0]), log: newServing(), exited: make(chan struct{})}
		p.cmd.Env = append(slices.Clone(base), "SPIKE_KEEPER_TLS_PORT=127.0.0.1:"+strconv.Itoa(port))
		p.cmd.Stderr = p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.cmd.Wait(); close(p.exited) }()
		t.Cleanup(func() { p.cmd.Process.Kill(); <-p.exited })
		procs[i] = p
	}
	for i, p := range procs {
		var ops string
		select {
		case ops = <-p.log.ops:
		case <-p.exited:
			t.Fatalf("keeper %d (TLS port %d) exited: %v\n%s", i+1, ports[i], p.cmd.ProcessState, p.log)
		}
		if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]+keeper.OpsPortOffset)); ops != want {
			t.Errorf("keeper %d: operations listener on %s, want %s", i+1, ops, want)
		}
		resp, err := http.Get("http://" + ops + "/healthz")
		if err != nil {
			t.Fatalf("keeper %d /healthz: %v", i+1, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("keeper %d /healthz: %s", i+1, resp.Status)
		}
	}
	for i, p := range procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		<-p.exited
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("keeper %d exited %d after SIGTERM:\n%s", i+1, code, p.log)
		}
	}
}

// keeperSVIDDir writes a bare spike/keeper SVID in spiffe-helper's
// layout, as SPIKE's bare-metal registration gives every keeper.
func keeperSVIDDir(t *testing.T) string {
	t.Helper()
	ca, err := identity.NewDevCA(spiffeid.RequireTrustDomainFromString(identity.DefaultTrustRoot), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	id, err := identity.DefaultRoles().ID(identity.RoleKeeper, "")
	if err != nil {
		t.Fatal(err)
	}
	svid, err := ca.Issue(id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := ca.WriteFiles(dir, svid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// freeTLSPorts returns n distinct loopback ports that are free, each with
// its port + keeper.OpsPortOffset free too, at the time of asking.
func freeTLSPorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for tries := 0; len(ports) < n; tries++ {
		if tries == 100 {
			t.Fatalf("found %d of %d free port pairs", len(ports), n)
		}
		tls, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tls.Addr().(*net.TCPAddr).Port
		if port+keeper.OpsPortOffset > 65535 {
			tls.Close()
			continue
		}
		ops, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+keeper.OpsPortOffset)))
		tls.Close()
		if err != nil {
			continue
		}
		ops.Close()
		ports = append(ports, port)
	}
	return ports
}

// serving collects a keeper's log and sends the operations address of
// its "keeper serving" line on ops.
type serving struct {
	mu   sync.Mutex
	all  bytes.Buffer
	line bytes.Buffer
	ops  chan string
}

func newServing() *serving { return &serving{ops: make(chan string, 1)} }

func (s *serving) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all.Write(p)
	for _, b := range p {
		if b != '\n' {
			s.line.WriteByte(b)
			continue
		}
		var rec struct {
			Msg string `json:"msg"`
			Ops string `json:"ops_addr"`
		}
		if json.Unmarshal(s.line.Bytes(), &rec) == nil && rec.Msg == "keeper serving" {
			select {
			case s.ops <- rec.Ops:
			default:
			}
		}
		s.line.Reset()
	}
	return len(p), nil
}

func (s *serving) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.all.String()
}

// TestBadLogSettings: a wrong log format or level stops the keeper before
// it starts anything, with exit status 2 and one line naming the setting.
func TestBadLogSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"format", []string{"--log-format", "xml"}, "SPIKE_SYSTEM_LOG_FORMAT"},
		{"empty format", []string{"--log-format="}, "want json or text"},
		{"level", []string{"--log-level", "loud"}, "SPIKE_SYSTEM_LOG_LEVEL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stderr bytes.Buffer
			// Port 0 and no SVID source: were it to start, it would wait
			// for an SVID and this test would hang, not pass.
			args := append([]string{"--tls-port", "127.0.0.1:0", "--svid-dir", t.TempDir(), "--spiffe-source-timeout", "1ms"}, tc.args...)
			code := run(args, func(string) (string, bool) { return "", false }, &stderr)
			out := stderr.String()
			if code != 2 || strings.Count(out, "\n") != 1 || !strings.Contains(out, tc.want) || !strings.HasPrefix(out, "spike-keeper: ") {
				t.Fatalf("exit %d, stderr %q; want 2 and one line naming %s", code, out, tc.want)
			}
		})
	}
}

// TestHelpDocumentsLogging: --help lists both logging flags with their
// variables and defaults.
func TestHelpDocumentsLogging(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "--help")
	cmd.Env = append(os.Environ(), asKeeperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	for _, want := range []string{`--log-format="json"`, "SPIKE_SYSTEM_LOG_FORMAT", `--log-level="info"`, "SPIKE_SYSTEM_LOG_LEVEL"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--help does not mention %s:\n%s", want, out)
		}
	}
}
