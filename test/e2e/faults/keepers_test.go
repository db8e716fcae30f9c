//go:build linux

package faults

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/test/e2e/system"
)

// keeperTimeout is Nexus's keeper client timeout (nexus.Run: a whole
// call, 10 s); slowDelay holds a slow keeper's answers past it.
const (
	keeperTimeout = 10 * time.Second
	slowDelay     = keeperTimeout + 5*time.Second
)

// fault is one row of the table: which keepers misbehave how while
// Nexus restarts, and whether it must end ready.
type fault struct {
	name        string
	down, slow  []int // stopped; answering after Nexus's timeout
	liars       []int // holding a valid-looking shard of another key
	collude     bool  // the liars' shards are of one other key (they combine)
	ready       bool  // ready iff at least threshold honest, timely keepers
	longRunOnly bool  // only with SPIKE_E2E_FAULTS_ALL=1
}

// honest counts the keepers that are neither down, slow nor lying.
func (f fault) honest(n int) int {
	return n - len(f.down) - len(f.slow) - len(f.liars)
}

// allEnv runs every row of the tables, not only the default ones.
const allEnv = "SPIKE_E2E_FAULTS_ALL"

// TestKeeperFaults3of2 and TestKeeperFaults5of3 restart Nexus with
// keepers down, slow and lying in combination. Nexus must be ready
// exactly when at least the threshold of keepers are honest and timely,
// then with the original root key (the canary reads back, the checkpoint
// verifies under the key pinned at bootstrap) and naming every liar in
// its log, and otherwise sealed with /readyz and its log saying how many
// verified shards it has and which keepers were unreachable or wrong.
// Colluding liars hold shards of one other key that combine into it:
// Nexus must still refuse them. The log verifies offline at the end.
func TestKeeperFaults3of2(t *testing.T) {
	t.Parallel()
	runFaults(t, 3, 2, []fault{
		{name: "one slow", slow: []int{2}, ready: true},
		{name: "one liar", liars: []int{3}, ready: true},
		{name: "one liar one down", liars: []int{1}, down: []int{3}},
		{name: "one slow one liar", slow: []int{1}, liars: []int{2}},
		{name: "two colluding liars", liars: []int{1, 3}, collude: true},
		{name: "one down", down: []int{2}, ready: true, longRunOnly: true},
		{name: "two liars", liars: []int{2, 3}, longRunOnly: true},
		{name: "three slow", slow: []int{1, 2, 3}, longRunOnly: true},
		{name: "one slow one down", slow: []int{3}, down: []int{1}, longRunOnly: true},
	})
}

func TestKeeperFaults5of3(t *testing.T) {
	t.Parallel()
	runFaults(t, 5, 3, []fault{
		{name: "two liars", liars: []int{2, 5}, ready: true},
		{name: "two slow", slow: []int{1, 4}, ready: true},
		{name: "one liar one slow one down", liars: []int{1}, slow: []int{3}, down: []int{5}},
		{name: "three colluding liars", liars: []int{2, 3, 4}, collude: true},
		{name: "one liar one slow", liars: []int{4}, slow: []int{2}, ready: true, longRunOnly: true},
		{name: "two liars one down", liars: []int{1, 2}, down: []int{3}, longRunOnly: true},
		{name: "two colluding liars one slow", liars: []int{1, 5}, slow: []int{3}, collude: true, longRunOnly: true},
		{name: "three slow", slow: []int{1, 2, 3}, longRunOnly: true},
	})
}

func runFaults(t *testing.T, n, threshold int, rows []fault) {
	tb := setup(t)
	all := os.Getenv(allEnv) != ""
	s := bootstrapped(t, tb, n, threshold)
	for _, f := range rows {
		if f.longRunOnly && !all {
			continue
		}
		if want := f.honest(n) >= threshold; want != f.ready {
			t.Fatalf("row %q: the table says ready=%v, the design ready=%v", f.name, f.ready, want)
		}
		if !t.Run(f.name, func(t *testing.T) { s.fault(t, f) }) {
			t.FailNow() // later rows start from this one's healed state
		}
	}
	s.verifyLog(t)
}

// fault restarts Nexus under f, checks how it ends, and heals.
func (s *deployment) fault(t *testing.T, f fault) {
	s.KillNexus(t)
	s.lie(t, f)
	s.StopKeepers(t, f.down...)
	for _, k := range f.slow {
		s.proxies[k-1].setDelay(slowDelay)
	}
	s.StartNexus(t)
	begin := time.Now()
	if f.ready {
		s.WaitReady(t, "with "+f.name)
		took := time.Since(begin)
		s.intact(t, "ready with "+f.name)
		s.liarsNamed(t, f)
		s.absentNamed(t, f)
		t.Logf("ROW %d/%d %s: expected ready, observed ready in %v", s.Keepers(), s.Threshold(), f.name, took.Round(100*time.Millisecond))
	} else {
		want := fmt.Sprintf("%d of %d verified shards needed", f.honest(s.Keepers()), s.Threshold())
		body := strings.TrimSpace(s.WaitSealed(t, want))
		took := time.Since(begin)
		s.sealedReason(t, f, body)
		// Sealed it stays, over at least one more recovery attempt
		// (which waits out the slow keepers' timeout).
		s.staysSealed(t, keeperTimeout+2*time.Second)
		t.Logf("ROW %d/%d %s: expected sealed, observed sealed in %v: %s", s.Keepers(), s.Threshold(), f.name, took.Round(100*time.Millisecond), body)
	}
	s.heal(t, f)
}

// lie gives each liar a shard of another key with the liar's index: the
// right length and position, the wrong value. Colluding liars share one
// other key, so that their shards combine.
func (s *deployment) lie(t *testing.T, f fault) {
	var shares []shamir.Share
	for _, k := range f.liars {
		if shares == nil || !f.collude {
			var key [shamir.KeySize]byte
			rand.Read(key[:])
			var err error
			if shares, _, err = shamir.Split(&key, shamir.Params{Shares: s.Keepers(), Threshold: s.Threshold()}); err != nil {
				t.Fatal(err)
			}
			clear(key[:])
		}
		s.contribute(t, k, hex.EncodeToString(shares[k-1].Value[:]))
	}
	if len(f.liars) > 0 {
		for n, o := range s.peek(t) {
			if slices.Contains(f.liars, n+1) && (o.Status != http.StatusOK || o.Shard == s.shards[n] || len(o.Shard) != 64) {
				t.Fatalf("liar keeper %d: %+v, want it to hold a wrong shard of the right length", n+1, o)
			}
		}
	}
}

// liarsNamed checks that Nexus's log leaves out each liar, by its URL,
// and no honest keeper.
func (s *deployment) liarsNamed(t *testing.T, f fault) {
	if len(f.liars) == 0 {
		return
	}
	line := s.nexusLogLine("left out")
	if line == "" {
		t.Fatalf("nexus ready with liars %v: its log has no line leaving them out:\n%s", f.liars, system.Tail(s.NexusLog()))
	}
	for n := 1; n <= s.Keepers(); n++ {
		if named := strings.Contains(line, s.proxies[n-1].URL()); named != slices.Contains(f.liars, n) {
			t.Errorf("nexus log, keeper %d (%s) named as left out: %v, want %v: %s", n, s.proxies[n-1].URL(), named, !named, line)
		}
	}
	t.Logf("nexus log: %s", line)
}

// absentNamed checks that Nexus, ready without the down and slow
// keepers, names each of them, and no other, in its log.
func (s *deployment) absentNamed(t *testing.T, f fault) {
	gone := slices.Concat(f.down, f.slow)
	if len(gone) == 0 {
		return
	}
	line := s.nexusLogLine("root key recovered without some keepers")
	if line == "" {
		t.Fatalf("nexus ready without keepers %v: its log does not name them:\n%s", gone, system.Tail(s.NexusLog()))
	}
	for n := 1; n <= s.Keepers(); n++ {
		if named := strings.Contains(line, s.proxies[n-1].URL()); named != slices.Contains(gone, n) {
			t.Errorf("nexus log, keeper %d (%s) named as absent: %v, want %v: %s", n, s.proxies[n-1].URL(), named, !named, line)
		}
	}
	t.Logf("nexus log: %s", line)
}

// sealedReason checks that /readyz and Nexus's log say why: the
// unreachable keepers (down and slow) and the wrong ones (liars), each
// by its URL, in the right list.
func (s *deployment) sealedReason(t *testing.T, f fault, body string) {
	_, wrong, ok := strings.Cut(body, "wrong shard:")
	unreachable, _, _ := strings.Cut(body, "wrong shard:")
	if !ok {
		t.Fatalf("nexus /readyz %q: no list of wrong shards", body)
	}
	for n := 1; n <= s.Keepers(); n++ {
		u := s.proxies[n-1].URL()
		isLiar := slices.Contains(f.liars, n)
		gone := slices.Contains(f.down, n) || slices.Contains(f.slow, n)
		if strings.Contains(wrong, u) != isLiar {
			t.Errorf("nexus /readyz lists keeper %d as wrong: %v, want %v: %q", n, !isLiar, isLiar, body)
		}
		if strings.Contains(unreachable, u) != gone {
			t.Errorf("nexus /readyz lists keeper %d as unreachable: %v, want %v: %q", n, !gone, gone, body)
		}
	}
	reason := strings.TrimPrefix(body, "sealed: ")
	head, _, _ := strings.Cut(reason, ";") // the log line escapes the URLs' quotes; the count is plain
	if line := s.nexusLogLine("nexus sealed", head); line == "" {
		t.Errorf("nexus sealed: its log has no \"nexus sealed\" line with %q:\n%s", reason, system.Tail(s.NexusLog()))
	} else {
		t.Logf("nexus log: %s", line)
	}
}

// heal ends every fault: answers flow again, stopped keepers start, and
// every keeper is given its own shard back; then Nexus must be ready
// with the original key.
func (s *deployment) heal(t *testing.T, f fault) {
	for _, p := range s.proxies {
		p.setDelay(0)
	}
	s.StartKeepers(t, f.down...)
	for _, k := range slices.Concat(f.down, f.slow, f.liars) {
		s.contribute(t, k, s.shards[k-1])
	}
	s.WaitReady(t, "after healing "+f.name)
	s.intact(t, "after healing "+f.name)
	if ok, msg := s.holdRight(t); !ok {
		t.Fatalf("after healing %s: %s", f.name, msg)
	}
}
