package members

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/commit"
)

var td = spiffeid.RequireTrustDomainFromString(identity.DefaultTrustRoot)

// Callers, by SPIFFE ID.
var (
	superuser = spiffeid.RequireFromPath(td, identity.PathPilotSuperuser)
	auditor   = spiffeid.RequireFromPath(td, identity.PathPilotAuditor)
	workload  = spiffeid.RequireFromPath(td, "/workload/app")
	keeper    = spiffeid.RequireFromPath(td, identity.PathKeeper+"/1")
)

// fakeCluster is a configuration of members in memory; err, when set,
// is what every call returns instead.
type fakeCluster struct {
	mu      sync.Mutex
	members []api.ClusterMember
	leader  string
	err     error
	calls   []string // "add n2", "remove n2", "members"
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{leader: "n1", members: []api.ClusterMember{
		{ID: "n1", RaftAddress: "10.0.0.1:8300", APIAddress: "10.0.0.1:8553", Role: api.MemberLeader, Voter: true},
		{ID: "n2", RaftAddress: "10.0.0.2:8300", APIAddress: "10.0.0.2:8553", Role: api.MemberFollower, Voter: true},
	}}
}

func (c *fakeCluster) Members(context.Context) ([]api.ClusterMember, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "members")
	if c.err != nil {
		return nil, "", c.err
	}
	return slices.Clone(c.members), c.leader, nil
}

func (c *fakeCluster) Add(_ context.Context, id, raftAddr, apiAddr string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "add "+id)
	if c.err != nil {
		return c.err
	}
	for _, m := range c.members {
		if m.ID == id && m.RaftAddress == raftAddr {
			return nil // Raft's AddVoter of a member as it is changes nothing
		}
		if m.ID == id || m.RaftAddress == raftAddr {
			return fmt.Errorf("%w: %s is at %s", ErrMemberConflict, m.ID, m.RaftAddress)
		}
	}
	c.members = append(c.members, api.ClusterMember{ID: id, RaftAddress: raftAddr, APIAddress: apiAddr, Role: api.MemberFollower, Voter: true})
	return nil
}

func (c *fakeCluster) Remove(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, "remove "+id)
	if c.err != nil {
		return c.err
	}
	i := slices.IndexFunc(c.members, func(m api.ClusterMember) bool { return m.ID == id })
	if i < 0 {
		return ErrNoSuchMember
	}
	c.members = slices.Delete(c.members, i, i+1)
	return nil
}

func (c *fakeCluster) changes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range c.calls {
		if s != "members" {
			out = append(out, s)
		}
	}
	return out
}

// fakeRecorder keeps what it records; err, when set, fails every record.
type fakeRecorder struct {
	mu     sync.Mutex
	events []eventlog.Event
	err    error
}

func (r *fakeRecorder) Record(_ context.Context, evs ...eventlog.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.events = append(r.events, evs...)
	return nil
}

// recorded decodes what was recorded.
func (r *fakeRecorder) recorded(t *testing.T) []events.Payload {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []events.Payload
	for _, e := range r.events {
		p, err := events.Decode(e.Type, e.Schema, e.Payload)
		if err != nil {
			t.Fatalf("recorded %s does not decode: %v", e.Type, err)
		}
		out = append(out, p)
	}
	return out
}

type fixture struct {
	cluster *fakeCluster
	rec     *fakeRecorder
	m       *Members
}

func newFixture(clustered bool) *fixture {
	f := &fixture{cluster: newFakeCluster(), rec: &fakeRecorder{}}
	cfg := Config{Recorder: f.rec, Roles: identity.DefaultRoles()}
	if clustered {
		cfg.Cluster = f.cluster
	}
	f.m = New(cfg)
	return f
}

// call runs op's handler as who with body, and returns the answer with
// its body as JSON.
func (f *fixture) call(t *testing.T, op api.Op, who spiffeid.ID, body string) (transport.Response, string) {
	t.Helper()
	h, ok := f.m.Handler(op)
	if !ok {
		t.Fatalf("no handler for %v", op)
	}
	r := &transport.Request{ID: "req-1", Peer: who, Body: []byte(body)}
	resp := h(t.Context(), r)
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	b, err := json.Marshal(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandlerServesTheMembershipOps(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	for _, op := range api.Ops() {
		_, ok := m.Handler(op)
		want := op == api.OpClusterList || op == api.OpClusterAdd || op == api.OpClusterRemove
		if ok != want {
			t.Errorf("Handler(%v) ok = %v, want %v", op, ok, want)
		}
	}
}

// Only the superuser manages the cluster: anyone else is 401, recorded
// as access.denied on the cluster's pseudo-path, and the cluster is not
// asked anything.
func TestOnlyTheSuperuser(t *testing.T) {
	t.Parallel()
	bodies := map[api.Op]string{
		api.OpClusterList:   `{}`,
		api.OpClusterAdd:    `{"id":"n3","raftAddress":"10.0.0.3:8300"}`,
		api.OpClusterRemove: `{"id":"n2"}`,
	}
	for _, who := range []spiffeid.ID{auditor, workload, keeper} {
		for op, body := range bodies {
			t.Run(who.Path()+" "+op.String(), func(t *testing.T) {
				t.Parallel()
				f := newFixture(true)
				resp, b := f.call(t, op, who, body)
				if resp.Status != http.StatusUnauthorized || !strings.Contains(b, string(api.CodeUnauthorized)) {
					t.Fatalf("%d %s, want 401 %s", resp.Status, b, api.CodeUnauthorized)
				}
				got := f.rec.recorded(t)
				want := &events.AccessDenied{Meta: events.Meta{Actor: who.String(), RequestID: "req-1"},
					Path: api.SystemPathCluster, Action: op.String(), Reason: "only the superuser may manage the cluster"}
				if len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(want) {
					t.Errorf("recorded %v, want %v", got, want)
				}
				if c := f.cluster.calls; len(c) != 0 {
					t.Errorf("the cluster was asked %q", c)
				}
			})
		}
	}
}

// A denial that cannot be recorded is not answered as one: 503, nothing
// done.
func TestDenialUnrecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(true)
	f.rec.err = errors.New("log closed")
	resp, b := f.call(t, api.OpClusterRemove, workload, `{"id":"n2"}`)
	if resp.Status != http.StatusServiceUnavailable || !strings.Contains(b, string(api.CodeNotReady)) {
		t.Fatalf("%d %s, want 503", resp.Status, b)
	}
	if c := f.cluster.changes(); len(c) != 0 {
		t.Errorf("the cluster changed: %q", c)
	}
}

// A body that does not decode or breaks a rule is 400 before anything
// else, for every caller: nothing is recorded and the cluster is not
// asked.
func TestValidationFirst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		op    api.Op
		body  string
		field string
	}{
		{"list not JSON", api.OpClusterList, `{`, ""},
		{"add empty id", api.OpClusterAdd, `{"raftAddress":"h:1"}`, "id: empty"},
		{"add id in capitals", api.OpClusterAdd, `{"id":"N3","raftAddress":"h:1"}`, "id: only lower-case"},
		{"add id too long", api.OpClusterAdd, `{"id":"` + strings.Repeat("n", 65) + `","raftAddress":"h:1"}`, "id: 65 bytes"},
		{"add no port", api.OpClusterAdd, `{"id":"n3","raftAddress":"h"}`, "raftAddress: not host:port"},
		{"add port 0", api.OpClusterAdd, `{"id":"n3","raftAddress":"h:0"}`, "raftAddress: the port"},
		{"add port 65536", api.OpClusterAdd, `{"id":"n3","raftAddress":"h:65536"}`, "raftAddress: the port"},
		{"add bell in the host", api.OpClusterAdd, `{"id":"n3","raftAddress":"a\u0007b:1"}`, "raftAddress: the host"},
		{"add bad api address", api.OpClusterAdd, `{"id":"n3","raftAddress":"h:1","apiAddress":"h:x"}`, "apiAddress: the port"},
		{"add id of the wrong type", api.OpClusterAdd, `{"id":3,"raftAddress":"h:1"}`, "id: cannot be a JSON number"},
		{"remove no id", api.OpClusterRemove, `{}`, "id: empty"},
		{"remove id with a slash", api.OpClusterRemove, `{"id":"n/2"}`, "id: only lower-case"},
	} {
		for _, who := range []spiffeid.ID{superuser, workload} {
			t.Run(tc.name+" "+who.Path(), func(t *testing.T) {
				t.Parallel()
				f := newFixture(true)
				resp, b := f.call(t, tc.op, who, tc.body)
				var p api.Problem
				if err := json.Unmarshal([]byte(b), &p); err != nil {
					t.Fatal(err)
				}
				if resp.Status != http.StatusBadRequest || p.Err != api.CodeBadRequest || p.Reason != api.ReasonInvalid || !strings.Contains(p.Message, tc.field) {
					t.Errorf("%d %s, want 400 invalid naming %q", resp.Status, b, tc.field)
				}
				if got := f.rec.recorded(t); len(got) != 0 {
					t.Errorf("recorded %v", got)
				}
				if c := f.cluster.calls; len(c) != 0 {
					t.Errorf("the cluster was asked %q", c)
				}
			})
		}
	}
}

// A Nexus without clustering says so, to the superuser, for every op,
// and records nothing: there is no membership to change.
func TestClusteringOff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		op   api.Op
		body string
	}{
		{api.OpClusterList, `{}`},
		{api.OpClusterAdd, `{"id":"n3","raftAddress":"10.0.0.3:8300"}`},
		{api.OpClusterRemove, `{"id":"n2"}`},
	} {
		for _, name := range []string{"no cluster", "cluster says off"} {
			t.Run(tc.op.String()+" "+name, func(t *testing.T) {
				t.Parallel()
				f := newFixture(name == "cluster says off")
				f.cluster.err = fmt.Errorf("raft: %w", ErrClusterOff)
				resp, b := f.call(t, tc.op, superuser, tc.body)
				var p api.Problem
				if err := json.Unmarshal([]byte(b), &p); err != nil {
					t.Fatal(err)
				}
				if resp.Status != http.StatusConflict || p.Err != api.CodeConflict || p.Reason != api.ReasonClusterOff || !strings.Contains(p.Message, "clustering is off") {
					t.Errorf("%d %s, want 409 cluster_off saying clustering is off", resp.Status, b)
				}
				if got := f.rec.recorded(t); len(got) != 0 {
					t.Errorf("recorded %v", got)
				}
			})
		}
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	f := newFixture(true)
	resp, b := f.call(t, api.OpClusterList, superuser, `{}`)
	if resp.Status != http.StatusOK {
		t.Fatalf("%d %s", resp.Status, b)
	}
	var got api.ClusterListResponse
	if err := json.Unmarshal([]byte(b), &got); err != nil {
		t.Fatal(err)
	}
	if got.Leader != "n1" || len(got.Members) != 2 || got.Members[1] != f.cluster.members[1] {
		t.Errorf("listed %+v", got)
	}
	if r := f.rec.recorded(t); len(r) != 0 {
		t.Errorf("a list recorded %v", r)
	}
	// An empty configuration lists [] (not null), for scripts.
	f.cluster.members = nil
	if _, b := f.call(t, api.OpClusterList, superuser, `{}`); !strings.Contains(b, `"members":[]`) {
		t.Errorf("empty list: %s", b)
	}
}

// A change is recorded once, after the cluster made it, with who made
// it and the member's addresses; a change the cluster refuses is
// request.refused, and one it fails is not recorded at all.
func TestChangesRecordedOnlyOnSuccess(t *testing.T) {
	t.Parallel()
	meta := events.Meta{Actor: superuser.String(), RequestID: "req-1"}
	for _, tc := range []struct {
		name       string
		op         api.Op
		body       string
		clusterErr error
		recordErr  error
		status     int
		reason     api.Reason
		message    string
		changes    []string
		want       events.Payload // nil: nothing recorded
	}{
		{name: "add", op: api.OpClusterAdd, body: `{"id":"n3","raftAddress":"10.0.0.3:8300","apiAddress":"10.0.0.3:8553"}`,
			status: http.StatusOK, changes: []string{"add n3"},
			want: &events.ClusterMemberAdded{Meta: meta, ID: "n3", RaftAddress: "10.0.0.3:8300", APIAddress: "10.0.0.3:8553"}},
		{name: "add without api address", op: api.OpClusterAdd, body: `{"id":"n3","raftAddress":"nexus-3:8300"}`,
			status: http.StatusOK, changes: []string{"add n3"},
			want: &events.ClusterMemberAdded{Meta: meta, ID: "n3", RaftAddress: "nexus-3:8300"}},
		{name: "add an id taken", op: api.OpClusterAdd, body: `{"id":"n2","raftAddress":"10.0.0.9:8300"}`,
			status: http.StatusConflict, reason: api.ReasonMemberConflict, message: "n2 is at 10.0.0.2:8300", changes: []string{"add n2"},
			want: &events.RequestRefused{Meta: meta, Path: "spike/system/cluster/n2", Action: "cluster.add", Outcome: events.OutcomeConflict, Reason: "member_conflict"}},
		{name: "add, no leader", op: api.OpClusterAdd, body: `{"id":"n3","raftAddress":"h:1"}`, clusterErr: fmt.Errorf("add: %w", commit.ErrNotLeader),
			status: http.StatusServiceUnavailable, reason: api.ReasonNoLeader, message: "not the cluster's leader", changes: []string{"add n3"}},
		{name: "add, no quorum", op: api.OpClusterAdd, body: `{"id":"n3","raftAddress":"h:1"}`, clusterErr: fmt.Errorf("%w: timed out enqueuing", ErrNoLeader),
			status: http.StatusServiceUnavailable, reason: api.ReasonNoLeader, message: "retry once the cluster has a leader", changes: []string{"add n3"}},
		{name: "add, raft fails", op: api.OpClusterAdd, body: `{"id":"n3","raftAddress":"h:1"}`, clusterErr: errors.New("disk on fire"),
			status: http.StatusInternalServerError, message: "could not add", changes: []string{"add n3"}},
		{name: "add, record fails", op: api.OpClusterAdd, body: `{"id":"n3","raftAddress":"h:1"}`, recordErr: errors.New("log closed"),
			status: http.StatusInternalServerError, message: "cluster.add of n3 was made, but recording it", changes: []string{"add n3"}},
		{name: "remove", op: api.OpClusterRemove, body: `{"id":"n2"}`,
			status: http.StatusOK, changes: []string{"remove n2"},
			want: &events.ClusterMemberRemoved{Meta: meta, ID: "n2", RaftAddress: "10.0.0.2:8300", APIAddress: "10.0.0.2:8553"}},
		{name: "remove a stranger", op: api.OpClusterRemove, body: `{"id":"n9"}`,
			status: http.StatusNotFound, reason: api.ReasonNoSuchMember, message: "n9 is not a member",
			want: &events.RequestRefused{Meta: meta, Path: "spike/system/cluster/n9", Action: "cluster.remove", Outcome: events.OutcomeNotFound, Reason: "no_such_member"}},
		{name: "remove the leader", op: api.OpClusterRemove, body: `{"id":"n1"}`,
			status: http.StatusConflict, reason: api.ReasonMemberConflict, message: "n1 is the leader and cannot remove itself",
			want: &events.RequestRefused{Meta: meta, Path: "spike/system/cluster/n1", Action: "cluster.remove", Outcome: events.OutcomeConflict, Reason: "member_conflict"}},
		{name: "remove, no leader", op: api.OpClusterRemove, body: `{"id":"n2"}`, clusterErr: ErrNoLeader,
			status: http.StatusServiceUnavailable, reason: api.ReasonNoLeader},
		{name: "remove, record fails", op: api.OpClusterRemove, body: `{"id":"n2"}`, recordErr: errors.New("log closed"),
			status: http.StatusInternalServerError, message: "was made", changes: []string{"remove n2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(true)
			f.cluster.err, f.rec.err = tc.clusterErr, tc.recordErr
			resp, b := f.call(t, tc.op, superuser, tc.body)
			var p api.Problem
			if err := json.Unmarshal([]byte(b), &p); err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.status || p.Reason != tc.reason || !strings.Contains(p.Message, tc.message) {
				t.Errorf("%d %s, want %d %q %q", resp.Status, b, tc.status, tc.reason, tc.message)
			}
			if c := f.cluster.changes(); !slices.Equal(c, tc.changes) {
				t.Errorf("cluster changes %q, want %q", c, tc.changes)
			}
			got := f.rec.recorded(t)
			switch {
			case tc.want == nil && len(got) != 0:
				t.Errorf("recorded %v, want nothing", got)
			case tc.want != nil && (len(got) != 1 || fmt.Sprint(got[0]) != fmt.Sprint(tc.want)):
				t.Errorf("recorded %v, want %v", got, tc.want)
			}
		})
	}
}

// Two changes in turn see each other: the member added can be removed,
// and the one removed is gone from the list.
func TestAddThenRemove(t *testing.T) {
	t.Parallel()
	f := newFixture(true)
	steps := []struct {
		op     api.Op
		body   string
		status int
	}{
		{api.OpClusterAdd, `{"id":"n3","raftAddress":"10.0.0.3:8300"}`, http.StatusOK},
		{api.OpClusterAdd, `{"id":"n3","raftAddress":"10.0.0.3:8300"}`, http.StatusOK}, // as it is: no change, recorded again
		{api.OpClusterRemove, `{"id":"n3"}`, http.StatusOK},
		{api.OpClusterRemove, `{"id":"n3"}`, http.StatusNotFound},
	}
	for i, s := range steps {
		if resp, b := f.call(t, s.op, superuser, s.body); resp.Status != s.status {
			t.Fatalf("step %d: %d %s, want %d", i, resp.Status, b, s.status)
		}
	}
	var types []string
	for _, p := range f.rec.recorded(t) {
		types = append(types, p.Type())
	}
	want := []string{"cluster.member_added", "cluster.member_added", "cluster.member_removed", "request.refused"}
	if !slices.Equal(types, want) {
		t.Errorf("recorded %q, want %q", types, want)
	}
	_, b := f.call(t, api.OpClusterList, superuser, `{}`)
	if strings.Contains(b, "n3") {
		t.Errorf("n3 still listed: %s", b)
	}
}
