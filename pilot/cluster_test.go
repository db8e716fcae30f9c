package pilot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// clusterNexus is a stand-in for a clustered Nexus: it serves the
// membership operations from a list in memory, and answers answer
// instead when it is set.
type clusterNexus struct {
	*fakeNexus

	mu      sync.Mutex
	members []api.ClusterMember
	leader  string
	answer  *transport.Response
	bodies  []string // the requests it took, in order
}

func newClusterNexus(t *testing.T) *clusterNexus {
	t.Helper()
	n := &clusterNexus{leader: "nexus-1", members: []api.ClusterMember{
		{ID: "nexus-1", RaftAddress: "10.0.0.1:8300", APIAddress: "10.0.0.1:8553", Role: api.MemberLeader, Voter: true},
		{ID: "nexus-2", RaftAddress: "10.0.0.2:8300", Role: api.MemberFollower, Voter: true, Healthy: new(bool)},
	}}
	n.fakeNexus = newFakeNexus(t, identity.PathPilotSuperuser,
		route(api.OpClusterList, n.serve), route(api.OpClusterAdd, n.serve), route(api.OpClusterRemove, n.serve))
	return n
}

func (n *clusterNexus) serve(_ context.Context, r *transport.Request) transport.Response {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.bodies = append(n.bodies, r.Action+" "+string(r.Body))
	if n.answer != nil {
		return *n.answer
	}
	switch r.Action {
	case string(api.ActionList):
		return transport.Response{Body: api.ClusterListResponse{Members: n.members, Leader: n.leader}}
	case string(api.ActionDelete):
		req, err := api.DecodeRequest[api.ClusterRemoveRequest](bytes.NewReader(r.Body), 0)
		if err != nil {
			return transport.Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}
		}
		for i, m := range n.members {
			if m.ID == req.ID {
				n.members = append(n.members[:i], n.members[i+1:]...)
				return transport.Response{Body: api.ClusterRemoveResponse{}}
			}
		}
		return transport.Response{Status: http.StatusNotFound, Body: api.Problem{Err: api.CodeNotFound, Reason: api.ReasonNoSuchMember,
			Message: req.ID + " is not a member of the cluster (spike operator cluster list shows the members)"}}
	}
	req, err := api.DecodeRequest[api.ClusterAddRequest](bytes.NewReader(r.Body), 0)
	if err != nil {
		return transport.Response{Status: http.StatusBadRequest, Body: api.NewErrorResponse(api.CodeBadRequest)}
	}
	n.members = append(n.members, api.ClusterMember{ID: req.ID, RaftAddress: req.RaftAddress, APIAddress: req.APIAddress, Role: api.MemberFollower, Voter: true})
	return transport.Response{Body: api.ClusterAddResponse{}}
}

// answerWith makes every later call get resp.
func (n *clusterNexus) answerWith(resp transport.Response) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.answer = &resp
}

// took returns the requests Nexus took, as "action body".
func (n *clusterNexus) took() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.bodies...)
}

// onTerminal runs the CLI against n with stdin playing a terminal.
func (n *clusterNexus) onTerminal(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return onTerminal(t, stdin, append([]string{"--nexus-url", n.url, "--svid-dir", n.svidDir, "--retry-wait", "0"}, args...)...)
}

func TestClusterList(t *testing.T) {
	t.Parallel()
	n := newClusterNexus(t)
	r := n.run(t, "", "operator", "cluster", "list")
	r.check(t, 0, "")
	want := "ID       ROLE      VOTER  HEALTHY  RAFT ADDRESS   API ADDRESS\n" +
		"nexus-1  leader    yes    -        10.0.0.1:8300  10.0.0.1:8553\n" +
		"nexus-2  follower  yes    no       10.0.0.2:8300  -\n"
	if r.stdout != want {
		t.Errorf("human list:\n%s\nwant:\n%s", r.stdout, want)
	}

	r = n.run(t, "", "-f", "json", "operator", "cluster", "list")
	r.check(t, 0, "")
	var doc api.ClusterListResponse
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("json list %q: %v", r.stdout, err)
	}
	if doc.Leader != "nexus-1" || len(doc.Members) != 2 || doc.Members[1].RaftAddress != "10.0.0.2:8300" || doc.Members[1].Healthy == nil {
		t.Errorf("json list: %+v", doc)
	}
	if !strings.Contains(r.stdout, `"role": "follower"`) || !strings.Contains(r.stdout, `"voter": true`) {
		t.Errorf("json list does not say each member's role and vote: %s", r.stdout)
	}

	// No leader: the table says so, so an operator does not wait on a
	// change that cannot commit.
	n.mu.Lock()
	n.leader = ""
	n.mu.Unlock()
	r = n.run(t, "", "operator", "cluster", "list")
	r.check(t, 0, "")
	if !strings.HasSuffix(r.stdout, "The cluster has no leader now: changes wait until it elects one.\n") {
		t.Errorf("list without a leader: %q", r.stdout)
	}
}

func TestClusterAdd(t *testing.T) {
	t.Parallel()
	n := newClusterNexus(t)
	r := n.run(t, "", "operator", "cluster", "add", "nexus-3", "nexus-3.nexus:8300", "nexus-3.nexus:8553")
	r.check(t, 0, "")
	if r.stdout != "nexus-3 (Raft at nexus-3.nexus:8300) is a member of the cluster; it catches up from the leader before it serves.\n" {
		t.Errorf("add: %q", r.stdout)
	}
	r = n.run(t, "", "-f", "json", "operator", "cluster", "add", "nexus-4", "[fd00::4]:8300")
	r.check(t, 0, "")
	if got := strings.Join(strings.Fields(r.stdout), ""); got != `{"id":"nexus-4","raftAddress":"[fd00::4]:8300"}` {
		t.Errorf("add json: %s", r.stdout)
	}
	want := []string{
		` {"id":"nexus-3","raftAddress":"nexus-3.nexus:8300","apiAddress":"nexus-3.nexus:8553"}`,
		` {"id":"nexus-4","raftAddress":"[fd00::4]:8300"}`,
	}
	if got := n.took(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Nexus took %q, want %q", got, want)
	}
}

// Arguments that break a rule are a usage error (exit 2), and nothing
// is sent.
func TestClusterArguments(t *testing.T) {
	t.Parallel()
	n := newClusterNexus(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "Nexus-3", "h:8300"}, "invalid argument: id: only lower-case letters, digits and - are allowed"},
		{[]string{"add", "nexus-3", "h"}, "invalid argument: raftAddress: not host:port"},
		{[]string{"add", "nexus-3", "h:0"}, "invalid argument: raftAddress: the port is not a number from 1 to 65535"},
		{[]string{"add", "nexus-3", "h:8300", "h:99999"}, "invalid argument: apiAddress: the port"},
		{[]string{"add", "nexus-3"}, "expected \"<raft-addr>\""},
		{[]string{"remove", "--yes", "nexus_3"}, "invalid argument: id: only lower-case"},
		{[]string{"remove", "--yes", strings.Repeat("n", 65)}, "invalid argument: id: 65 bytes, longer than 64"},
		{[]string{"remove"}, "expected \"<id>\""},
		{[]string{"list", "extra"}, "unexpected argument extra"},
	} {
		r := n.run(t, "", append([]string{"operator", "cluster"}, tc.args...)...)
		r.check(t, 2, tc.want)
	}
	if got := n.took(); len(got) != 0 {
		t.Errorf("Nexus took %q", got)
	}
}

// remove asks first, as other destructive commands do: no terminal and
// no --yes refuses, "n" cancels, and only yes (or --yes) sends.
func TestClusterRemove(t *testing.T) {
	t.Parallel()
	n := newClusterNexus(t)
	n.run(t, "", "operator", "cluster", "remove", "nexus-2").check(t, 2, "pass --yes")
	r := n.onTerminal(t, "n\n", "operator", "cluster", "remove", "nexus-2")
	r.check(t, 1, "cancelled: nothing was changed")
	if got := n.took(); len(got) != 0 {
		t.Fatalf("Nexus took %q before a yes", got)
	}
	r = n.onTerminal(t, "y\n", "operator", "cluster", "remove", "nexus-2")
	if r.code != 0 || r.stdout != "nexus-2 is no longer a member of the cluster.\n" || !strings.Contains(r.stderr, "Remove nexus-2 from the cluster?") {
		t.Fatalf("remove answered yes: exit %d\nstdout %q\nstderr %q", r.code, r.stdout, r.stderr)
	}
	r = n.run(t, "", "-f", "json", "operator", "cluster", "remove", "--yes", "nexus-2")
	r.check(t, 1, "nexus-2 is not a member of the cluster (spike operator cluster list shows the members)")
	n.run(t, "", "operator", "cluster", "remove", "-y", "nexus-1").check(t, 0, "")
	if got := n.took(); len(got) != 3 || got[0] != `delete {"id":"nexus-2"}` || got[2] != `delete {"id":"nexus-1"}` {
		t.Errorf("Nexus took %q", got)
	}
}

// What Nexus refuses is explained: who may manage the cluster, a Nexus
// without clustering, no leader, a change made but not recorded.
func TestClusterRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		answer transport.Response
		args   []string
		want   string
	}{
		{"not the superuser", transport.Response{Status: http.StatusUnauthorized, Body: api.ErrorResponseFor(api.OpClusterList, api.CodeUnauthorized)},
			[]string{"list"}, "Nexus refused spiffe://spike.ist/spike/pilot/role/superuser: managing the cluster needs the spike/pilot/role/superuser identity"},
		{"clustering off", transport.Response{Status: http.StatusConflict, Body: api.Problem{Err: api.CodeConflict, Reason: api.ReasonClusterOff,
			Message: "clustering is off: this Nexus runs as a single node and has no cluster members"}},
			[]string{"list"}, "clustering is off: this Nexus runs as a single node"},
		{"clustering off, add", transport.Response{Status: http.StatusConflict, Body: api.Problem{Err: api.CodeConflict, Reason: api.ReasonClusterOff,
			Message: "clustering is off: this Nexus runs as a single node and has no cluster members"}},
			[]string{"add", "nexus-3", "h:1"}, "clustering is off"},
		{"conflict", transport.Response{Status: http.StatusConflict, Body: api.Problem{Err: api.CodeConflict, Reason: api.ReasonMemberConflict,
			Message: "cannot add nexus-3 at h:1: nexus-2 is at h:1"}},
			[]string{"add", "nexus-3", "h:1"}, "cannot add nexus-3 at h:1: nexus-2 is at h:1"},
		{"no leader", transport.Response{Status: http.StatusServiceUnavailable, Body: api.Problem{Err: api.CodeNotReady, Reason: api.ReasonNoLeader,
			Message: "cannot add now: no leader to make the change; retry once the cluster has a leader"}},
			[]string{"add", "nexus-3", "h:1"}, "retry once the cluster has a leader"},
		{"unrecorded", transport.Response{Status: http.StatusInternalServerError, Body: api.Problem{Err: api.CodeInternal,
			Message: "cluster.remove of nexus-2 was made, but recording it in the event log failed: see Nexus's log"}},
			[]string{"remove", "--yes", "nexus-2"}, "Nexus failed: cluster.remove of nexus-2 was made, but recording it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newClusterNexus(t)
			n.answerWith(tc.answer)
			n.run(t, "", append([]string{"operator", "cluster"}, tc.args...)...).check(t, 1, tc.want)
		})
	}
}

// A Nexus that runs alone (the dev system) answers the superuser that
// clustering is off, changes nothing and records nothing for it; anyone
// else is refused, and the refusal is in the log.
func TestClusterOnASingleNexus(t *testing.T) {
	t.Parallel()
	auditor := svidDir(t, devcluster.SVIDAuditor)
	runCases(t, []cliCase{
		{name: "list", args: []string{"operator", "cluster", "list"}, code: 1, want: "clustering is off: this Nexus runs as a single node"},
		{name: "add", args: []string{"operator", "cluster", "add", "nexus-2", "127.0.0.1:8300"}, code: 1, want: "clustering is off"},
		{name: "remove", args: []string{"operator", "cluster", "remove", "--yes", "nexus-2"}, code: 1, want: "clustering is off"},
		{name: "auditor", who: auditor, args: []string{"operator", "cluster", "list"}, code: 1,
			want: "Nexus refused spiffe://spike.ist/spike/pilot/role/auditor: managing the cluster needs the spike/pilot/role/superuser identity"},
	})
	r := as(t, auditor, "", "-f", "json", "audit", "list", "--path", api.SystemPathCluster, "--type", "access.denied,cluster.member_added,cluster.member_removed,request.refused")
	r.check(t, 0, "")
	var doc struct {
		Events []struct {
			Type, Actor, Detail string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("audit list %q: %v", r.stdout, err)
	}
	// Only the auditor's denials (one a run of this test, -count=N
	// runs it N times against the same log).
	if len(doc.Events) == 0 {
		t.Fatalf("no events on %s, want the auditor's denial", api.SystemPathCluster)
	}
	for _, e := range doc.Events {
		if e.Type != "access.denied" || e.Actor != "spiffe://spike.ist/spike/pilot/role/auditor" || !strings.Contains(e.Detail, "cluster.list") {
			t.Errorf("event on %s: %+v, want only the auditor's denials of cluster.list", api.SystemPathCluster, e)
		}
	}
}
