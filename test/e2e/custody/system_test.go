//go:build linux

package custody

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/spire"
)

// system is one SPIKE deployment under test: n keepers, one Nexus, and
// the one-shot commands, all on fixed loopback ports so that restarted
// processes are found where the others expect them.
type system struct {
	// t is the running step; root, the whole test, owns the processes.
	t, root   *testing.T
	c         *spire.Cluster
	bins      binaries
	n, thresh int

	logDir, dataDir, recoveryDir string

	keepers []*keeperSlot // keepers[i] is keeper i+1

	nexusTLS, nexusOps string
	nexus              *proc
	nexusRuns          int
	nexusStarted       time.Time
	runs               int // one-shot commands run, for their log names
}

// keeperSlot is one keeper position: its addresses outlive its processes.
type keeperSlot struct {
	n            int
	tlsAddr, ops string
	proc         *proc
	runs         int
}

func (k *keeperSlot) url() string { return "https://" + k.tlsAddr }

// newSystem lays out a deployment of n keepers with the given threshold;
// nothing is started.
func newSystem(t *testing.T, n, threshold int) *system {
	t.Helper()
	c, bins := setup(t)
	dir := t.TempDir()
	s := &system{t: t, root: t, c: c, bins: bins, n: n, thresh: threshold,
		logDir: filepath.Join(dir, "logs"), dataDir: filepath.Join(dir, "data"), recoveryDir: filepath.Join(dir, "recovery"),
		nexusTLS: freeAddr(t), nexusOps: freeAddr(t)}
	for _, d := range []string{s.logDir, s.dataDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= n; i++ {
		s.keepers = append(s.keepers, &keeperSlot{n: i, tlsAddr: freeAddr(t), ops: freeAddr(t)})
	}
	return s
}

// step runs one stage of a scenario as a subtest, for its own name and
// timing in the output; the scenario stops at the first failed stage,
// since every later one builds on it.
func (s *system) step(name string, f func()) {
	s.root.Helper()
	ok := s.root.Run(name, func(t *testing.T) {
		s.t = t
		defer func() { s.t = s.root }()
		f()
	})
	if !ok {
		s.root.FailNow()
	}
}

func (s *system) keeperURLs() string {
	var urls []string
	for _, k := range s.keepers {
		urls = append(urls, k.url())
	}
	return strings.Join(urls, ",")
}

// env is the environment every spike process gets, plus extra.
func (s *system) env(extra ...string) []string {
	return append(baseEnv(), append([]string{
		s.c.Env(),
		"SPIKE_TRUST_ROOT=" + td,
		"SPIKE_KEEPERS=" + s.keeperURLs(),
		"SPIKE_SHAMIR_SHARES=" + strconv.Itoa(s.n),
		"SPIKE_SHAMIR_THRESHOLD=" + strconv.Itoa(s.thresh),
		"SPIKE_NEXUS_URL=https://" + s.nexusTLS,
		"SPIKE_SYSTEM_LOG_LEVEL=debug",
	}, extra...)...)
}

// startKeeper starts keeper n (from 1), empty, and waits for /healthz.
func (s *system) startKeeper(n int) {
	s.t.Helper()
	k := s.keepers[n-1]
	if k.proc != nil && !k.proc.exited() {
		s.t.Fatalf("keeper %d is already running", n)
	}
	k.runs++
	k.proc = startProc(s.t, s.root, fmt.Sprintf("spike-keeper %d", n), s.bins.keepers[n],
		filepath.Join(s.logDir, fmt.Sprintf("keeper-%d.run-%d.log", n, k.runs)),
		s.env("SPIKE_KEEPER_TLS_PORT="+k.tlsAddr, "SPIKE_KEEPER_OPS_ADDR="+k.ops))
	waitFor(s.t, fmt.Sprintf("keeper %d /healthz", n), k.proc, func() (bool, string) {
		code, body := httpGet("http://" + k.ops + "/healthz")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
}

func (s *system) startKeepers(ns ...int) {
	s.t.Helper()
	for _, n := range ns {
		s.startKeeper(n)
	}
}

func (s *system) stopKeepers(ns ...int) {
	s.t.Helper()
	for _, n := range ns {
		s.keepers[n-1].proc.stop(s.t)
	}
}

func all(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

// keeperReadyz is keeper n's /readyz: 200 with a shard, 503 without.
func (s *system) keeperReadyz(n int) (int, string) {
	return httpGet("http://" + s.keepers[n-1].ops + "/readyz")
}

// startNexus starts a Nexus on the data directory and waits until it
// answers /healthz; it is sealed or recovering then.
func (s *system) startNexus() {
	s.t.Helper()
	if s.nexus != nil && !s.nexus.exited() {
		s.t.Fatal("nexus is already running")
	}
	s.nexusRuns++
	s.nexusStarted = time.Now()
	s.nexus = startProc(s.t, s.root, "spike-nexus", s.bins.nexus, s.nexusLog(),
		s.env("SPIKE_DATA_DIR="+s.dataDir, "SPIKE_NEXUS_TLS_PORT="+s.nexusTLS, "SPIKE_NEXUS_OPS_ADDR="+s.nexusOps,
			"SPIKE_NEXUS_RECOVERY_MAX_INTERVAL=1s", "SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL=1h"))
	waitFor(s.t, "nexus /healthz", s.nexus, func() (bool, string) {
		code, body := httpGet("http://" + s.nexusOps + "/healthz")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
}

// nexusLog is the current Nexus run's log file.
func (s *system) nexusLog() string {
	return filepath.Join(s.logDir, fmt.Sprintf("nexus.run-%d.log", s.nexusRuns))
}

// killNexus ends Nexus with SIGKILL: no chance to tidy up.
func (s *system) killNexus() {
	s.t.Helper()
	s.nexus.kill(s.t)
}

// restartNexus kills Nexus with SIGKILL and starts it again on the same
// data directory.
func (s *system) restartNexus() {
	s.t.Helper()
	s.killNexus()
	s.startNexus()
}

func (s *system) readyz() (int, string) { return httpGet("http://" + s.nexusOps + "/readyz") }

// waitReady waits until Nexus's /readyz answers 200 "ready".
func (s *system) waitReady(why string) {
	s.t.Helper()
	waitFor(s.t, "nexus ready "+why, s.nexus, func() (bool, string) {
		code, body := s.readyz()
		return code == http.StatusOK && strings.TrimSpace(body) == "ready", fmt.Sprintf("%d %q", code, body)
	})
	s.t.Logf("nexus ready %s: %v after its start", why, time.Since(s.nexusStarted).Round(time.Millisecond))
}

// waitSealed waits until /readyz answers 503 with a body that starts
// "sealed:" and contains want, and returns the body.
func (s *system) waitSealed(want string) string {
	s.t.Helper()
	var got string
	waitFor(s.t, fmt.Sprintf("nexus sealed, saying %q", want), s.nexus, func() (bool, string) {
		code, body := s.readyz()
		got = body
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "sealed:") && strings.Contains(body, want),
			fmt.Sprintf("%d %q", code, body)
	})
	return got
}

// run runs a one-shot command, logging to a numbered file.
func (s *system) run(label, bin string, env []string, stdin []byte, args ...string) result {
	s.t.Helper()
	s.runs++
	r := runCmd(s.t, s.logDir, fmt.Sprintf("%02d-%s", s.runs, label), bin, env, bytes.NewReader(stdin), args...)
	s.t.Logf("%s: exit %d in %v", strings.Join(append([]string{label}, args...), " "), r.code, r.took.Round(time.Millisecond))
	return r
}

// bootstrap runs spike-bootstrap, bounded so that a hang fails.
func (s *system) bootstrap() result {
	s.t.Helper()
	return s.run("bootstrap", s.bins.bootstrap, s.env("SPIKE_BOOTSTRAP_TIMEOUT=2m"), nil)
}

// pilot runs the spike CLI under one of its role names.
func (s *system) pilot(bin string, stdin []byte, args ...string) result {
	s.t.Helper()
	return s.run(filepath.Base(bin), bin, s.env("SPIKE_PILOT_RECOVERY_DIR="+s.recoveryDir), stdin, args...)
}

// recoveryFile is one of the operator's recovery files.
type recoveryFile struct {
	id    int
	path  string
	text  string // as read
	shard []byte // 32 bytes
}

var recoveryText = regexp.MustCompile(`^spike:([0-9]+):([0-9a-f]{64})\n?$`)

// takeRecoveryFiles runs "spike operator recover" and checks what it
// wrote: one file per shard, spike.recovery.<id>.txt, mode 0600,
// spike:<id>:<64 hex>. It returns them by id (index id-1).
func (s *system) takeRecoveryFiles() []recoveryFile {
	s.t.Helper()
	r := s.pilot(s.bins.recover, nil, "operator", "recover")
	if r.code != 0 {
		s.t.Fatalf("spike operator recover failed:\n%s", r)
	}
	entries, err := os.ReadDir(s.recoveryDir)
	if err != nil {
		s.t.Fatalf("spike operator recover: the recovery directory: %v\n%s", err, r)
	}
	files := make([]recoveryFile, s.n)
	for _, e := range entries {
		path := filepath.Join(s.recoveryDir, e.Name())
		id := 0
		if _, err := fmt.Sscanf(e.Name(), "spike.recovery.%d.txt", &id); err != nil || e.Name() != fmt.Sprintf("spike.recovery.%d.txt", id) {
			s.t.Errorf("recovery directory holds %q, not spike.recovery.<id>.txt", e.Name())
			continue
		}
		if id < 1 || id > s.n || files[id-1].path != "" {
			s.t.Errorf("recovery file %s: id %d out of 1..%d or repeated", e.Name(), id, s.n)
			continue
		}
		fi, err := os.Lstat(path)
		if err != nil {
			s.t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			s.t.Errorf("recovery file %s: mode %v, want a regular file with mode 0600", e.Name(), fi.Mode())
		}
		text := readFile(s.t, path)
		m := recoveryText.FindStringSubmatch(text)
		if m == nil {
			s.t.Errorf("recovery file %s: %d bytes not of the form spike:<id>:<64 lowercase hex>", e.Name(), len(text))
			continue
		}
		if m[1] != strconv.Itoa(id) {
			s.t.Errorf("recovery file %s says id %s", e.Name(), m[1])
		}
		shard, _ := hex.DecodeString(m[2])
		files[id-1] = recoveryFile{id: id, path: path, text: text, shard: shard}
	}
	for i, f := range files {
		if f.path == "" {
			s.t.Errorf("no recovery file for shard %d", i+1)
		}
	}
	if s.t.Failed() {
		s.t.Fatalf("spike operator recover wrote %d entries, want %d valid files:\n%s", len(entries), s.n, r)
	}
	for i := range files {
		for j := range i {
			if bytes.Equal(files[i].shard, files[j].shard) {
				s.t.Fatalf("recovery files %d and %d hold the same shard", j+1, i+1)
			}
		}
	}
	s.t.Logf("spike operator recover: %d files in %s", len(files), s.recoveryDir)
	return files
}

// peek asks every keeper, as Nexus would, for its shard.
func (s *system) peek() []peeked {
	s.t.Helper()
	cmd := exec.Command(s.bins.peek)
	cmd.Env = append(s.env(), roleEnv+"=peek", keepersEnv+"="+s.keeperURLs())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output() // holds shards: kept in memory, never in a file
	if err != nil {
		s.t.Fatalf("peek at the keepers as spike/nexus: %v\n%s", err, stderr.String())
	}
	var got []peeked
	if err := json.Unmarshal(out, &got); err != nil || len(got) != s.n {
		s.t.Fatalf("peek at the keepers: %d answers (%v), want %d", len(got), err, s.n)
	}
	return got
}

// keepersHold checks that each listed keeper holds the shard of its
// recovery file (keeper N holds shard N).
func (s *system) keepersHold(files []recoveryFile, ns ...int) (bool, string) {
	got := s.peek()
	for _, n := range ns {
		p := got[n-1]
		if p.Status != http.StatusOK || p.Shard != hex.EncodeToString(files[n-1].shard) {
			return false, fmt.Sprintf("keeper %d: status %d %s %s, holds its recovery shard: %v", n, p.Status, p.Code, p.Err, p.Shard == hex.EncodeToString(files[n-1].shard))
		}
	}
	return true, ""
}

func (s *system) requireKeepersHold(files []recoveryFile, why string, ns ...int) {
	s.t.Helper()
	if ok, msg := s.keepersHold(files, ns...); !ok {
		s.t.Fatalf("%s: %s", why, msg)
	}
}

// contribute gives keeper n a shard as spike/bootstrap would.
func (s *system) contribute(n int, shard []byte) {
	s.t.Helper()
	cmd := exec.Command(s.bins.contrib)
	cmd.Env = append(s.env(), roleEnv+"=contribute", keepersEnv+"="+s.keeperURLs(),
		targetEnv+"="+strconv.Itoa(n), shardEnv+"="+hex.EncodeToString(shard))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		s.t.Fatalf("contribute to keeper %d as spike/bootstrap: %v\n%s", n, err, stderr.String())
	}
	var o peeked
	if err := json.Unmarshal(out, &o); err != nil || o.Status != http.StatusOK {
		s.t.Fatalf("contribute to keeper %d as spike/bootstrap: %s (%v)", n, out, err)
	}
}

// nexusLogLine returns the first line of the current Nexus log holding
// every one of want, or "".
func (s *system) nexusLogLine(want ...string) string {
	b, _ := os.ReadFile(s.nexusLog())
	for line := range strings.Lines(string(b)) {
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(line, w) }) {
			return line
		}
	}
	return ""
}

// freshBootstrap starts every keeper and Nexus, checks that Nexus is
// sealed until spike-bootstrap runs, and bootstraps.
func (s *system) freshBootstrap() {
	s.t.Helper()
	begin := time.Now()
	s.startKeepers(all(s.n)...)
	for n := 1; n <= s.n; n++ {
		if code, body := s.keeperReadyz(n); code != http.StatusServiceUnavailable {
			s.t.Errorf("keeper %d /readyz before bootstrap: %d %q, want 503 (no shard)", n, code, body)
		}
	}
	s.startNexus()
	if code, body := s.readyz(); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "sealed:") {
		s.t.Fatalf("nexus /readyz before bootstrap: %d %q, want 503 sealed: <reason>", code, body)
	}
	r := s.bootstrap()
	if r.code != 0 || !strings.Contains(r.stdout, "bootstrap complete") {
		s.t.Fatalf("spike-bootstrap on a fresh %d/%d system: want exit 0 and \"bootstrap complete\"\n%s\n--- nexus log ---\n%s",
			s.n, s.thresh, r, tail(s.nexusLog()))
	}
	s.waitReady("after bootstrap")
	for n := 1; n <= s.n; n++ {
		if code, body := s.keeperReadyz(n); code != http.StatusOK {
			s.t.Errorf("keeper %d /readyz after bootstrap: %d %q, want 200", n, code, body)
		}
	}
	s.t.Logf("fresh %d/%d system bootstrapped in %v", s.n, s.thresh, time.Since(begin).Round(time.Millisecond))
}

// bootstrapAgain runs spike-bootstrap on a bootstrapped system: it must
// say so and change nothing.
func (s *system) bootstrapAgain(files []recoveryFile) {
	s.t.Helper()
	r := s.bootstrap()
	if r.code != 0 || !strings.Contains(r.stdout, "already bootstrapped") {
		s.t.Fatalf("spike-bootstrap on a bootstrapped system: want exit 0 and \"already bootstrapped\"\n%s", r)
	}
	if strings.Contains(r.stdout, "bootstrap complete") {
		s.t.Fatalf("the second spike-bootstrap says it bootstrapped:\n%s", r)
	}
	s.requireKeepersHold(files, "after the second spike-bootstrap every keeper must hold its original shard", all(s.n)...)
	s.waitReady("after the second spike-bootstrap")
}

// bootstrapAgainSealed runs spike-bootstrap while Nexus is sealed: Nexus
// still knows the system is bootstrapped, so Bootstrap must say so and
// leave the running keepers (ns) with their shards.
func (s *system) bootstrapAgainSealed(files []recoveryFile, ns ...int) {
	s.t.Helper()
	r := s.bootstrap()
	if r.code != 0 || !strings.Contains(r.stdout, "already bootstrapped") {
		s.t.Fatalf("spike-bootstrap against a sealed, bootstrapped nexus: want exit 0 and \"already bootstrapped\"\n%s", r)
	}
	s.requireKeepersHold(files, "after spike-bootstrap against a sealed nexus the keepers must hold their original shards", ns...)
	if code, body := s.readyz(); code != http.StatusServiceUnavailable {
		s.t.Fatalf("nexus after spike-bootstrap while sealed: /readyz %d %q, want still sealed", code, body)
	}
}
