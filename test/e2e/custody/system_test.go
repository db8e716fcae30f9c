//go:build linux

package custody

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// deployment is one SPIKE deployment as the custody scenarios drive it:
// its processes, on fixed loopback ports so that restarted ones are found
// where the others expect them, the step of the scenario that is running,
// and the operator's recovery directory.
type deployment struct {
	*system.Deployment
	// t is the running step; root, the whole test, owns the processes.
	t, root     *testing.T
	tb          *system.Testbed
	recoveryDir string
}

// newDeployment lays out a deployment of n keepers with the given
// threshold; nothing is started.
func newDeployment(t *testing.T, n, threshold int) *deployment {
	t.Helper()
	tb := setup(t)
	d := system.NewDeployment(t, tb, system.DeployOptions{Keepers: n, Threshold: threshold,
		Env: []string{"SPIKE_SYSTEM_LOG_LEVEL=debug"}})
	return &deployment{Deployment: d, t: t, root: t, tb: tb, recoveryDir: filepath.Join(d.Dir(), "recovery")}
}

// step runs one stage of a scenario as a subtest, for its own name and
// timing in the output; the scenario stops at the first failed stage,
// since every later one builds on it.
func (s *deployment) step(name string, f func()) {
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

// keeperURLs is the keepers' URLs as the helper roles take them.
func (s *deployment) keeperURLs() string { return strings.Join(s.KeeperURLs(), ",") }

// pilot runs the spike CLI under one of its role names.
func (s *deployment) pilot(name string, stdin []byte, args ...string) system.Result {
	s.t.Helper()
	return s.Run(s.t, name, system.Cmd{Bin: s.tb.Path(name), Args: args, Stdin: stdin,
		Env: s.Env("SPIKE_PILOT_RECOVERY_DIR=" + s.recoveryDir)})
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
func (s *deployment) takeRecoveryFiles() []recoveryFile {
	s.t.Helper()
	r := s.pilot(recoverBin, nil, "operator", "recover")
	if r.Code != 0 {
		s.t.Fatalf("spike operator recover failed:\n%s", r)
	}
	entries, err := os.ReadDir(s.recoveryDir)
	if err != nil {
		s.t.Fatalf("spike operator recover: the recovery directory: %v\n%s", err, r)
	}
	files := make([]recoveryFile, s.Keepers())
	for _, e := range entries {
		path := filepath.Join(s.recoveryDir, e.Name())
		id := 0
		if _, err := fmt.Sscanf(e.Name(), "spike.recovery.%d.txt", &id); err != nil || e.Name() != fmt.Sprintf("spike.recovery.%d.txt", id) {
			s.t.Errorf("recovery directory holds %q, not spike.recovery.<id>.txt", e.Name())
			continue
		}
		if id < 1 || id > s.Keepers() || files[id-1].path != "" {
			s.t.Errorf("recovery file %s: id %d out of 1..%d or repeated", e.Name(), id, s.Keepers())
			continue
		}
		fi, err := os.Lstat(path)
		if err != nil {
			s.t.Fatal(err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			s.t.Errorf("recovery file %s: mode %v, want a regular file with mode 0600", e.Name(), fi.Mode())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			s.t.Fatal(err)
		}
		text := string(b)
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
		s.t.Fatalf("spike operator recover wrote %d entries, want %d valid files:\n%s", len(entries), s.Keepers(), r)
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
func (s *deployment) peek() []system.KeeperAnswer {
	s.t.Helper()
	return s.PeekShards(s.t, s.tb.Path(peekBin))
}

// keepersHold checks that each listed keeper holds the shard of its
// recovery file (keeper N holds shard N).
func (s *deployment) keepersHold(files []recoveryFile, ns ...int) (bool, string) {
	got := s.peek()
	for _, n := range ns {
		p := got[n-1]
		if p.Status != http.StatusOK || p.Shard != hex.EncodeToString(files[n-1].shard) {
			return false, fmt.Sprintf("keeper %d: %v, holds its recovery shard: %v", n, p, p.Shard == hex.EncodeToString(files[n-1].shard))
		}
	}
	return true, ""
}

func (s *deployment) requireKeepersHold(files []recoveryFile, why string, ns ...int) {
	s.t.Helper()
	if ok, msg := s.keepersHold(files, ns...); !ok {
		s.t.Fatalf("%s: %s", why, msg)
	}
}

// contribute gives keeper n a shard as spike/bootstrap would.
func (s *deployment) contribute(n int, shard []byte) {
	s.t.Helper()
	s.ContributeShard(s.t, s.tb.Path(contribBin), n, shard)
}

// nexusLogLine returns the first line of the current Nexus log holding
// every one of want, or "".
func (s *deployment) nexusLogLine(want ...string) string {
	b, _ := os.ReadFile(s.NexusLog())
	for line := range strings.Lines(string(b)) {
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(line, w) }) {
			return line
		}
	}
	return ""
}

// freshBootstrap starts every keeper and Nexus, checks that Nexus is
// sealed until spike-bootstrap runs, and bootstraps.
func (s *deployment) freshBootstrap() {
	s.t.Helper()
	begin := time.Now()
	s.StartKeepers(s.t, s.All()...)
	for n := 1; n <= s.Keepers(); n++ {
		if code, body := s.KeeperReadyz(n); code != http.StatusServiceUnavailable {
			s.t.Errorf("keeper %d /readyz before bootstrap: %d %q, want 503 (no shard)", n, code, body)
		}
	}
	s.StartNexus(s.t)
	if code, body := s.Readyz(); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "sealed:") {
		s.t.Fatalf("nexus /readyz before bootstrap: %d %q, want 503 sealed: <reason>", code, body)
	}
	r := s.Bootstrap(s.t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "bootstrap complete") {
		s.t.Fatalf("spike-bootstrap on a fresh %d/%d system: want exit 0 and \"bootstrap complete\"\n%s\n--- nexus log ---\n%s",
			s.Keepers(), s.Threshold(), r, system.Tail(s.NexusLog()))
	}
	s.WaitReady(s.t, "after bootstrap")
	for n := 1; n <= s.Keepers(); n++ {
		if code, body := s.KeeperReadyz(n); code != http.StatusOK {
			s.t.Errorf("keeper %d /readyz after bootstrap: %d %q, want 200", n, code, body)
		}
	}
	s.t.Logf("fresh %d/%d system bootstrapped in %v", s.Keepers(), s.Threshold(), time.Since(begin).Round(time.Millisecond))
}

// bootstrapAgain runs spike-bootstrap on a bootstrapped system: it must
// say so and change nothing.
func (s *deployment) bootstrapAgain(files []recoveryFile) {
	s.t.Helper()
	r := s.Bootstrap(s.t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "already bootstrapped") {
		s.t.Fatalf("spike-bootstrap on a bootstrapped system: want exit 0 and \"already bootstrapped\"\n%s", r)
	}
	if strings.Contains(r.Stdout, "bootstrap complete") {
		s.t.Fatalf("the second spike-bootstrap says it bootstrapped:\n%s", r)
	}
	s.requireKeepersHold(files, "after the second spike-bootstrap every keeper must hold its original shard", s.All()...)
	s.WaitReady(s.t, "after the second spike-bootstrap")
}

// bootstrapAgainSealed runs spike-bootstrap while Nexus is sealed: Nexus
// still knows the system is bootstrapped, so Bootstrap must say so and
// leave the running keepers (ns) with their shards.
func (s *deployment) bootstrapAgainSealed(files []recoveryFile, ns ...int) {
	s.t.Helper()
	r := s.Bootstrap(s.t)
	if r.Code != 0 || !strings.Contains(r.Stdout, "already bootstrapped") {
		s.t.Fatalf("spike-bootstrap against a sealed, bootstrapped nexus: want exit 0 and \"already bootstrapped\"\n%s", r)
	}
	s.requireKeepersHold(files, "after spike-bootstrap against a sealed nexus the keepers must hold their original shards", ns...)
	if code, body := s.Readyz(); code != http.StatusServiceUnavailable {
		s.t.Fatalf("nexus after spike-bootstrap while sealed: /readyz %d %q, want still sealed", code, body)
	}
}
