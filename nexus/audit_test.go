package nexus

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/internal/transport"
)

const auditor = "/spike/pilot/role/auditor"

func TestAuditRoutes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"pw": "x"}}, nil))
	must(c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/db", Values: map[string]string{"pw": "y"}}, nil))
	must(c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "app/db", Version: 1}, nil))
	must(c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "app/other", Values: map[string]string{"k": "v"}}, nil))
	if err := c.call(t, n, "/workload/nobody", api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}, nil); status4xx(err) != http.StatusUnauthorized {
		t.Fatalf("workload get = %v", err)
	}

	// history and list filters run first, alone: the later subtests add
	// events.
	t.Run("history", func(t *testing.T) {
		var h api.SecretHistoryResponse
		must(c.call(t, n, auditor, api.OpSecretHistory, api.SecretHistoryRequest{Path: "app/db"}, &h))
		want := []struct {
			typ, actor, outcome string
			version             int
		}{
			{"secret.version.written", superuser, "ok", 1},
			{"secret.version.written", superuser, "ok", 2},
			{"secret.read", superuser, "ok", 1},
			{"access.denied", "/workload/nobody", "denied", 0},
		}
		if len(h.Events) != len(want) {
			t.Fatalf("history = %+v", h.Events)
		}
		for i, w := range want {
			e := h.Events[i]
			if e.Type != w.typ || e.Actor != "spiffe://spike.test"+w.actor || e.Outcome != w.outcome || e.Path != "app/db" ||
				(w.version > 0) != (len(e.Versions) == 1 && e.Versions[0] == w.version) || e.Seq == 0 || e.Time.IsZero() {
				t.Errorf("event %d = %+v, want %+v", i, e, w)
			}
		}
		if h.Events[3].Action == "" {
			t.Errorf("denial action empty: %+v", h.Events[3])
		}
		// Paging: one at a time reaches the same events.
		var got []uint64
		for after := uint64(0); ; {
			var p api.SecretHistoryResponse
			must(c.call(t, n, superuser, api.OpSecretHistory, api.SecretHistoryRequest{Path: "app/db", Page: api.Page{After: after, Limit: 1}}, &p))
			for _, e := range p.Events {
				got = append(got, e.Seq)
			}
			if p.Next == 0 {
				break
			}
			after = p.Next
		}
		if len(got) != len(want) {
			t.Errorf("paged seqs = %v", got)
		}
	})
	t.Run("list filters", func(t *testing.T) {
		var l api.AuditListResponse
		must(c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{Types: []string{"secret.read", "access.denied"}}, &l))
		if len(l.Events) != 2 {
			t.Fatalf("reads and denials = %+v", l.Events)
		}
		must(c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{Actor: "spiffe://spike.test/workload/nobody"}, &l))
		if len(l.Events) != 1 || l.Events[0].Type != "access.denied" {
			t.Fatalf("by actor = %+v", l.Events)
		}
		must(c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{PathPrefix: "app/"}, &l))
		if len(l.Events) != 5 {
			t.Fatalf("under app/ = %+v", l.Events)
		}
		must(c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{PathPrefix: "app/o", Types: []string{"secret.version.written"}}, &l))
		if len(l.Events) != 1 || l.Events[0].Path != "app/other" {
			t.Fatalf("writes under app/o = %+v", l.Events)
		}
		must(c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{Outcomes: []string{"denied"}}, &l))
		if len(l.Events) != 1 || l.Events[0].Type != "access.denied" {
			t.Fatalf("denied = %+v", l.Events)
		}
		must(c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{Outcomes: []string{"ok", "denied"}, PathPrefix: "app/d", Types: []string{"secret.read", "access.denied"}}, &l))
		if len(l.Events) != 2 {
			t.Fatalf("reads and denials under app/d = %+v", l.Events)
		}
		// An unknown type is refused, naming it and the known ones: a
		// typo must not read as "no such events".
		err := c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{Types: []string{"secret.read", "secret.reed"}}, &l)
		var se *transport.StatusError
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Code != api.CodeBadRequest || se.Reason != api.ReasonInvalid ||
			!strings.Contains(se.Message, `unknown event type "secret.reed"`) || !strings.Contains(se.Message, "access.denied, ") || strings.Contains(se.Message, `"secret.read"`) {
			t.Fatalf("unknown type: %v", err)
		}
	})
	t.Run("proofs", func(t *testing.T) {
		t.Parallel()
		var cp api.AuditCheckpointResponse
		// Checkpoints are signed every second; wait for one covering a put.
		waitFor(t, func() bool {
			return c.call(t, n, auditor, api.OpAuditCheckpoint, api.AuditCheckpointRequest{}, &cp) == nil && cp.Size >= 3
		})
		got, err := eventlog.OpenCheckpoint([]byte(cp.Checkpoint), cp.VerifierKey)
		if err != nil || got.Size != cp.Size {
			t.Fatalf("checkpoint %q: %v", cp.Checkpoint, err)
		}
		var pr api.AuditProofResponse
		must(c.call(t, n, auditor, api.OpAuditProof, api.AuditProofRequest{Seq: 2}, &pr))
		if pr.TreeSize < cp.Size {
			t.Fatalf("proof tree size %d, checkpoint %d", pr.TreeSize, cp.Size)
		}
		root := openNote(t, pr.Checkpoint, cp.VerifierKey).Root
		if err := eventlog.CheckInclusion(toHashes(pr.Proof), pr.TreeSize, root, 2, tlog.Hash(pr.LeafHash)); err != nil {
			t.Fatalf("inclusion: %v", err)
		}
		if err := eventlog.CheckInclusion(toHashes(pr.Proof), pr.TreeSize, root, 3, tlog.Hash(pr.LeafHash)); err == nil {
			t.Fatal("inclusion proof accepted for the wrong seq")
		}
		var cs api.AuditConsistencyResponse
		must(c.call(t, n, auditor, api.OpAuditConsistency, api.AuditConsistencyRequest{OldSize: 1}, &cs))
		old := openNoteless(t, c, n, 1)
		newRoot := openNote(t, cs.Checkpoint, cp.VerifierKey).Root
		if err := eventlog.CheckConsistency(toHashes(cs.Proof), cs.NewSize, newRoot, 1, old); err != nil {
			t.Fatalf("consistency: %v", err)
		}
		var rp api.RestorePointListResponse
		must(c.call(t, n, auditor, api.OpRestorePointList, api.RestorePointListRequest{}, &rp))
		if len(rp.Points) == 0 || rp.Points[len(rp.Points)-1].Seq < 3 {
			t.Fatalf("restore points = %+v", rp.Points)
		}
	})
	t.Run("refusals", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name   string
			who    string
			op     api.Op
			req    any
			status int
		}{
			{"workload history", "/workload/app", api.OpSecretHistory, api.SecretHistoryRequest{Path: "app/db"}, 401},
			{"operator audit", "/spike/pilot/role/operator", api.OpAuditList, api.AuditListRequest{}, 401},
			{"auditor cannot read secrets", auditor, api.OpSecretGet, api.SecretGetRequest{Path: "app/db"}, 401},
			{"bad path", auditor, api.OpSecretHistory, api.SecretHistoryRequest{Path: ""}, 400},
			{"bad actor", auditor, api.OpAuditList, api.AuditListRequest{Actor: "not-an-id"}, 400},
			{"proof of seq 0", auditor, api.OpAuditProof, api.AuditProofRequest{}, 400},
			{"proof beyond log", auditor, api.OpAuditProof, api.AuditProofRequest{Seq: 1 << 40, TreeSize: 1 << 41}, 404},
			{"consistency beyond log", auditor, api.OpAuditConsistency, api.AuditConsistencyRequest{OldSize: 1, NewSize: 1 << 40}, 404},
			{"limit too large", auditor, api.OpAuditList, api.AuditListRequest{Page: api.Page{Limit: api.MaxPageSize + 1}}, 400},
			{"bad outcome", auditor, api.OpAuditList, api.AuditListRequest{Outcomes: []string{"refused"}}, 400},
			{"bad prefix", auditor, api.OpAuditList, api.AuditListRequest{PathPrefix: "a b"}, 400},
		}
		for _, tc := range cases {
			if err := c.call(t, n, tc.who, tc.op, tc.req, nil); status4xx(err) != tc.status {
				t.Errorf("%s: err %v, want %d", tc.name, err, tc.status)
			}
		}
	})
}

// waitFor polls cond until it holds, failing after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func toHashes(bs [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		copy(out[i][:], b)
	}
	return out
}

func openNote(t *testing.T, msg, vkey string) eventlog.Checkpoint {
	t.Helper()
	cp, err := eventlog.OpenCheckpoint([]byte(msg), vkey)
	if err != nil {
		t.Fatalf("checkpoint %q: %v", msg, err)
	}
	return cp
}

// openNoteless returns the root of the tree of size events from an
// inclusion proof of its only leaf: for size 1 the root is the leaf.
func openNoteless(t *testing.T, c *keeperSet, n *nexusProc, size uint64) tlog.Hash {
	t.Helper()
	var pr api.AuditProofResponse
	if err := c.call(t, n, auditor, api.OpAuditProof, api.AuditProofRequest{Seq: 1, TreeSize: size}, &pr); err != nil {
		t.Fatal(err)
	}
	return tlog.Hash(pr.LeafHash)
}

// TestCustodyEventsVisibleAtOnce: events custody records (a recovery's
// shard export, shard distribution) are in audit answers as soon as the
// call that made them returns, with no later write to carry them in.
func TestCustodyEventsVisibleAtOnce(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	for i := range 3 {
		if err := c.call(t, n, "/spike/pilot/role/recover", api.OpOperatorRecover, struct{}{}, nil); err != nil {
			t.Fatal(err)
		}
		var l api.AuditListResponse
		if err := c.call(t, n, auditor, api.OpAuditList, api.AuditListRequest{Types: []string{"rootkey.shards.exported"}}, &l); err != nil {
			t.Fatal(err)
		}
		if len(l.Events) != i+1 {
			t.Fatalf("after recover #%d, audit list shows %d exports: %+v", i+1, len(l.Events), l.Events)
		}
	}
}
