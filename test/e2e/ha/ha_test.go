//go:build linux

package ha

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/loadkit"
	"github.com/spikeledger/spike/test/e2e/system"
)

// replicaEnv is every test's replica setting: paths keep every version,
// so that the checks can read each acknowledged one back.
var replicaEnv = []string{"SPIKE_NEXUS_MAX_SECRET_VERSIONS=100000"}

// settle is how long a load runs on a quiet cluster before and after
// the faults.
const settle = time.Second

// backoffSettle is how long the load runs after the last kill: longer
// than the SDK's largest backoff step (2 s), so that every retrying
// client has written again.
const backoffSettle = 3 * time.Second

// finish stops every replica and runs the offline checks, with the root
// key from the recovery files taken through replica i while it runs.
func (c *cluster) finish(t *testing.T, i int, vkey string) uint64 {
	t.Helper()
	key := loadkit.RootKey(t, c.d, c.tb.Path(recoverBin), "SPIKE_NEXUS_URL="+c.url(i))
	defer clear(key[:])
	c.stopAll(t)
	return c.offlineChecks(t, vkey, key[:])
}

// noWrongAnswers fails t on any mismatch the load saw.
func noWrongAnswers(t *testing.T, s summary) {
	t.Helper()
	if s.Mismatches > 0 {
		t.Errorf("the load saw %d wrong answers: %q", s.Mismatches, s.Errors)
	}
	if s.Acked[opPut] == 0 || s.Acked[opGet] == 0 {
		t.Fatalf("the load had too little acknowledged: %v (errors %q)", s.Acked, s.Errors)
	}
}

// TestClusterForms: three replicas and one bootstrap give one leader and
// two ready followers; a client at each replica writes and reads; every
// acknowledged read is recorded once, however it was forwarded.
func TestClusterForms(t *testing.T) {
	tb := setup(t)
	c := formCluster(t, tb, replicaEnv...)
	lp := c.startLoad(t, loadOptions{name: "forms", workers: replicaCount, paths: 2, rounds: 5, retry: 30 * time.Second})
	s, entries := lp.stop(t)
	noWrongAnswers(t, s)
	if n := s.total(s.Unknown) + s.total(s.Failed); n > 0 {
		t.Errorf("%d operations failed on a healthy cluster: %q", n, s.Errors)
	}
	for i := range c.reps {
		if !ackedVia(entries, i) {
			t.Errorf("no acknowledged put and get through replica %s", c.reps[i].id)
		}
	}
	lead := c.waitCluster(t, "after the load")
	rep := c.check(t, lp.journal, (lead+1)%replicaCount)
	if rep.Events != rep.Reads {
		t.Errorf("%d secret.read events for %d acknowledged reads: want each recorded once", rep.Events, rep.Reads)
	}
	size := c.finish(t, lead, rep.VerifierKey)
	t.Logf("cluster forms: leader %s; acknowledged %v; checked %d paths, %d versions, %d reads = %d events; logs of %d events",
		c.reps[lead].id, s.Acked, rep.Paths, rep.Versions, rep.Reads, rep.Events, size)
}

// ackedVia reports whether a put and a get through replica i were
// acknowledged.
func ackedVia(entries []entry, i int) bool {
	put, get := false, false
	for _, e := range entries {
		if e.Replica == i && e.Outcome == acked {
			put, get = put || e.Op == opPut, get || e.Op == opGet
		}
	}
	return put && get
}

// TestFailover SIGKILLs the leader ten times (SPIKE_E2E_HA_LONG=1: 30)
// under a mixed load from six clients with the SDK's retries, two at each
// replica, and three probers without them, one at each replica,
// restarting it each time; then nothing acknowledged is lost, no answer
// was wrong, the time from a kill to the acknowledgement of the first
// write begun after it (by any client) is at most 3 s at p99, and the
// offline checks pass. The same
// time seen by the retrying clients alone is reported beside it: it adds
// the SDK's backoff, which doubles up to 2 s between attempts.
func TestFailover(t *testing.T) {
	tb := setup(t)
	kills := 10
	if long() {
		kills = 30
	}
	c := formCluster(t, tb, replicaEnv...)
	lp := c.startLoad(t, loadOptions{name: "failover", workers: 2 * replicaCount, probers: replicaCount, paths: 16, retry: 30 * time.Second})
	time.Sleep(settle)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16))
	var at []time.Time
	lead := c.waitCluster(t, "before the kills")
	for k := range kills {
		// Leader for 0.5 to 1.5 s: writes in flight at every kill.
		time.Sleep(500*time.Millisecond + time.Duration(rng.Int64N(int64(time.Second))))
		if lp.Exited() {
			t.Fatalf("the load ended by itself after %d kills\n%s", k, system.Tail(lp.Stderr))
		}
		at = append(at, c.kill(t, lead))
		c.start(t, lead)
		lead = c.waitCluster(t, fmt.Sprintf("after kill %d of %s", k+1, c.reps[lead].id))
	}
	time.Sleep(backoffSettle)
	s, entries := lp.stop(t)
	noWrongAnswers(t, s)
	rec, err := recoveries(entries, at)
	if err != nil {
		t.Fatal(err)
	}
	p99 := quantile(rec, 0.99)
	t.Logf("failover: kill → acknowledgement of the first write begun after it, any client, over %d kills: %s", len(rec), distribution(rec))
	if p99 > 3*time.Second {
		t.Errorf("kill → acknowledgement of the first write begun after it: p99 %v, want at most 3s", p99)
	}
	retrying := slices.DeleteFunc(slices.Clone(entries), func(e entry) bool { return e.Probe })
	if rec, err := recoveries(retrying, at); err != nil {
		t.Logf("failover: the retrying clients, reported only: %v", err)
	} else {
		t.Logf("failover: the same, retrying clients only: %s", distribution(rec))
	}
	rep := c.check(t, lp.journal, lead)
	size := c.finish(t, lead, rep.VerifierKey)
	t.Logf("failover: %d kills; acknowledged %v, unknown outcome %v, failed %v; checked %d paths, %d versions, %d reads against %d events; logs of %d events",
		kills, s.Acked, s.Unknown, s.Failed, rep.Paths, rep.Versions, rep.Reads, rep.Events, size)
}

// distribution says p50, p99, max and every value, to the millisecond.
func distribution(ds []time.Duration) string {
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	all := make([]time.Duration, len(ds))
	for i, d := range ds {
		all[i] = ms(d)
	}
	return fmt.Sprintf("p50 %v, p99 %v, max %v (in kill order: %v)", ms(quantile(ds, 0.5)), ms(quantile(ds, 0.99)), ms(quantile(ds, 1)), all)
}

// partitionFor is how long the leader stays cut off.
const partitionFor = 5 * time.Second

// TestPartition cuts the leader off from its peers (its Raft
// connections, both ways; see raftproxy_test.go) while a client at each
// replica writes and reads with a short retry wait, and a prober at each
// without retries tries again every 20 ms: the old leader
// acknowledges no write and no audited read begun after the cut, the
// other two elect a leader and serve; healed, the old leader follows the
// new one, serves again and ends with the same log.
func TestPartition(t *testing.T) {
	tb := setup(t)
	c := formCluster(t, tb, replicaEnv...)
	old := c.waitCluster(t, "before the partition")
	lp := c.startLoad(t, loadOptions{name: "partition", workers: replicaCount, probers: replicaCount, paths: 8, retry: 2 * time.Second})
	time.Sleep(settle)
	cut := time.Now()
	c.pt.isolate(old)
	var rest []int
	for i := range c.reps {
		if i != old {
			rest = append(rest, i)
		}
	}
	lead := c.waitLeaderAmong(t, "after the cut", rest...)
	elected := time.Now()
	t.Logf("partition: %s cut off; %s leads %v after the cut", c.reps[old].id, c.reps[lead].id, elected.Sub(cut).Round(time.Millisecond))
	time.Sleep(partitionFor)
	code, body := c.readyz(old)
	t.Logf("partition: the cut-off %s's /readyz after %v: %d %q", c.reps[old].id, partitionFor, code, body)
	healed := time.Now()
	c.pt.heal()
	after := c.waitCluster(t, "after the partition heals")
	if after == old {
		t.Errorf("after the partition healed, %s, which missed writes, leads", c.reps[old].id)
	}
	time.Sleep(2 * settle)
	s, entries := lp.stop(t)
	noWrongAnswers(t, s)

	var tried, fenced, majority, back int
	for _, e := range entries {
		if e.Replica == old && e.Start >= cut.UnixNano() && e.End < healed.UnixNano() {
			tried++
		}
		if e.Outcome != acked {
			continue
		}
		switch {
		case e.Replica == old && e.Start >= cut.UnixNano() && e.End < healed.UnixNano():
			fenced++
			t.Errorf("the cut-off old leader acknowledged a %s of %s begun %v after the cut", e.Op, e.Path, time.Duration(e.Start-cut.UnixNano()))
		case e.Replica != old && e.Op == opPut && e.Start >= elected.UnixNano() && e.End < healed.UnixNano():
			majority++
		case e.Replica == old && e.Op == opPut && e.Start >= healed.UnixNano():
			back++
		}
	}
	if tried == 0 {
		t.Error("the client at the cut-off old leader tried nothing during the cut: the fencing check saw nothing")
	}
	if majority == 0 {
		t.Error("the majority acknowledged no write while the old leader was cut off")
	}
	if back == 0 {
		t.Errorf("the old leader %s acknowledged no write after the partition healed", c.reps[old].id)
	}
	rep := c.check(t, lp.journal, after)
	size := c.finish(t, after, rep.VerifierKey)
	t.Logf("partition: %d of %d operations tried at the cut-off leader acknowledged, %d writes by the majority during the cut, %d through the old leader after healing; "+
		"acknowledged %v, unknown outcome %v, failed %v; logs of %d events", fenced, tried, majority, back, s.Acked, s.Unknown, s.Failed, size)
}

// TestRollingRestart restarts every replica in turn with SIGTERM under a
// load of three clients, one at each replica, whose SDK retries: none of
// their requests fails. The one exception is a write in flight while its
// replica stopped (begun before, perhaps retrying through the previous
// restart's election, or during) or just after it came back, whose
// connection broke: HTTP/1.1 cannot tell its client whether the server
// read it, so its outcome is unknown (the SDK retries only what was
// never sent), and the check of every replica's log and projection below
// covers it whichever way it went.
func TestRollingRestart(t *testing.T) {
	tb := setup(t)
	c := formCluster(t, tb, replicaEnv...)
	lp := c.startLoad(t, loadOptions{name: "rolling", workers: replicaCount, paths: 8, retry: 30 * time.Second})
	time.Sleep(settle)
	stopped, back := make([]time.Time, len(c.reps)), make([]time.Time, len(c.reps))
	for i, r := range c.reps {
		stopped[i] = time.Now()
		c.stop(t, i)
		c.start(t, i)
		c.waitCluster(t, "after restarting "+r.id)
		back[i] = time.Now()
	}
	time.Sleep(settle)
	s, entries := lp.stop(t)
	noWrongAnswers(t, s)
	for _, e := range entries {
		after := time.Duration(e.Start - stopped[e.Replica].UnixNano()).Round(time.Millisecond)
		switch {
		case e.Outcome == acked:
		case e.Outcome == unknown && e.End >= stopped[e.Replica].UnixNano() && e.Start < back[e.Replica].Add(reconnectGrace).UnixNano() && brokenConnection(e.Err):
			t.Logf("outcome unknown: %s of %s through %s, begun %v after %s got SIGTERM, its connection closed: %s",
				e.Op, e.Path, c.reps[e.Replica].id, after, c.reps[e.Replica].id, e.Err)
		default:
			t.Errorf("failed during the rolling restart: %s of %s through %s, begun %v after %s got SIGTERM and ended %v after; it was back %v after: %s\n%s",
				e.Op, e.Path, c.reps[e.Replica].id, after, c.reps[e.Replica].id,
				time.Duration(e.End-stopped[e.Replica].UnixNano()).Round(time.Millisecond), back[e.Replica].Sub(stopped[e.Replica]).Round(time.Millisecond),
				e.Err, c.warnings(e.Replica))
		}
	}
	lead := c.waitCluster(t, "after the rolling restart")
	rep := c.check(t, lp.journal, lead)
	size := c.finish(t, lead, rep.VerifierKey)
	t.Logf("rolling restart: acknowledged %v, unknown outcome %v, failed %v; logs of %d events", s.Acked, s.Unknown, s.Failed, size)
}

// TestReplaceReplica stops a follower, empties its data directory and
// brings it back as a new member: removed and added again with spike
// operator cluster when the CLI has it, else restarted under its id to
// join. It catches up (where spike-nexus lets the snapshot threshold and
// trailing logs be set, the replicas snapshot every 64 entries and keep
// 16, so it must install a snapshot) and ends with the same log; cluster
// list shows it.
func TestReplaceReplica(t *testing.T) {
	tb := setup(t)
	env := replicaEnv
	snapshots := nexusKnows(snapshotEnv) && nexusKnows(trailingEnv)
	if snapshots {
		env = append(env, snapshotEnv+"=64", trailingEnv+"=16")
	} else {
		t.Logf("spike-nexus has no %s and %s: the replaced replica catches up by whatever Raft sends it, snapshot or entries", snapshotEnv, trailingEnv)
	}
	c := formCluster(t, tb, env...)
	lp := c.startLoad(t, loadOptions{name: "before", workers: replicaCount, paths: 4, rounds: 20, retry: 30 * time.Second})
	s, before := lp.stop(t)
	noWrongAnswers(t, s)
	lead := c.waitCluster(t, "before the replacement")
	if snapshots {
		// Raft snapshots on a timer (5 to 10 s at this threshold): the
		// leader's log must be cut back before the empty replica asks.
		dir := filepath.Join(c.reps[lead].dataDir, "raft", "snapshots", "*")
		deadline := time.Now().Add(45 * time.Second)
		for {
			if m, _ := filepath.Glob(dir); len(m) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the leader took no snapshot within 45 s (%s)", dir)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	f := (lead + 1) % replicaCount
	r := c.reps[f]
	cli := c.clusterCLI(t, lead)
	c.stop(t, f)
	if err := os.RemoveAll(r.dataDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if cli {
		c.operator(t, lead, "cluster", "remove", r.id, "--yes")
	}
	r.join = true
	c.start(t, f)
	if cli {
		c.operator(t, lead, "cluster", "add", r.id, r.proxy.Addr(), r.tls)
	}
	lead = c.waitCluster(t, "after the replacement")
	lp = c.startLoad(t, loadOptions{name: "after", workers: replicaCount, paths: 4, rounds: 5, retry: 30 * time.Second})
	s2, entries := lp.stop(t)
	noWrongAnswers(t, s2)
	if !ackedVia(entries, f) {
		t.Errorf("no acknowledged put and get through the replaced replica %s", r.id)
	}
	if cli {
		out := c.operator(t, lead, "cluster", "list")
		if !strings.Contains(out, r.id) || !strings.Contains(out, r.proxy.Addr()) {
			t.Errorf("spike operator cluster list does not show %s at %s:\n%s", r.id, r.proxy.Addr(), out)
		}
	} else {
		t.Logf("spike operator cluster is not in this tree's CLI: %s rejoined under its id, and cluster list was not checked", r.id)
	}
	snap, err := os.ReadFile(c.log(f))
	if err != nil {
		t.Fatal(err)
	}
	installed := strings.Count(string(snap), "installed a snapshot of the log")
	if snapshots && installed == 0 {
		t.Errorf("%s caught up without installing a snapshot, though the others snapshot every 64 entries and keep 16", r.id)
	}
	// The second load wrote the first's paths again: check both together.
	both := filepath.Join(c.d.Dir(), "replace.journal.jsonl")
	if err := loadkit.WriteLines(both, append(before, entries...)); err != nil {
		t.Fatal(err)
	}
	rep := c.check(t, both, f)
	size := c.finish(t, lead, rep.VerifierKey)
	t.Logf("replace: %s replaced with an empty data directory (cluster CLI %v, small snapshot threshold %v, snapshots it installed %d); acknowledged %v then %v; logs of %d events",
		r.id, cli, snapshots, installed, s.Acked, s2.Acked, size)
}

// snapshotEnv and trailingEnv set after how many Raft entries a replica
// snapshots and how many it keeps after a snapshot, if spike-nexus has
// the settings: with both small, a new replica must install a snapshot.
const (
	snapshotEnv = "SPIKE_NEXUS_CLUSTER_SNAPSHOT_THRESHOLD"
	trailingEnv = "SPIKE_NEXUS_CLUSTER_TRAILING_LOGS"
)

// clusterCLI reports whether this tree's spike has operator cluster.
func (c *cluster) clusterCLI(t *testing.T, i int) bool {
	t.Helper()
	r := system.Run(t, system.Cmd{Bin: c.tb.Path(operatorBin), Args: []string{"operator", "cluster", "list"},
		Env: c.d.Env("SPIKE_NEXUS_URL=" + c.url(i))})
	return r.Code == 0
}

// operator runs spike operator as the superuser through replica i and
// returns its standard output; a failure fails t.
func (c *cluster) operator(t *testing.T, i int, args ...string) string {
	t.Helper()
	r := c.d.Run(t, "operator-"+args[0]+"-"+args[1], system.Cmd{Bin: c.tb.Path(operatorBin), Args: append([]string{"operator"}, args...),
		Env: c.d.Env("SPIKE_NEXUS_URL=" + c.url(i))})
	if r.Code != 0 {
		t.Fatalf("spike operator %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

// reconnectGrace is how long after a replica is back a write through it
// may still find its connection broken: its client's connections and
// its own to the leader are made anew after a restart.
const reconnectGrace = time.Second

// warnings returns the warnings and errors replica i logged in its runs
// so far, for a failure's message.
func (c *cluster) warnings(i int) string {
	var out []string
	for run := 1; run <= c.reps[i].runs; run++ {
		b, err := os.ReadFile(c.runLog(i, run))
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		for line := range strings.Lines(string(b)) {
			if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
				out = append(out, fmt.Sprintf("run %d: %s", run, strings.TrimSpace(line)))
			}
		}
	}
	return strings.Join(out[max(0, len(out)-30):], "\n")
}

// brokenConnection reports whether a journal entry's error says the
// connection ended under a request already sent: an EOF or a reset.
func brokenConnection(err string) bool {
	return strings.HasSuffix(err, ": EOF") || strings.HasSuffix(err, "connection reset by peer")
}
