//go:build linux

package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/test/e2e/loadkit"
	"github.com/spikeledger/spike/test/e2e/system"
)

// crashesEnv sets how many times the crash loop kills Nexus.
const crashesEnv = "SPIKE_E2E_CRASHES"

// crashWorkers is how many clients the crash loop's load runs.
const crashWorkers = 8

// TestCrashLoop kills Nexus with SIGKILL at random moments while eight
// clients run a mixed load, restarting it each time from the keepers,
// and then proves that nothing acknowledged was lost: the check role's
// report (check_test.go) has no problem, the event log verifies offline
// against the checkpoint key, and the projection Nexus kept has the
// digest a full rebuild from the log gives.
func TestCrashLoop(t *testing.T) {
	tb := setup(t)
	crashes, err := loadkit.IntEnv(crashesEnv, 30, 1)
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2})
	key := loadkit.RootKey(t, d, tb.Path(recoverBin))
	defer clear(key[:])

	journal := filepath.Join(d.Dir(), "journal.jsonl")
	load := startLoad(t, tb, d, workersEnv+"="+strconv.Itoa(crashWorkers), journalEnv+"="+journal, keepEnv+"=1")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 15))
	for i := range crashes {
		// Up between 0.2 s and 2 s: long enough for a stream of writes
		// to be in flight, short enough for 30 crashes in a minute or two.
		time.Sleep(200*time.Millisecond + time.Duration(rng.Int64N(int64(1800*time.Millisecond))))
		if load.Exited() {
			t.Fatalf("the load ended by itself after %d crashes\n%s", i, system.Tail(load.Stderr))
		}
		d.KillNexus(t)
		d.StartNexus(t)
		d.WaitReady(t, fmt.Sprintf("after crash %d", i+1))
	}
	time.Sleep(time.Second) // a last stretch of load on a Nexus that stays up
	sum := stopLoad(t, load)
	if sum.Mismatches > 0 {
		t.Errorf("the load saw %d mismatches (a get after an acknowledged put read another version, or a decrypt another plaintext): %q", sum.Mismatches, sum.Errors)
	}
	if sum.Acked[opPut] == 0 || sum.Acked[opGet] == 0 || sum.Acked[opEncrypt] == 0 {
		t.Fatalf("the load had too little acknowledged: %v", sum.Acked)
	}

	rep := check(t, tb, d, journal)
	for i, p := range rep.Problems {
		if i == 50 {
			t.Errorf("… and %d more problems", len(rep.Problems)-i)
			break
		}
		t.Errorf("loss: %s", p)
	}
	forgeriesCaught(t, tb, d, journal)

	d.Nexus().Stop(t)
	size := verifyLog(t, d, rep.VerifierKey)
	compareDigests(t, d, key[:])
	rebuilt := nexusRebuilds(t, d)
	t.Logf("crash loop: %d crashes in %v; acknowledged %d ops (%s); unknown outcome %d (%s); failed %d; "+
		"checked %d paths, %d versions (%d of uncertain deleted state), %d reads against %d secret.read events, %d decrypts, %d policies; "+
		"%d losses; log of %d events verifies offline; projection digest equals a full rebuild's; nexus rebuilt its projection %d times",
		crashes, time.Since(begin).Round(time.Second), total(sum.Acked), byKind(sum.Acked), total(sum.Unknown), byKind(sum.Unknown), total(sum.Failed),
		rep.Paths, rep.Versions, rep.Uncertain, rep.Reads, rep.Events, rep.Decrypted, rep.Policies, len(rep.Problems), size, rebuilt)
}

// check runs the check role on the journal and returns its report.
func check(t *testing.T, tb *system.Testbed, d *system.Deployment, journal string) report {
	t.Helper()
	var rep report
	loadkit.RunJSON(t, d, "check", system.Cmd{Bin: tb.Path(loadBin), Env: d.Env(roleEnv+"=check", journalEnv+"="+journal)}, &rep)
	if rep.VerifierKey == "" {
		t.Fatal("the check role reports no verifier key")
	}
	return rep
}

// forgeriesCaught is the checks' control: a journal of two paths' real
// entries with three forged ones added (a put acknowledged with a version
// the path never had, a get that read a value never written, an encrypt
// whose plaintext is not its envelope's) must give a problem for each
// forgery and no other.
func forgeriesCaught(t *testing.T, tb *system.Testbed, d *system.Deployment, journal string) {
	t.Helper()
	p0, p1 := workerPath(1, 0), workerPath(1, 1)
	b, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	var kept []entry
	var envelope *entry
	for line := range strings.Lines(string(b)) {
		var e entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("journal: %v", err)
		}
		switch {
		case e.Path == p0 || e.Path == p1:
			kept = append(kept, e)
		case e.Op == opEncrypt && e.Outcome == acked && envelope == nil:
			envelope = &e
		}
	}
	if envelope == nil {
		t.Fatal("the journal holds no acknowledged encrypt")
	}
	kept = append(kept,
		entry{Worker: 1, Op: opPut, Outcome: acked, Path: p0, Version: 999_999, Value: "forged-put"},
		entry{Worker: 1, Op: opGet, Outcome: acked, Path: p1, Version: 1, Value: "forged-get"},
		entry{Worker: 1, Op: opEncrypt, Outcome: acked, Value: "forged-plain", Envelope: envelope.Envelope})
	forged := filepath.Join(d.Dir(), "forged.jsonl")
	if err := loadkit.WriteLines(forged, kept); err != nil {
		t.Fatal(err)
	}
	rep := check(t, tb, d, forged)
	for _, want := range []string{p0 + ": version 999999 was acknowledged", `read "forged-get" as version 1`, `envelope of "forged-plain" decrypts to`} {
		if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("the checks miss a forgery: no problem says %q; problems: %q", want, rep.Problems)
		}
	}
	for _, p := range rep.Problems {
		if !strings.HasPrefix(p, p0+":") && !strings.HasPrefix(p, p1+":") && !strings.Contains(p, "forged-plain") {
			t.Errorf("the checks of a journal with three forgeries find another problem: %s", p)
		}
	}
}

// verifyLog verifies the stopped Nexus's event log offline with the
// checkpoint verifier key and returns its size in events.
func verifyLog(t *testing.T, d *system.Deployment, vkey string) uint64 {
	t.Helper()
	rep, err := eventlog.VerifyFile(context.Background(), filepath.Join(d.DataDir(), "events.db"), vkey, eventlog.VerifyOptions{})
	if err != nil {
		t.Fatalf("offline verification of the event log: %v", err)
	}
	if rep.Checkpoints == 0 {
		t.Errorf("the event log of %d events holds no signed checkpoint", rep.Size)
	}
	return rep.Size
}

// compareDigests opens the projection Nexus kept (a copy: opening it
// seals it again at close) on the stopped Nexus's log, which must not
// need a rebuild, and compares its digest with that of a projection
// rebuilt in memory from the whole log.
func compareDigests(t *testing.T, d *system.Deployment, key []byte) {
	t.Helper()
	var obs rebuildCounter
	kept, rebuilt := loadkit.Digests(t, "nexus", d.DataDir(), filepath.Join(d.Dir(), "projection-copy"), key, &obs)
	if obs.n > 0 {
		t.Errorf("the projection nexus kept, after a clean stop, was rebuilt on open")
	}
	if kept != rebuilt {
		t.Errorf("projection digest %x, a full rebuild's %x", kept, rebuilt)
	}
}

// rebuildCounter is a projections.Observer that counts rebuilds.
type rebuildCounter struct{ n int }

func (*rebuildCounter) Applied(int, time.Duration)      {}
func (*rebuildCounter) Queried(string, time.Duration)   {}
func (r *rebuildCounter) Rebuilt(uint64, time.Duration) { r.n++ }

// nexusRebuilds counts the restarts on which Nexus rebuilt its projection
// from the log, from its logs: a first start's build of a new database
// is not one.
func nexusRebuilds(t *testing.T, d *system.Deployment) int {
	t.Helper()
	logs, err := filepath.Glob(filepath.Join(d.LogDir(), "nexus.run-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	n, first := 0, 0
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			switch {
			case !strings.Contains(line, "rebuilding projection from the event log"):
			case strings.Contains(line, "new database"):
				first++
			default:
				n++
				t.Logf("%s: %s", filepath.Base(l), strings.TrimSpace(line))
			}
		}
	}
	// The control: the first start's build is logged the same way, once.
	if first != 1 {
		t.Errorf("the nexus logs say %d times that a new projection database was built, want 1: is the log line still the one searched for?", first)
	}
	return n
}

// byKind lists counts by operation, e.g. "put 120, get 118".
func byKind(m map[string]int) string {
	kinds := make([]string, 0, len(m))
	for k := range m {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, 0, len(kinds))
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
