//go:build linux

package diskfull

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/testdisk"
	"github.com/spikeledger/spike/test/e2e/system"
)

const (
	diskSize  = 48 << 20 // the filesystem under Nexus's data directory
	valueSize = 64 << 10 // each put's value
)

// TestDiskFull runs Nexus on a 48 MiB filesystem, fills it with a filler file
// and puts of 64 KiB values, and checks that it fails closed (503
// state_not_ready, reason no_space, for puts and audited gets, or 500
// no_space for a put recorded in the log but not applied; no secret
// without its event), that /readyz says why, that it serves
// again by itself once the filler is removed, and that nothing stored
// was damaged: the log verifies offline, every acknowledged write reads
// back, and a restart finds the projection as it was left.
//
// With the projection in SQLite on the same filesystem, SQLite is the
// first to find no room (its WAL grows at every commit, the log's
// journal is preallocated); with the projection in memory, the log's
// journal fills up and its flush into bbolt fails. Each runs on a tmpfs
// and on ext4 in a loop-mounted image (where block allocation and
// fdatasync are a disk's).
func TestDiskFull(t *testing.T) {
	for _, fs := range []string{"tmpfs", "ext4"} {
		for _, projection := range []string{"sqlite", "memory"} {
			t.Run(fs+"/projection in "+projection, func(t *testing.T) { diskFull(t, fs, projection) })
		}
	}
}

func diskFull(t *testing.T, fs, projection string) {
	tb := setup(t)
	d := system.NewDeployment(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2, Env: []string{"SPIKE_NEXUS_PROJECTION=" + projection}})
	testdisk.Mount(t, d.DataDir(), fs, diskSize)
	d.StartKeepers(t, d.All()...)
	d.StartNexus(t)
	if r := d.Bootstrap(t); r.Code != 0 || !strings.Contains(r.Stdout, "bootstrap complete") {
		t.Fatalf("bootstrap: %s\n--- nexus log ---\n%s", r, system.Tail(d.NexusLog()))
	}
	d.WaitReady(t, "after bootstrap")
	nexus := d.Nexus()
	c := &clientRole{t: t, d: d}

	var vkey string
	c.do(&vkey, "key")
	var before filled
	c.do(&before, "fill", "before", strconv.Itoa(valueSize), "16")
	if before.Refused != nil || len(before.Acked) != 16 {
		t.Fatalf("16 puts with room to spare: %+v", before)
	}

	filler := testdisk.Fill(t, d.DataDir())
	t.Logf("filled %s: %s", d.DataDir(), testdisk.Usage(d.DataDir()))
	var full filled
	c.do(&full, "fill", "full", strconv.Itoa(valueSize), "1000")
	if full.Refused == nil {
		t.Fatalf("1000 puts of %d bytes on a full disk all acknowledged", valueSize)
	}
	t.Logf("on the full disk: %d puts acknowledged, then %s: %d %s %s: %s", len(full.Acked), full.Refused.Path,
		full.Refused.Status, full.Refused.Code, full.Refused.Reason, full.Refused.Message)
	// Either nothing was done (503, which clients retry), or the put is
	// in the log and its apply to the projection failed (500, not to be
	// retried: it takes effect once space is freed); then every request
	// is refused 503 until the projection has caught up.
	refusedRecorded := full.Refused.Status == http.StatusInternalServerError
	if refusedRecorded {
		if full.Refused.Code != string(api.CodeInternal) || full.Refused.Reason != string(api.ReasonNoSpace) || !strings.Contains(full.Refused.Message, "recorded this change") {
			t.Errorf("put on a full disk: %+v, want 503 %s %s or 500 %s %s saying it was recorded", *full.Refused,
				api.CodeNotReady, api.ReasonNoSpace, api.CodeInternal, api.ReasonNoSpace)
		}
		var next answer
		c.do(&next, "put", "full/next", strconv.Itoa(valueSize))
		checkNoSpace(t, "the put after it", next)
	} else {
		checkNoSpace(t, "put", *full.Refused)
	}

	// An audited get is answered only once its secret.read is durable:
	// while the journal has room left for its small event it may be, and
	// then it is refused.
	var gets read
	c.do(&gets, "gets", before.Acked[0], "5000")
	if gets.Refused == nil {
		t.Fatal("5000 audited gets on a full disk all answered")
	}
	t.Logf("on the full disk: %d audited gets answered, then %d %s %s", gets.Answered, gets.Refused.Status, gets.Refused.Code, gets.Refused.Reason)
	checkNoSpace(t, "get", *gets.Refused)
	if gets.Refused.Data {
		t.Error("a refused get returned the secret's data")
	}
	code, body := d.Readyz()
	t.Logf("/readyz on the full disk: %d %q", code, body)
	if code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: ") || !strings.Contains(body, "no space left on device") {
		t.Errorf("/readyz on a full disk: %d %q, want 503 \"not ready: ... no space left on device\"", code, body)
	}
	r := d.Run(t, "get-full", system.Cmd{Bin: tb.Path(pilotBin), Args: []string{"--retry-wait", "0", "secret", "get", before.Acked[0], "v"}, Env: d.Env()})
	t.Logf("spike secret get on the full disk: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	if r.Code == 0 {
		t.Errorf("spike secret get on a full disk succeeded: %s", r)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	system.WaitFor(t, "nexus ready after the space was freed", nexus, func() (bool, string) {
		code, body := d.Readyz()
		return code == http.StatusOK && strings.TrimSpace(body) == "ready", fmt.Sprintf("%d %q", code, body)
	})
	t.Logf("ready again %v after the filler was removed, without a restart", time.Since(freed).Round(time.Millisecond))
	if nexus.Exited() {
		t.Fatal("nexus exited")
	}
	var reads int
	c.do(&reads, "reads", before.Acked[0])
	t.Logf("the log holds %d secret.read events of %s; %d gets were answered", reads, before.Acked[0], gets.Answered)
	if reads < gets.Answered {
		t.Errorf("%d gets answered, %d secret.read events in the log", gets.Answered, reads)
	}
	var after answer
	c.do(&after, "put", "after/0", strconv.Itoa(valueSize))
	if after.Status != http.StatusOK {
		t.Fatalf("put after the space was freed: %+v", after)
	}

	acked := slices.Concat(before.Acked, full.Acked, []string{"after/0"})
	if refusedRecorded {
		// Refused as recorded: it took effect once the projection caught up.
		acked = append(acked, full.Refused.Path)
	}
	c.check(acked, "after the space was freed")
	checkEpisodeLogged(t, d.NexusLog())

	nexus.Stop(t)
	events := filepath.Join(d.DataDir(), "events.db")
	r = d.Run(t, "audit-verify", system.Cmd{Bin: tb.Path(pilotBin), Args: []string{"audit", "verify", events, "--key", vkey}, Env: d.Env()})
	if r.Code != 0 || !strings.Contains(r.Stdout, "verified") {
		t.Fatalf("spike audit verify: %s", r)
	}
	rep, err := eventlog.VerifyFile(context.Background(), events, vkey, eventlog.VerifyOptions{})
	if err != nil {
		t.Fatalf("eventlog.VerifyFile: %v", err)
	}
	t.Logf("the log verifies offline: %d events, %d checkpoints (spike audit verify: %s)", rep.Size, rep.Checkpoints, strings.TrimSpace(r.Stdout))

	d.StartNexus(t)
	d.WaitReady(t, "after a restart")
	c.check(acked, "after a restart")
	if b, err := os.ReadFile(d.NexusLog()); err != nil || projection == "sqlite" && strings.Contains(string(b), "rebuilding projection") {
		t.Errorf("the restart rebuilt the projection (or its log cannot be read: %v): it was damaged", err)
	}
	d.Shutdown(t)
}

// clientRole runs the test binary as the superuser's SDK client.
type clientRole struct {
	t *testing.T
	d *system.Deployment
	n int
}

// do runs one command of the client role and decodes what it printed.
func (c *clientRole) do(out any, args ...string) {
	c.t.Helper()
	c.n++
	r := c.d.Run(c.t, fmt.Sprintf("client-%s-%d", args[0], c.n), system.Cmd{Bin: setup(c.t).Path(clientBin), Args: args,
		Env: c.d.Env(roleEnv + "=client")})
	if r.Code != 0 {
		c.t.Fatalf("client %v: %s", args, r)
	}
	if err := json.Unmarshal([]byte(r.Stdout), out); err != nil {
		c.t.Fatalf("client %v: %v\n%s", args, err, r)
	}
}

// check reads every path back and fails unless each holds its value.
func (c *clientRole) check(paths []string, when string) {
	c.t.Helper()
	var ck checked
	c.do(&ck, append([]string{"check", strconv.Itoa(valueSize)}, paths...)...)
	if ck.Checked != len(paths) || len(ck.Bad) > 0 {
		c.t.Fatalf("%s: %d of %d acknowledged writes checked; wrong: %v", when, ck.Checked, len(paths), ck.Bad)
	}
	c.t.Logf("%s: all %d acknowledged writes read back", when, len(paths))
}

// checkNoSpace fails t unless a is 503 state_not_ready no_space.
func checkNoSpace(t *testing.T, what string, a answer) {
	t.Helper()
	if a.Status != http.StatusServiceUnavailable || a.Code != string(api.CodeNotReady) || a.Reason != string(api.ReasonNoSpace) {
		t.Errorf("%s on a full disk: %+v, want 503 %s %s", what, a, api.CodeNotReady, api.ReasonNoSpace)
	}
}

// checkEpisodeLogged fails t unless Nexus said, at error level, that it
// refuses to answer, and then that it records again, and logs how many
// times (each episode once, not each request).
func checkEpisodeLogged(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	// The end is logged at the first probe that finds nothing failing,
	// which may come just after /readyz said ready.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log, "Nexus records again") && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		if b, err = os.ReadFile(path); err != nil {
			t.Fatal(err)
		}
		log = string(b)
	}
	refusing := strings.Count(log, "refusing writes and audited reads until Nexus can record them again")
	again := strings.Count(log, "Nexus records again")
	t.Logf("nexus log: %d episode start(s), %d end(s); event log: %d \"cannot write its files\", %d \"writes its files again\"",
		refusing, again, strings.Count(log, "event log cannot write its files"), strings.Count(log, "event log writes its files again"))
	if refusing == 0 || again == 0 {
		t.Errorf("nexus did not log the episode (%d starts, %d ends)", refusing, again)
	}
}
