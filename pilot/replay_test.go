package pilot_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/internal/shamir"
)

// replayDoc is audit replay's JSON document, as a script reads it.
type replayDoc struct {
	Events []map[string]any `json:"events"`
	Next   uint64           `json:"next"`
	AsOf   *struct {
		Time    time.Time        `json:"time"`
		Seq     uint64           `json:"seq"`
		Secrets []map[string]any `json:"secrets"`
	} `json:"asOf"`
}

func decodeReplay(t *testing.T, r result) replayDoc {
	t.Helper()
	var d replayDoc
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("decode %q: %v", r.stdout, err)
	}
	return d
}

// TestAuditReplayMatchesAuditList is the acceptance of offline replay on
// the in-process system: a backup copy of the log plus two of the three
// recovery files replays, with no Nexus, the history audit list showed
// online, for the same filters and pages; the copy is left as it was;
// and --as-of shows what secret metadata get showed then.
func TestAuditReplayMatchesAuditList(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a system of its own")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	c, err := devcluster.Start(ctx, devcluster.Options{DataDir: filepath.Join(dir, "dev"), NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	stranger := filepath.Join(dir, "stranger")
	if err := c.IssueSVIDDir(ctx, "/workload/stranger", stranger); err != nil {
		t.Fatal(err)
	}
	run := func(svid string, args ...string) result {
		t.Helper()
		r := runCLI(t, "", append([]string{"--nexus-url", c.NexusURL(), "--svid-dir", svid, "--retry-wait", "0"}, args...)...)
		return r
	}
	su, auditor := c.SVIDDir(devcluster.SVIDSuperuser), c.SVIDDir(devcluster.SVIDAuditor)
	for _, args := range [][]string{
		{"secret", "put", "replay/db", "user=app", "pass=one"},
		{"secret", "put", "replay/db", "user=app", "pass=two"},
		{"secret", "put", "replay/api", "token=t"},
		{"secret", "get", "replay/db"},
		{"secret", "get", "replay/api", "token"},
		{"secret", "delete", "replay/db", "--versions", "1"},
		{"secret", "metadata", "put", "replay/api", "--max-versions", "3"},
	} {
		run(su, args...).check(t, 0, "")
	}
	if r := run(stranger, "secret", "get", "replay/db"); r.code != 1 {
		t.Fatalf("a stranger's read: exit %d, want 1 (refused)", r.code)
	}
	asOf := time.Now().UTC()
	metadata := map[string]map[string]any{}
	for _, p := range []string{"replay/api", "replay/db"} {
		var m map[string]any
		json.Unmarshal([]byte(run(su, "-f", "json", "secret", "metadata", "get", p).stdout), &m)
		metadata[p] = m
	}
	su0 := "spiffe://" + c.TrustDomain().Name() + "/spike/pilot/role/superuser"
	queries := []struct {
		name   string
		args   []string
		prefix bool // jobs may append events after the online query: online is a prefix of offline
	}{
		{name: "everything", prefix: true},
		{name: "path prefix", args: []string{"--path-prefix", "replay/"}},
		{name: "one path, paged", args: []string{"--path", "replay/db", "--limit", "2"}},
		{name: "second page", args: []string{"--path", "replay/db", "--limit", "2", "--after", "0"}},
		{name: "actor", args: []string{"--actor", su0}},
		{name: "types", args: []string{"--type", "secret.read,access.denied", "--path-prefix", "replay/"}},
		{name: "outcome", args: []string{"--outcome", "denied"}},
		{name: "since", args: []string{"--since", "1h", "--path-prefix", "replay/"}},
	}
	online := make([]result, len(queries))
	for i, q := range queries {
		if q.name == "second page" {
			next := decodeReplay(t, online[i-1]).Next
			if next == 0 {
				t.Fatal("the paged query has no second page")
			}
			queries[i].args[len(q.args)-1] = jsonNumber(next)
		}
		online[i] = run(auditor, append([]string{"-f", "json", "audit", "list"}, queries[i].args...)...)
		online[i].check(t, 0, "")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// The backup: the log (and its journal) copied, two of the three
	// recovery files.
	backup, recovery := filepath.Join(dir, "backup"), filepath.Join(dir, "two-of-three")
	os.MkdirAll(backup, 0o700)
	os.MkdirAll(recovery, 0o700)
	live := filepath.Join(c.DataDir(), "nexus", "events.db")
	copyTo(t, live, filepath.Join(backup, "events.db"))
	copyTo(t, live+".journal", filepath.Join(backup, "events.db.journal"))
	files, err := shamir.RecoveryFiles(c.RecoveryDir())
	if err != nil || len(files) != 3 {
		t.Fatalf("recovery files: %v, %v; want 3", files, err)
	}
	for _, f := range files[1:] {
		copyTo(t, f, filepath.Join(recovery, filepath.Base(f)))
	}
	logCopy := filepath.Join(backup, "events.db")
	before := treeHash(t, backup)

	replay := func(args ...string) result {
		return runCLI(t, "", append([]string{"-f", "json", "audit", "replay", "--log", logCopy, "--recovery-dir", recovery}, args...)...)
	}
	for i, q := range queries {
		t.Run(q.name, func(t *testing.T) {
			off := replay(q.args...)
			off.check(t, 0, "")
			on, got := decodeReplay(t, online[i]), decodeReplay(t, off)
			if got.AsOf != nil {
				t.Error("asOf without --as-of")
			}
			if q.prefix && len(got.Events) > len(on.Events) {
				got.Events = got.Events[:len(on.Events)]
			}
			if !reflect.DeepEqual(on, got) {
				t.Errorf("online:\n%s\noffline:\n%s", online[i].stdout, off.stdout)
			}
			if len(on.Events) == 0 {
				t.Error("the query found nothing online: it tests nothing")
			}
		})
	}

	t.Run("as-of", func(t *testing.T) {
		off := replay("--as-of", asOf.Format(time.RFC3339Nano), "--path-prefix", "replay/", "--type", "secret.version.written")
		off.check(t, 0, "")
		d := decodeReplay(t, off)
		if d.AsOf == nil || len(d.AsOf.Secrets) != 2 {
			t.Fatalf("asOf: %s", off.stdout)
		}
		for _, s := range d.AsOf.Secrets {
			if want := metadata[s["path"].(string)]; !reflect.DeepEqual(s, want) {
				t.Errorf("as of %s, %s:\noffline %v\nonline  %v", asOf, s["path"], s, want)
			}
		}
		human := runCLI(t, "", "audit", "replay", "--log", logCopy, "--recovery-dir", recovery, "--as-of", "2000-01-01", "--path", "replay/db")
		human.check(t, 0, "")
		if !strings.Contains(human.stdout, "No secrets.") || !strings.Contains(human.stdout, "replay/db") {
			t.Errorf("human output before any event:\n%s", human.stdout)
		}
	})

	if after := treeHash(t, backup); after != before {
		t.Fatal("audit replay changed the backup directory")
	}

	// What replay refuses, and how.
	one := filepath.Join(dir, "one-of-three")
	os.MkdirAll(one, 0o700)
	copyTo(t, files[0], filepath.Join(one, filepath.Base(files[0])))
	empty := t.TempDir()
	foreign := t.TempDir()
	var key [shamir.KeySize]byte
	rand.Read(key[:])
	shares, _, err := shamir.Split(&key, shamir.Params{Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shamir.WriteRecoveryDir(foreign, shares); err != nil {
		t.Fatal(err)
	}
	tampered := filepath.Join(t.TempDir(), "events.db")
	b, err := os.ReadFile(logCopy)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("secret.read")) {
		t.Fatal("no read in the log file")
	}
	// Types are in clear in each envelope: rename them all (bbolt may
	// keep stale copies of a page besides the live one).
	os.WriteFile(tampered, bytes.ReplaceAll(b, []byte("secret.read"), []byte("secret.reaD")), 0o600)
	otherKey := logFile(t, 3).key

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "missing log", args: []string{"audit", "replay", "--log", filepath.Join(dir, "nope.db"), "--recovery-dir", recovery}, code: 2, want: "nope.db"},
		{name: "missing recovery dir", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", filepath.Join(dir, "nope")}, code: 2, want: "nope"},
		{name: "no recovery files", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", empty}, code: 2, want: "holds no recovery files"},
		{name: "too few recovery files", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", one}, code: 2, want: "holds 1 recovery file; 1 of them belongs to the log's newest sharing of the root key, which needs 2 (2 of 3)"},
		{name: "another deployment's files", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", foreign}, code: 2, want: "of no sharing this log records"},
		{name: "a log that does not verify", args: []string{"audit", "replay", "--log", tampered, "--recovery-dir", recovery}, code: 1, want: "fails verification"},
		{name: "another verifier key", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", recovery, "--key", otherKey}, code: 1, want: "not signed with the verifier key"},
		{name: "bad type", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", recovery, "--type", "secret.raed"}, code: 2, want: "no such event type"},
		{name: "limit too large", args: []string{"audit", "replay", "--log", logCopy, "--recovery-dir", recovery, "--limit", "5000"}, code: 2, want: "--limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runCLI(t, "", tc.args...).check(t, tc.code, tc.want)
		})
	}
}

func jsonNumber(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func copyTo(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// treeHash hashes every file's name, mode and content in dir.
func treeHash(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := e.Info()
		h.Write([]byte(e.Name() + fi.Mode().String()))
		h.Write(b)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
