//go:build linux

package faults

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// canaryPath is the secret every scenario writes first and reads back
// whenever Nexus is ready: read back right, it shows the root key Nexus
// rebuilt is the one that sealed it.
const canaryPath = "faults/canary"

// deployment is one SPIKE system with a proxy in front of every keeper:
// Nexus and Bootstrap reach keeper N only through proxy N, which passes
// bytes through until a scenario makes it slow. The test's own helper
// roles talk to the keepers directly.
type deployment struct {
	*system.Deployment
	tb      *system.Testbed
	proxies []*slowProxy
	// canary is the canary secret's value; vkey the log's verifier key,
	// pinned right after bootstrap; shards what each keeper held then.
	canary string
	vkey   string
	shards []string // hex, keeper N at index N-1
	dir    string   // the operator's recovery files
}

// newDeployment lays out n keepers with the given threshold behind
// proxies; nothing is started.
func newDeployment(t *testing.T, tb *system.Testbed, n, threshold int) *deployment {
	t.Helper()
	proxies := make([]*slowProxy, n)
	urls := make([]string, n)
	for i := range proxies {
		proxies[i] = startProxy(t)
		urls[i] = proxies[i].URL()
	}
	// The later of two settings of a variable wins (os/exec keeps the
	// last): every SPIKE process is told the proxies' URLs.
	d := system.NewDeployment(t, tb, system.DeployOptions{Keepers: n, Threshold: threshold,
		Env: []string{"SPIKE_KEEPERS=" + strings.Join(urls, ","), "SPIKE_NEXUS_KEEPER_HEALTH_INTERVAL=2s"}})
	for i, p := range proxies {
		p.setTarget(strings.TrimPrefix(d.KeeperURL(i+1), "https://"))
	}
	return &deployment{Deployment: d, tb: tb, proxies: proxies, dir: filepath.Join(d.Dir(), "recovery")}
}

// bootstrapped starts every keeper and Nexus, bootstraps, writes the
// canary, pins the verifier key and notes each keeper's shard.
func bootstrapped(t *testing.T, tb *system.Testbed, n, threshold int) *deployment {
	t.Helper()
	s := newDeployment(t, tb, n, threshold)
	s.StartKeepers(t, s.All()...)
	s.StartNexus(t)
	s.bootstrap(t)
	s.WaitReady(t, "after bootstrap")
	s.seed(t)
	return s
}

// bootstrap runs spike-bootstrap, which must bootstrap.
func (s *deployment) bootstrap(t *testing.T) {
	t.Helper()
	if r := s.Bootstrap(t); r.Code != 0 || !strings.Contains(r.Stdout, "bootstrap complete") {
		t.Fatalf("spike-bootstrap on a fresh %d/%d system: want exit 0 and \"bootstrap complete\"\n%s\n--- nexus log ---\n%s",
			s.Keepers(), s.Threshold(), r, system.Tail(s.NexusLog()))
	}
}

// seed writes the canary, pins the verifier key and notes the shards.
func (s *deployment) seed(t *testing.T) {
	t.Helper()
	s.canary = rand.Text()
	// The value goes on standard input, so that it is in no command line.
	if r := s.pilotIn(t, []byte(s.canary), superBin, "secret", "put", canaryPath, "token=-"); r.Code != 0 {
		t.Fatalf("spike secret put %s: %s", canaryPath, r)
	}
	// The first checkpoint is signed within a second of the first events.
	system.WaitFor(t, "a signed checkpoint", s.Nexus(), func() (bool, string) {
		r := s.pilot(t, superBin, "-f", "json", "audit", "checkpoint")
		var cp struct {
			VerifierKey string `json:"verifierKey"`
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &cp) != nil || cp.VerifierKey == "" {
			return false, r.String()
		}
		s.vkey = cp.VerifierKey
		return true, ""
	})
	s.shards = nil
	for n, o := range s.peek(t) {
		if o.Status != http.StatusOK || len(o.Shard) != 64 {
			t.Fatalf("keeper %d after bootstrap: %+v, want its shard", n+1, o)
		}
		s.shards = append(s.shards, o.Shard)
	}
}

// pilot runs the spike CLI under one of its role names.
func (s *deployment) pilot(t testing.TB, name string, args ...string) system.Result {
	t.Helper()
	return s.pilotIn(t, nil, name, args...)
}

// pilotIn is pilot with stdin as its standard input.
func (s *deployment) pilotIn(t testing.TB, stdin []byte, name string, args ...string) system.Result {
	t.Helper()
	return s.Run(t, name, system.Cmd{Bin: s.tb.Path(name), Args: args, Stdin: stdin,
		Env: s.Env("SPIKE_PILOT_RECOVERY_DIR="+s.dir, "SPIKE_SYSTEM_LOG_LEVEL=error")})
}

// intact checks, with Nexus ready, that the canary reads back and that
// the checkpoint Nexus signs now verifies under the key pinned at
// bootstrap: both hold only with the original root key.
func (s *deployment) intact(t testing.TB, why string) {
	t.Helper()
	r := s.pilot(t, superBin, "secret", "get", canaryPath, "token")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != s.canary {
		t.Fatalf("%s: spike secret get %s: want exit 0 and the value written before (%d bytes)\n%s", why, canaryPath, len(s.canary), r)
	}
	r = s.pilot(t, superBin, "-f", "json", "audit", "checkpoint", "--key", s.vkey)
	var cp struct {
		Verified bool `json:"verified"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &cp) != nil || !cp.Verified {
		t.Fatalf("%s: the checkpoint Nexus signs does not verify under the key pinned at bootstrap\n%s", why, r)
	}
}

// verifyLog stops everything and verifies a copy of the log offline
// against the pinned key.
func (s *deployment) verifyLog(t testing.TB) {
	t.Helper()
	s.Shutdown(t)
	b, err := os.ReadFile(filepath.Join(s.DataDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	cp := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(cp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := s.pilot(t, superBin, "audit", "verify", cp, "--key", s.vkey); r.Code != 0 {
		t.Fatalf("spike audit verify of the log after the scenario: %s", r)
	}
}

// peek asks every keeper, as Nexus would, for its shard.
func (s *deployment) peek(t testing.TB) []system.KeeperAnswer {
	t.Helper()
	return s.PeekShards(t, s.tb.Path(peekBin))
}

// holdRight reports whether every keeper holds its shard of bootstrap.
func (s *deployment) holdRight(t testing.TB) (bool, string) {
	for n, o := range s.peek(t) {
		if o.Shard != s.shards[n] {
			return false, fmt.Sprintf("keeper %d: %v, holds its own shard: false", n+1, o)
		}
	}
	return true, ""
}

// contribute gives keeper n a shard (hex) as spike/bootstrap would.
func (s *deployment) contribute(t testing.TB, n int, shard string) {
	t.Helper()
	b, err := hex.DecodeString(shard)
	if err != nil {
		t.Fatalf("contribute to keeper %d: the shard is not hex: %v", n, err)
	}
	s.ContributeShard(t, s.tb.Path(contribBin), n, b)
}

// nexusLogLine returns the first line of the current Nexus log holding
// every one of want, or "".
func (s *deployment) nexusLogLine(want ...string) string {
	b, _ := os.ReadFile(s.NexusLog())
	for line := range strings.Lines(string(b)) {
		if !slices.ContainsFunc(want, func(w string) bool { return !strings.Contains(line, w) }) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// staysSealed checks that /readyz stays 503 for d.
func (s *deployment) staysSealed(t testing.TB, d time.Duration) {
	t.Helper()
	for until := time.Now().Add(d); time.Now().Before(until); time.Sleep(system.Poll) {
		if code, body := s.Readyz(); code != http.StatusServiceUnavailable {
			t.Fatalf("nexus unsealed itself: /readyz %d %q", code, body)
		}
	}
}
