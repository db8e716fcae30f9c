package pilot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

func TestAuditList(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	auditor := svidDir(t, devcluster.SVIDAuditor)
	runCases(t, []cliCase{
		{name: "put", args: []string{"secret", "put", p + "/a", "k=v"}},
		{name: "read", args: []string{"secret", "get", p + "/a"}},
		{name: "list", who: auditor, args: []string{"audit", "list", "--path", p + "/a"}, want: "secret.read"},
		{name: "list json", who: auditor, args: []string{"-f", "json", "audit", "list", "--path", p + "/a"}, golden: "audit-list"},
		{name: "list by type", who: auditor, args: []string{"-f", "json", "audit", "list", "--path", p + "/a", "--type", "secret.read"}, golden: "audit-list-type"},
		{name: "list by actor", args: []string{"audit", "list", "--path", p + "/a", "--actor", "spiffe://spike.ist/workload/none"}, exact: "No events found.\n"},
		{name: "list unauthorized", who: nobodyDir(t), args: []string{"audit", "list"}, code: 1, want: "read on spike/system/audit (the auditor role)"},
		{name: "list bad type", args: []string{"audit", "list", "--type", "not a type"}, code: 2, want: `--type "not a type": no such event type`},
		{name: "list bad actor", args: []string{"audit", "list", "--actor", "bob"}, code: 2, want: "invalid argument"},
		{name: "list bad after", args: []string{"audit", "list", "--after", "x"}, code: 2, want: "--after"},
	})
}

func TestAuditListFilters(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	auditor := svidDir(t, devcluster.SVIDAuditor)
	runCases(t, []cliCase{
		{name: "put a", args: []string{"secret", "put", p + "/a", "k=v"}},
		{name: "put b", args: []string{"secret", "put", p + "/b/c", "k=v"}},
		{name: "refused read", who: nobodyDir(t), args: []string{"secret", "get", p + "/b/c"}, code: 1, want: "Nexus refused"},
		{name: "by prefix", who: auditor, args: []string{"-f", "json", "audit", "list", "--path-prefix", p + "/", "--type", "secret.version.written"}, golden: "audit-list-prefix"},
		{name: "by prefix and outcome", who: auditor, args: []string{"-f", "json", "audit", "list", "--path-prefix", p + "/b", "--outcome", "denied,error"}, golden: "audit-list-outcome"},
		{name: "by outcome, none", args: []string{"audit", "list", "--path-prefix", p + "/a", "--outcome", "denied"}, exact: "No events found.\n"},
		{name: "since an hour ago", args: []string{"audit", "list", "--path", p + "/a", "--since", "1h"}, want: "secret.version.written"},
		{name: "since a date", args: []string{"audit", "list", "--path", p + "/a", "--since", "2000-01-01", "--until", "2999-12-31T00:00:00Z"}, want: "secret.version.written"},
		{name: "until an hour ago", args: []string{"audit", "list", "--path", p + "/a", "--until", "1h"}, exact: "No events found.\n"},
		{name: "history since a week ago", args: []string{"secret", "history", p + "/b/c", "--since", "7d"}, want: "access.denied"},
		{name: "history until a date", args: []string{"secret", "history", p + "/b/c", "--until", "2000-01-01"}, exact: "No events found.\n"},
		{name: "history bad time", args: []string{"secret", "history", p + "/a", "--since", "yesterday"}, code: 2,
			want: `--since: "yesterday" is not a time: give an RFC 3339 time (2026-12-01T15:04:05Z), a date (2026-12-01, meaning midnight UTC) or a time ago (30m, 1h, 7d)`},
		{name: "until before since", args: []string{"audit", "list", "--since", "1h", "--until", "2h"}, code: 2, want: "invalid argument"},
		{name: "unknown type", args: []string{"audit", "list", "--type", "secret.read,secret.reed"}, code: 2,
			want: `--type "secret.reed": no such event type; the types are access.denied, cipher.used,`},
		{name: "unknown outcome", args: []string{"audit", "list", "--outcome", "refused"}, code: 2,
			want: `--outcome "refused": no such outcome; the outcomes are ok, not_found, conflict, denied, error`},
		{name: "bad prefix", args: []string{"audit", "list", "--path-prefix", "a b"}, code: 2, want: "invalid argument"},
	})
}

// The help of audit list names every event type and outcome there is,
// so that a reader never has to guess a filter.
func TestAuditListHelpNamesTheFilters(t *testing.T) {
	t.Parallel()
	r := runCLI(t, "", "audit", "list", "--help")
	help := strings.Join(strings.Fields(r.stdout), " ")
	for _, want := range append(events.Types(), api.AuditOutcomes()...) {
		if !strings.Contains(help, want) {
			t.Errorf("audit list --help does not name %q", want)
		}
	}
}

// checkpoint waits for Nexus to sign a checkpoint covering the events so
// far (it signs one within a second of an append) and returns it.
func checkpoint(t *testing.T, args ...string) (result, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r := super(t, "", append([]string{"-f", "json", "audit", "checkpoint"}, args...)...)
		if r.code == 0 {
			var doc map[string]any
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatal(err)
			}
			return r, doc
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint: %s", r.stderr)
		}
		<-tick.C
	}
}

func TestAuditCheckpointAndProofs(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p+"/a", "k=v").check(t, 0, "")
	r, doc := checkpoint(t)
	golden(t, "audit-checkpoint", r.stdout)
	key := doc["verifierKey"].(string)
	size := uint64(doc["size"].(float64))
	dir := t.TempDir()
	saved, keyFile := filepath.Join(dir, "cp.note"), filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, doc = checkpoint(t, "--key", key, "--save", saved)
	if doc["verified"] != true {
		t.Fatalf("checkpoint not verified against its key: %v", doc)
	}
	if b, err := os.ReadFile(saved); err != nil || string(b) != doc["checkpoint"] {
		t.Fatalf("saved checkpoint %q, %v", b, err)
	}
	// Another log's key is a different signer.
	otherKey := logFile(t, 3).key
	seq := strconv.FormatUint(size, 10)
	beyond := strconv.FormatUint(size+1_000_000, 10)
	auditor := svidDir(t, devcluster.SVIDAuditor)
	runCases(t, []cliCase{
		{name: "checkpoint human", args: []string{"audit", "checkpoint", "--key", "@" + keyFile}, want: "signature     verified against --key\n"},
		{name: "checkpoint wrong key", args: []string{"audit", "checkpoint", "--key", otherKey}, code: 1, want: "fails verification"},
		{name: "checkpoint unauthorized", who: nobodyDir(t), args: []string{"audit", "checkpoint"}, code: 1, want: "the auditor role"},
		{name: "checkpoint extra argument", args: []string{"audit", "checkpoint", "x"}, code: 2, want: "unexpected argument"},

		{name: "proof", who: auditor, args: []string{"audit", "proof", "1", "--key", key}, want: "inclusion  verified against --key\n"},
		{name: "proof json", args: []string{"-f", "json", "audit", "proof", seq, "--tree-size", seq, "--key", key}, golden: "audit-proof"},
		{name: "proof unchecked", args: []string{"-f", "json", "audit", "proof", "1"}, golden: "audit-proof-unchecked"},
		{name: "proof beyond the log", args: []string{"audit", "proof", beyond}, code: 1, want: "no such event or size"},
		{name: "proof unauthorized", who: nobodyDir(t), args: []string{"audit", "proof", "1"}, code: 1, want: "the auditor role"},
		{name: "proof seq 0", args: []string{"audit", "proof", "0"}, code: 2, want: "start at 1"},
		{name: "proof no seq", args: []string{"audit", "proof"}, code: 2, want: "expected"},

		{name: "consistency from saved", args: []string{"-f", "json", "audit", "consistency", "--from", saved, "--key", key}, golden: "audit-consistency"},
		{name: "consistency human", args: []string{"audit", "consistency", "--from", saved, "--key", key}, want: "verified: the log only grew"},
		{name: "consistency by size", args: []string{"audit", "consistency", "1"}, want: "not checked"},
		{name: "consistency beyond the log", args: []string{"audit", "consistency", "1", "--new-size", beyond}, code: 1, want: "no such event or size"},
		{name: "consistency another log's key", args: []string{"audit", "consistency", "--from", saved, "--key", otherKey}, code: 1, want: "fails verification"},
		{name: "consistency unauthorized", who: nobodyDir(t), args: []string{"audit", "consistency", "1"}, code: 1, want: "the auditor role"},
		{name: "consistency neither", args: []string{"audit", "consistency"}, code: 2, want: "give the earlier size or --from"},
		{name: "consistency from without key", args: []string{"audit", "consistency", "--from", saved}, code: 2, want: "--from needs --key"},
		{name: "consistency key without from", args: []string{"audit", "consistency", "1", "--key", key}, code: 2, want: "give it with --from FILE"},
	})
}

// A proof is checked against what was asked: Nexus echoes the event and
// the sizes, and a proof about others would verify just as well.
func TestAuditProofsAnswerTheQuestion(t *testing.T) {
	t.Parallel()
	// What a proof shows is in its help, and what it does not.
	if r := runCLI(t, "", "audit", "proof", "--help"); !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "the leaf hash comes from Nexus") {
		t.Errorf("audit proof --help does not say where the leaf hash comes from:\n%s", r.stdout)
	}
	saved := logFile(t, 4) // a checkpoint of size 4, signed
	proof := func(seq, size uint64) transport.Handler {
		return func(context.Context, *transport.Request) transport.Response {
			return transport.Response{Body: api.AuditProofResponse{Seq: seq, TreeSize: size, LeafHash: make([]byte, 32)}}
		}
	}
	consistency := func(old, size uint64) transport.Handler {
		return func(context.Context, *transport.Request) transport.Response {
			return transport.Response{Body: api.AuditConsistencyResponse{OldSize: old, NewSize: size}}
		}
	}
	for _, tc := range []struct {
		name    string
		handler transport.Route
		args    []string
		code    int
		want    string
	}{
		{"proof as asked", route(api.OpAuditProof, proof(2, 5)), []string{"audit", "proof", "2"}, 0, "tree size  5"},
		{"proof of another event", route(api.OpAuditProof, proof(2, 5)), []string{"audit", "proof", "1"}, 1,
			"the inclusion proof Nexus served fails verification: it is for event 2, not 1; do not trust it"},
		{"proof against another size", route(api.OpAuditProof, proof(2, 5)), []string{"audit", "proof", "2", "--tree-size", "4"}, 1,
			"it is for a log of 5 events, not 4"},
		{"proof beyond its log", route(api.OpAuditProof, proof(7, 5)), []string{"audit", "proof", "7"}, 1,
			"it puts event 7 in a log of 5 events"},
		{"consistency as asked", route(api.OpAuditConsistency, consistency(3, 9)), []string{"audit", "consistency", "3"}, 0, "new size     9"},
		{"consistency from another size", route(api.OpAuditConsistency, consistency(3, 9)), []string{"audit", "consistency", "2"}, 1,
			"the consistency proof Nexus served fails verification: it starts from a log of 3 events, not 2"},
		{"consistency to another size", route(api.OpAuditConsistency, consistency(3, 9)), []string{"audit", "consistency", "3", "--new-size", "8"}, 1,
			"it reaches a log of 9 events, not 8"},
		{"consistency backwards", route(api.OpAuditConsistency, consistency(3, 2)), []string{"audit", "consistency", "3"}, 1,
			"it goes from 3 events down to 2"},
		{"consistency from another checkpoint than the saved one", route(api.OpAuditConsistency, consistency(5, 9)),
			[]string{"audit", "consistency", "--from", saved.checkpoint, "--key", saved.key}, 1, "it starts from a log of 5 events, not 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newFakeNexus(t, identity.PathPilotAuditor, tc.handler)
			r := n.run(t, "", tc.args...)
			r.check(t, tc.code, tc.want)
			if tc.code == 0 && !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.want)
			}
		})
	}
}

// An answer that does not decode is reported as such, not as Nexus
// being unreachable; settings the SDK cannot use are usage errors.
func TestBadAnswersAndSettings(t *testing.T) {
	t.Parallel()
	garbage := func(context.Context, *transport.Request) transport.Response {
		return transport.Response{Body: []byte(`{"data": {"k": 5}}`)}
	}
	n := newFakeNexus(t, identity.PathPilotSuperuser, route(api.OpSecretGet, garbage))
	n.run(t, "", "secret", "get", "a/b").check(t, 1, "Nexus sent an answer this client cannot read: decode response: json: cannot unmarshal number")
	for _, args := range [][]string{
		{"--nexus-url", "https://admin:s3cret@nexus:8553", "secret", "list"},
		{"--nexus-url", "https://nexus:8553/?token=s3cret", "secret", "list"},
		{"--spiffe-source-timeout", "0s", "secret", "list"},
	} {
		r := runCLI(t, "", args...)
		r.check(t, 2, "")
		if !strings.Contains(r.stderr, "want https://host:port") && !strings.Contains(r.stderr, "must be positive") || strings.Contains(r.stderr, "s3cret") {
			t.Errorf("%v: %q", args, r.stderr)
		}
	}
}

func TestRestoreList(t *testing.T) {
	t.Parallel()
	super(t, "", "secret", "put", uniq(t, "s/")+"/a", "k=v").check(t, 0, "")
	checkpoint(t)
	runCases(t, []cliCase{
		{name: "list", args: []string{"restore", "list", "--limit", "1"}, want: "SEQ  TIME"},
		{name: "list json", args: []string{"-f", "json", "restore", "list", "--limit", "1"}, golden: "restore-list"},
		{name: "list none", args: []string{"restore", "list", "--until", "2000-01-01T00:00:00Z"}, exact: "No restore points yet.\n"},
		{name: "list unauthorized", who: nobodyDir(t), args: []string{"restore", "list"}, code: 1, want: "the auditor role"},
		{name: "list bad limit", args: []string{"restore", "list", "--limit", "x"}, code: 2, want: "--limit"},
	})
}

func TestRestoreApply(t *testing.T) {
	t.Parallel()
	p := uniq(t, "s/")
	super(t, "", "secret", "put", p+"/a", "k=one").check(t, 0, "")
	super(t, "", "secret", "put", p+"/b", "k=keep").check(t, 0, "")
	r := super(t, "", "-f", "json", "audit", "list", "--path", p+"/b", "--type", "secret.version.written")
	r.check(t, 0, "")
	var doc struct{ Events []struct{ Seq uint64 } }
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Events) != 1 {
		t.Fatalf("history %q, %v", r.stdout, err)
	}
	// The point: both paths written, nothing changed yet.
	point := strconv.FormatUint(doc.Events[0].Seq, 10)
	super(t, "", "secret", "put", p+"/a", "k=two").check(t, 0, "")
	super(t, "", "secret", "put", p+"/c", "k=new").check(t, 0, "")
	runCases(t, []cliCase{
		{name: "apply needs --yes without a terminal", args: []string{"restore", "apply", "--seq", point, p + "/a"}, code: 2, want: "pass --yes"},
		{name: "apply", args: []string{"restore", "apply", "--yes", "--seq", point, p + "/a", p + "/b"}, want: "Restored 1 path to seq " + point},
		{name: "a is back", args: []string{"secret", "get", p + "/a", "k"}, exact: "one\n"},
		{name: "a keeps its history", args: []string{"secret", "get", "-v", "2", p + "/a", "k"}, exact: "two\n"},
		{name: "apply json", args: []string{"-f", "json", "restore", "apply", "-y", "--seq", point, p + "/c"}, golden: "restore-apply"},
		{name: "c did not exist then", args: []string{"secret", "get", p + "/c"}, code: 1, want: "no secret at"},
		{name: "apply beyond the log", args: []string{"restore", "apply", "-y", "--seq", "999999999999", p + "/a"}, code: 1, want: "no such point in the log"},
		{name: "apply unauthorized", who: nobodyDir(t), args: []string{"restore", "apply", "-y", "--seq", point, p + "/a"}, code: 1, want: "write on every path restored"},
		{name: "apply without a point", args: []string{"restore", "apply", "-y", p + "/a"}, code: 2, want: "--seq or --time"},
		{name: "apply with both points", args: []string{"restore", "apply", "-y", "--seq", "1", "--time", "2026-01-01T00:00:00Z", p + "/a"}, code: 2, want: "--seq or --time"},
		{name: "apply bad time", args: []string{"restore", "apply", "-y", "--time", "noon", p + "/a"}, code: 2, want: "--time"},
	})
}

// testLog is a log file written for offline verification, with its
// verifier key and its latest signed checkpoint saved in a file.
type testLog struct{ path, key, checkpoint string }

// logFile writes a log of n events, signed every two, and closes it.
func logFile(t *testing.T, n int) testLog {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "data", "events.db")
	l, err := eventlog.Open(ctx, path, eventlog.Options{CheckpointEvery: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(n + i)
	}
	if err := l.Unlock(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(ctx, eventlog.Event{Type: "test.event", Schema: 1, Payload: fmt.Appendf(nil, "event %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	vkey, err := l.VerifierKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cp, ok, err := l.LatestCheckpoint(ctx)
	if err != nil || !ok {
		t.Fatalf("no checkpoint: %v", err)
	}
	note := filepath.Join(filepath.Dir(path), "checkpoint.note")
	if err := os.WriteFile(note, cp.Note, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return testLog{path: path, key: vkey, checkpoint: note}
}

// audit verify works offline: no SVID, and a Nexus URL that answers
// nothing.
func TestAuditVerify(t *testing.T) {
	t.Parallel()
	good := logFile(t, 5)
	other := logFile(t, 4)
	tampered := logFile(t, 3)
	b, err := os.ReadFile(tampered.path)
	if err != nil {
		t.Fatal(err)
	}
	// Event types are stored in clear in each envelope: rename them all
	// (bbolt may keep stale copies of a page besides the live one).
	if !bytes.Contains(b, []byte("test.event")) {
		t.Fatal("no envelope found in the log file")
	}
	b = bytes.ReplaceAll(b, []byte("test.event"), []byte("test.EVENT"))
	if err := os.WriteFile(tampered.path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	offline := []string{"--nexus-url", "https://127.0.0.1:1", "--svid-dir", filepath.Join(t.TempDir(), "none")}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		want   string
		golden string
	}{
		{name: "verify", args: []string{"audit", "verify", good.path, "--key", good.key}, want: "verified           5 events, "},
		{name: "verify json", args: []string{"-f", "json", "audit", "verify", good.path, "--key", good.key}, golden: "audit-verify"},
		{name: "trusted checkpoint", args: []string{"audit", "verify", good.path, "--key", good.key, "--trusted", good.checkpoint}, want: "verified           5 events, "},
		{name: "another log's checkpoint", args: []string{"audit", "verify", good.path, "--key", good.key, "--trusted", other.checkpoint}, code: 1, want: "check that --key and --trusted belong to this log"},
		{name: "another log's key", args: []string{"audit", "verify", good.path, "--key", other.key}, code: 1, want: "verifier key is for"},
		{name: "tampered", args: []string{"audit", "verify", tampered.path, "--key", tampered.key}, code: 1, want: "fails verification"},
		{name: "missing file", args: []string{"audit", "verify", good.path + ".none", "--key", good.key}, code: 2, want: "no such file"},
		{name: "no key", args: []string{"audit", "verify", good.path}, code: 2, want: "--key"},
		{name: "no file", args: []string{"audit", "verify", "--key", good.key}, code: 2, want: "expected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, "", append(offline, tc.args...)...)
			r.check(t, tc.code, tc.want)
			if tc.code == 0 && tc.golden == "" && !strings.Contains(r.stdout, tc.want) {
				t.Errorf("stdout %q does not contain %q", r.stdout, tc.want)
			}
			if tc.golden != "" {
				golden(t, tc.golden, r.stdout)
			}
		})
	}
}
