//go:build linux

package ha

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// replicaCount is the size of every test's cluster.
const replicaCount = 3

// A replica's roles as its /readyz says them.
const (
	leader   = "leader"
	follower = "follower"
)

// replica is one spike-nexus position: id, addresses and data directory
// outlive its processes.
type replica struct {
	id             string // n1, n2, …
	tls, ops, raft string // API, ops and real Raft listen addresses
	proxy          *raftProxy
	dataDir        string
	proc           *system.Proc
	runs           int
	started        time.Time
	join           bool // started as a replica added to a running group
}

// cluster is three replicas and three keepers (threshold two) on one
// testbed. Raft traffic between replicas goes through the partition's
// proxies. Driven by one goroutine.
type cluster struct {
	tb   *system.Testbed
	d    *system.Deployment
	reps []*replica
	pt   *partition
	env  []string // added to every replica's environment
}

// newCluster lays out the keepers and replicas and starts the keepers;
// no replica runs yet. env is added to every replica's environment.
func newCluster(t *testing.T, tb *system.Testbed, env ...string) *cluster {
	t.Helper()
	c := &cluster{tb: tb, d: system.NewDeployment(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2}), env: env}
	c.pt = newPartition(func(i int) int {
		if p := c.reps[i].proc; p != nil && !p.Exited() {
			return p.Pid()
		}
		return 0
	})
	for i := range replicaCount {
		r := &replica{id: fmt.Sprintf("n%d", i+1), tls: tb.FreeAddr(t), ops: tb.FreeAddr(t), raft: tb.FreeAddr(t),
			dataDir: filepath.Join(c.d.Dir(), fmt.Sprintf("replica-%d", i+1))}
		if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
			t.Fatal(err)
		}
		r.proxy = c.pt.startProxy(t, tb.FreeAddr(t), r.raft, i)
		c.reps = append(c.reps, r)
	}
	c.d.StartKeepers(t, c.d.All()...)
	return c
}

// formCluster starts every replica, bootstraps through replica 1 and
// waits for one leader and two followers.
func formCluster(t *testing.T, tb *system.Testbed, env ...string) *cluster {
	t.Helper()
	c := newCluster(t, tb, env...)
	for i := range c.reps {
		c.start(t, i)
	}
	r := c.d.Run(t, "bootstrap", system.Cmd{Bin: tb.Bootstrap(),
		Env: c.d.Env("SPIKE_BOOTSTRAP_TIMEOUT=2m", "SPIKE_NEXUS_URL="+c.url(0))})
	if r.Code != 0 || !strings.Contains(r.Stdout, "bootstrap complete") {
		t.Fatalf("spike-bootstrap through replica n1: want exit 0 and \"bootstrap complete\"\n%s\n--- n1 log ---\n%s", r, system.Tail(c.log(0)))
	}
	c.waitCluster(t, "after bootstrap")
	return c
}

// peers is SPIKE_NEXUS_CLUSTER_PEERS: each replica's Raft address is its
// proxy's.
func (c *cluster) peers() string {
	parts := make([]string, len(c.reps))
	for i, r := range c.reps {
		parts[i] = r.id + "=" + r.proxy.Addr() + "=" + r.tls
	}
	return strings.Join(parts, ",")
}

// url is replica i's API URL.
func (c *cluster) url(i int) string { return "https://" + c.reps[i].tls }

// urls is every replica's API URL, n1 first.
func (c *cluster) urls() []string {
	out := make([]string, len(c.reps))
	for i := range c.reps {
		out[i] = c.url(i)
	}
	return out
}

// log is the log file of replica i's latest run.
func (c *cluster) log(i int) string { return c.runLog(i, c.reps[i].runs) }

// runLog is the log file of replica i's run (from 1).
func (c *cluster) runLog(i, run int) string {
	return filepath.Join(c.d.LogDir(), fmt.Sprintf("nexus-%s.run-%d.log", c.reps[i].id, run))
}

// start starts replica i on its data directory and waits until it
// answers /healthz.
func (c *cluster) start(t *testing.T, i int) {
	t.Helper()
	r := c.reps[i]
	if r.proc != nil && !r.proc.Exited() {
		t.Fatalf("replica %s is already running", r.id)
	}
	r.runs++
	r.started = time.Now()
	env := []string{"SPIKE_DATA_DIR=" + r.dataDir, "SPIKE_NEXUS_TLS_PORT=" + r.tls, "SPIKE_NEXUS_OPS_ADDR=" + r.ops,
		"SPIKE_NEXUS_RECOVERY_MAX_INTERVAL=1s", "SPIKE_NEXUS_KEEPER_UPDATE_INTERVAL=1h",
		"SPIKE_NEXUS_CLUSTER_ID=" + r.id, "SPIKE_NEXUS_CLUSTER_PEERS=" + c.peers(), "SPIKE_NEXUS_CLUSTER_ADDR=" + r.raft,
		"SPIKE_NEXUS_URL=" + c.url(i)}
	if r.join {
		env = append(env, "SPIKE_NEXUS_CLUSTER_JOIN=true")
	}
	r.proc = system.StartProc(t, t, "spike-nexus "+r.id, c.tb.Nexus(), c.log(i), c.d.Env(append(env, c.env...)...))
	system.WaitFor(t, r.id+" /healthz", r.proc, system.OKAt("http://"+r.ops+"/healthz"))
}

// kill ends replica i with SIGKILL and returns when it was sent.
func (c *cluster) kill(t *testing.T, i int) time.Time {
	t.Helper()
	at := time.Now()
	c.reps[i].proc.Kill(t)
	return at
}

// stop ends replica i with SIGTERM.
func (c *cluster) stop(t *testing.T, i int) {
	t.Helper()
	c.reps[i].proc.Stop(t)
}

// stopAll waits until the replicas agree (quiesce), then stops them with
// SIGTERM, followers first: a leader stopped first would leave entries it
// committed unapplied on followers that had not yet heard of the commit,
// and a leader without its followers can commit nothing more.
func (c *cluster) stopAll(t *testing.T) {
	t.Helper()
	lead := c.waitCluster(t, "before stopping")
	c.quiesce(t)
	for i, r := range c.reps {
		if i != lead && r.proc != nil && !r.proc.Exited() {
			c.stop(t, i)
		}
	}
	c.stop(t, lead)
}

// quiesce waits until every replica's log holds the same number of events
// and its newest checkpoint covers them all (a checkpoint follows an
// append within a second or so), unchanged over a few polls.
func (c *cluster) quiesce(t *testing.T) {
	t.Helper()
	var last string
	same := 0
	system.WaitFor(t, "every replica at the same log size, fully checkpointed", nil, func() (bool, string) {
		var sizes []string
		var counts []float64
		for i := range c.reps {
			m, err := c.metrics(i, "spike_eventlog_events", "spike_eventlog_checkpointed_events")
			if err != nil {
				return false, err.Error()
			}
			events, signed := m["spike_eventlog_events"], m["spike_eventlog_checkpointed_events"]
			sizes = append(sizes, fmt.Sprintf("%s %v of %v checkpointed", c.reps[i].id, signed, events))
			counts = append(counts, events, signed)
		}
		seen := strings.Join(sizes, ", ")
		agree := counts[0] > 0 && !slices.ContainsFunc(counts, func(n float64) bool { return n != counts[0] })
		if agree && seen == last {
			same++
		} else {
			same = 0
		}
		last = seen
		return same >= 3, seen
	})
}

// metrics reads the named gauges from replica i's /metrics.
func (c *cluster) metrics(i int, names ...string) (map[string]float64, error) {
	code, body := system.HTTPGet("http://" + c.reps[i].ops + "/metrics")
	if code != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: %d", c.reps[i].id, code)
	}
	out := map[string]float64{}
	for line := range strings.Lines(body) {
		f := strings.Fields(line)
		if len(f) != 2 || !slices.Contains(names, f[0]) {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("%s /metrics: %s: %w", c.reps[i].id, f[0], err)
		}
		out[f[0]] = v
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("%s /metrics: want %v, found %v", c.reps[i].id, names, out)
	}
	return out, nil
}

// readyz is replica i's /readyz.
func (c *cluster) readyz(i int) (int, string) {
	code, body := system.HTTPGet("http://" + c.reps[i].ops + "/readyz")
	return code, strings.TrimSpace(body)
}

// role parses a /readyz answer: "leader" or "follower" and the leader's
// id when it is ready as one, "" otherwise.
func role(code int, body string) (r, leaderID string) {
	if code != http.StatusOK {
		return "", ""
	}
	f := strings.Fields(strings.TrimPrefix(body, "ready:"))
	switch {
	case len(f) == 2 && f[0] == leader:
		return leader, f[1]
	case len(f) == 5 && f[0] == follower && f[2] == "of" && f[3] == leader:
		return follower, f[4]
	}
	return "", ""
}

// roles asks every running replica its role; the map is leader id →
// the replicas that say so (the leader itself included).
func (c *cluster) roles() (map[string][]int, string) {
	agree := map[string][]int{}
	var seen []string
	for i, r := range c.reps {
		if r.proc == nil || r.proc.Exited() {
			seen = append(seen, r.id+": down")
			continue
		}
		code, body := c.readyz(i)
		seen = append(seen, fmt.Sprintf("%s: %d %q", r.id, code, body))
		if ro, lid := role(code, body); ro != "" && (ro == follower || lid == r.id) {
			agree[lid] = append(agree[lid], i)
		}
	}
	return agree, strings.Join(seen, "; ")
}

// waitCluster waits until every running replica is ready and all agree
// on one leader, which is one of them, and returns the leader's index.
func (c *cluster) waitCluster(t *testing.T, why string) int {
	t.Helper()
	running := 0
	for _, r := range c.reps {
		if r.proc != nil && !r.proc.Exited() {
			running++
		}
	}
	lead := -1
	took := system.WaitFor(t, "one leader, every replica ready "+why, nil, func() (bool, string) {
		agree, seen := c.roles()
		for id, is := range agree {
			if len(is) == running && len(agree) == 1 {
				lead = c.index(id)
				return lead >= 0, seen
			}
		}
		return false, seen
	})
	t.Logf("cluster ready %s: leader %s, %d replicas (%v)", why, c.reps[lead].id, running, took.Round(time.Millisecond))
	return lead
}

// index is the index of the replica with id, -1 if none.
func (c *cluster) index(id string) int {
	for i, r := range c.reps {
		if r.id == id {
			return i
		}
	}
	return -1
}

// waitLeaderAmong waits until one of the replicas in among says it leads
// and the others in among follow it, and returns its index.
func (c *cluster) waitLeaderAmong(t *testing.T, why string, among ...int) int {
	t.Helper()
	lead := -1
	system.WaitFor(t, "a leader among the majority "+why, nil, func() (bool, string) {
		agree, seen := c.roles()
		for id, is := range agree {
			if l := c.index(id); containsAll(is, among) && slices.Contains(among, l) {
				lead = l
				return true, seen
			}
		}
		return false, seen
	})
	return lead
}

func containsAll(have, want []int) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
