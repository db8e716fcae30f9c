//go:build linux

package custody

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// TestBootstrap3of2: a fresh 3-keeper, threshold-2 system is bootstrapped
// and Nexus comes back by itself after SIGKILL, also with one keeper
// down; a second Bootstrap changes nothing; no shard is left in any log
// or in the data directory.
func TestBootstrap3of2(t *testing.T) {
	t.Parallel()
	s := newDeployment(t, 3, 2)
	var files []recoveryFile
	s.step("fresh bootstrap", s.freshBootstrap)
	s.step("recovery files", func() {
		files = s.takeRecoveryFiles()
		s.requireKeepersHold(files, "after bootstrap keeper N must hold the shard of recovery file N", s.All()...)
	})
	s.step("nexus SIGKILL and restart", func() {
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "after SIGKILL and restart, from the keepers alone")
	})
	s.step("bootstrap again", func() {
		s.bootstrapAgain(files)
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "after the second bootstrap and a SIGKILL")
	})
	s.step("one keeper down", func() {
		s.StopKeepers(s.t, 3)
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "with keeper 3 down")
	})
	s.step("no shard in logs or on disk", func() { s.shutDownAndScan(files) })
}

// TestBootstrap5of3 walks a 5-keeper, threshold-3 system through the
// failures of issue 5: Nexus killed, a second Bootstrap, a keeper holding
// a corrupted shard, two and then three keepers down, every keeper
// restarted empty and the operator's break-glass restore; no shard is
// left in any log or in the data directory.
func TestBootstrap5of3(t *testing.T) {
	t.Parallel()
	s := newDeployment(t, 5, 3)
	var files []recoveryFile
	s.step("fresh bootstrap", s.freshBootstrap)
	s.step("recovery files", func() {
		files = s.takeRecoveryFiles()
		s.requireKeepersHold(files, "after bootstrap keeper N must hold the shard of recovery file N", s.All()...)
	})
	s.step("nexus SIGKILL and restart", func() {
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "after SIGKILL and restart, from the keepers alone")
	})
	s.step("bootstrap again", func() {
		s.bootstrapAgain(files)
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "after the second bootstrap and a SIGKILL")
	})
	s.step("corrupted shard left out", func() { s.corruptedShard(files, 2) })
	s.step("two keepers down", func() {
		s.StopKeepers(s.t, 1, 4)
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "with keepers 1 and 4 down")
	})
	s.step("three keepers down", func() {
		s.StopKeepers(s.t, 5)
		s.RestartNexus(s.t)
		s.staysSealed("with keepers 1, 4 and 5 down")
		// Bootstrap run again against a sealed Nexus (a re-run job while
		// Nexus cannot recover) must still find it bootstrapped and
		// leave the remaining keepers' shards alone.
		s.bootstrapAgainSealed(files, 2, 3)
	})
	s.step("break-glass restore", func() { s.breakGlass(files) })
	s.step("nexus SIGKILL after restore", func() {
		s.RestartNexus(s.t)
		s.WaitReady(s.t, "after the restore and a SIGKILL, from the keepers alone")
	})
	s.step("no shard in logs or on disk", func() { s.shutDownAndScan(files) })
}

// corruptedShard plants a wrong shard in keeper n while Nexus is down:
// Nexus must leave that keeper out, name it, recover from the others and
// then give the keeper its right shard back.
func (s *deployment) corruptedShard(files []recoveryFile, n int) {
	s.t.Helper()
	s.KillNexus(s.t)
	bad := bytes.Clone(files[n-1].shard)
	bad[len(bad)-1] ^= 0x01
	s.contribute(n, bad)
	if ok, _ := s.keepersHold(files, n); ok {
		s.t.Fatalf("keeper %d still holds its right shard after the wrong one was contributed", n)
	}
	s.StartNexus(s.t)
	s.WaitReady(s.t, "with keeper "+itoa(n)+" holding a corrupted shard")
	url := s.KeeperURL(n)
	line := s.nexusLogLine("left out", url)
	if line == "" {
		s.t.Fatalf("the nexus log has no line naming keeper %d (%s) as left out:\n%s", n, url, system.Tail(s.NexusLog()))
	}
	for _, k := range s.All() {
		if k != n && strings.Contains(line, s.KeeperURL(k)) {
			s.t.Errorf("the nexus log leaves out honest keeper %d too: %s", k, line)
		}
	}
	s.t.Logf("nexus log: %s", strings.TrimSpace(line))
	took := system.WaitFor(s.t, "nexus re-sends keeper "+itoa(n)+" its right shard", s.Nexus(), func() (bool, string) {
		return s.keepersHold(files, s.All()...)
	})
	s.t.Logf("keeper %d holds its right shard again %v after nexus was ready", n, took.Round(time.Millisecond))
}

// staysSealed checks that a restarted Nexus without enough keepers stays
// sealed and says why in /readyz and in its log.
func (s *deployment) staysSealed(why string) {
	s.t.Helper()
	body := s.WaitSealed(s.t, "verified shards needed")
	s.t.Logf("nexus /readyz %s: 503 %q", why, strings.TrimSpace(body))
	if line := s.nexusLogLine("verified shards needed"); line == "" {
		s.t.Fatalf("nexus sealed %s: its log does not say why (no \"verified shards needed\"):\n%s", why, system.Tail(s.NexusLog()))
	} else {
		s.t.Logf("nexus log: %s", strings.TrimSpace(line))
	}
	// Sealed it stays: watched over three recovery intervals.
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		if code, body := s.Readyz(); code != http.StatusServiceUnavailable {
			s.t.Fatalf("nexus %s unsealed itself: /readyz %d %q", why, code, body)
		}
		time.Sleep(system.Poll)
	}
}

// breakGlass restarts every keeper empty and Nexus sealed, then feeds
// Nexus the threshold of recovery files with "spike operator restore":
// two as files, the last on standard input. Nexus must unseal, give every
// keeper its shard back, and refuse a further restore.
func (s *deployment) breakGlass(files []recoveryFile) {
	s.t.Helper()
	s.StopKeepers(s.t, 2, 3)
	s.StartKeepers(s.t, s.All()...)
	for n := 1; n <= s.Keepers(); n++ {
		if code, body := s.KeeperReadyz(n); code != http.StatusServiceUnavailable {
			s.t.Fatalf("restarted keeper %d /readyz: %d %q, want 503: a keeper keeps its shard in memory only", n, code, body)
		}
	}
	s.RestartNexus(s.t)
	s.staysSealed("with every keeper restarted empty")

	r := s.pilot(restoreBin, nil, "operator", "restore", files[0].path, files[2].path)
	if r.Code != 0 || strings.Contains(r.Stdout, "restored and ready") {
		s.t.Fatalf("spike operator restore with 2 of 3 shards: want exit 0, not yet restored\n%s", r)
	}
	if code, body := s.Readyz(); code != http.StatusServiceUnavailable {
		s.t.Fatalf("nexus after 2 of 3 restore shards: /readyz %d %q, want still sealed", code, body)
	}
	r = s.pilot(restoreBin, []byte(files[4].text), "operator", "restore")
	if r.Code != 0 || !strings.Contains(r.Stdout, "SPIKE is now restored and ready to use.") {
		s.t.Fatalf("spike operator restore of the third shard on stdin: want exit 0 and \"SPIKE is now restored and ready to use.\"\n%s\n--- nexus log ---\n%s",
			r, system.Tail(s.NexusLog()))
	}
	s.WaitReady(s.t, "after the operator restore")
	took := system.WaitFor(s.t, "nexus re-sends every keeper its shard after the restore", s.Nexus(), func() (bool, string) {
		return s.keepersHold(files, s.All()...)
	})
	s.t.Logf("every keeper holds its shard again %v after nexus was ready", took.Round(time.Millisecond))

	r = s.pilot(restoreBin, nil, "operator", "restore", files[1].path)
	if r.Code != 1 {
		s.t.Errorf("spike operator restore on an unsealed nexus: want exit 1 (refused)\n%s", r)
	}
	if code, body := s.Readyz(); code != http.StatusOK {
		s.t.Fatalf("nexus after a refused restore: /readyz %d %q, want still ready", code, body)
	}
}

// shutDownAndScan stops every process with SIGTERM, so that their last
// words are in the logs and SQLite has checkpointed, and searches the
// logs and the data directory for the shards.
func (s *deployment) shutDownAndScan(files []recoveryFile) {
	s.t.Helper()
	s.Shutdown(s.t)
	s.assertNoShardLeaks(files)
}

func itoa(n int) string { return strconv.Itoa(n) }
