// Package members serves the cluster membership operations of Nexus
// (api.OpClusterList, OpClusterAdd, OpClusterRemove): the superuser
// lists the replicas of a Raft cluster, adds one, or removes one.
//
// The package knows nothing of Raft: it answers over a Cluster, which the
// replicated Nexus implements, and records each change through a
// Recorder (the service's command loop) once the Cluster has made it, so
// the log never says a member was added that was not. A Nexus without
// clustering passes no Cluster, and every operation is answered 409
// cluster_off.
//
// The order of checks is fixed: a body that does not decode or breaks a
// rule is 400 and not an event (its values are not worth recording and a
// caller without rights must not be able to write them into the log);
// then a caller that is not the superuser is 401 and recorded as
// access.denied; then the cluster decides. A change the cluster refuses
// because of its membership (no such member, an ID or address already
// taken) is recorded as request.refused; one it could not make now (no
// leader, no quorum) is 503 and not recorded, since nothing happened and
// the client retries.
package members

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
)

// Cluster is the Raft group a clustered Nexus belongs to. Its errors
// decide the answer: ErrClusterOff, ErrNoSuchMember, ErrMemberConflict,
// ErrNoLeader (or commit.ErrNotLeader) are answered as each says; any
// other error is 500.
type Cluster interface {
	// Members returns every member of the cluster's configuration, and
	// the leader's ID ("" while there is none).
	Members(ctx context.Context) ([]api.ClusterMember, string, error)
	// Add makes the replica id, at raftAddr, a voter; apiAddr ("" if not
	// given) is where it serves clients. It returns once the change is
	// committed.
	Add(ctx context.Context, id, raftAddr, apiAddr string) error
	// Remove takes the member id out of the configuration, returning
	// once the change is committed. It is never asked to remove the
	// leader (see Members.remove).
	Remove(ctx context.Context, id string) error
}

// Recorder appends events through the command loop, returning once
// they are durable (service.Service.Record).
type Recorder interface {
	Record(ctx context.Context, evs ...eventlog.Event) error
}

// The errors a Cluster returns for the answers that are not 500.
var (
	// ErrClusterOff: this Nexus is not clustered (409 cluster_off).
	ErrClusterOff = errors.New("clustering is off")
	// ErrNoSuchMember: the ID to remove is not a member (404, recorded).
	ErrNoSuchMember = errors.New("no such member")
	// ErrMemberConflict: the ID or an address to add is already a
	// member's, with other addresses or under another ID (409,
	// recorded).
	ErrMemberConflict = errors.New("member conflicts with the configuration")
	// ErrNoLeader: this replica cannot make the change now: it is not
	// the leader, or the cluster has no quorum (503, not recorded).
	ErrNoLeader = errors.New("no leader to make the change")
)

// Config is what the handlers are built over.
type Config struct {
	// Cluster is the cluster; nil when clustering is off.
	Cluster  Cluster
	Recorder Recorder
	// Roles says who the superuser is.
	Roles  *identity.Roles
	Logger *slog.Logger
}

// Members serves the membership operations.
type Members struct {
	cfg Config
}

// New returns the handlers of cfg.
func New(cfg Config) *Members {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Members{cfg: cfg}
}

// Handler returns the handler of op; ok is false for an op that is not
// a membership operation.
func (m *Members) Handler(op api.Op) (h transport.Handler, ok bool) {
	switch op {
	case api.OpClusterList:
		return m.list, true
	case api.OpClusterAdd:
		return m.add, true
	case api.OpClusterRemove:
		return m.remove, true
	}
	return nil, false
}

func (m *Members) list(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpClusterList
	if _, resp, ok := admit[api.ClusterListRequest](ctx, m, r); !ok {
		return resp
	}
	if m.cfg.Cluster == nil {
		return clusterOff(op)
	}
	ms, leader, err := m.cfg.Cluster.Members(ctx)
	if err != nil {
		return m.failed(op, "list", err)
	}
	if ms == nil {
		ms = []api.ClusterMember{}
	}
	return transport.Response{Body: api.ClusterListResponse{Members: ms, Leader: leader}}
}

func (m *Members) add(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpClusterAdd
	req, resp, ok := admit[api.ClusterAddRequest](ctx, m, r)
	if !ok {
		return resp
	}
	if m.cfg.Cluster == nil {
		return clusterOff(op)
	}
	if err := m.cfg.Cluster.Add(ctx, req.ID, req.RaftAddress, req.APIAddress); err != nil {
		if errors.Is(err, ErrMemberConflict) {
			return m.refuse(ctx, r, op, req.ID, refusal{http.StatusConflict, api.CodeConflict, api.ReasonMemberConflict, events.OutcomeConflict,
				fmt.Sprintf("cannot add %s at %s: %s (spike operator cluster list shows the members)", req.ID, req.RaftAddress, detail(err))})
		}
		return m.failed(op, "add", err)
	}
	ev := &events.ClusterMemberAdded{ID: req.ID, RaftAddress: req.RaftAddress, APIAddress: req.APIAddress}
	if err := m.cfg.Recorder.Record(ctx, event(r, ev)); err != nil {
		return m.unrecorded(op, req.ID, err)
	}
	m.cfg.Logger.Info("cluster member added", "request_id", r.ID, "member", req.ID, "raft_address", req.RaftAddress, "api_address", req.APIAddress)
	return transport.Response{Body: api.ClusterAddResponse{}}
}

func (m *Members) remove(ctx context.Context, r *transport.Request) transport.Response {
	op := api.OpClusterRemove
	req, resp, ok := admit[api.ClusterRemoveRequest](ctx, m, r)
	if !ok {
		return resp
	}
	if m.cfg.Cluster == nil {
		return clusterOff(op)
	}
	noSuch := func() transport.Response {
		return m.refuse(ctx, r, op, req.ID, refusal{http.StatusNotFound, api.CodeNotFound, api.ReasonNoSuchMember, events.OutcomeNotFound,
			fmt.Sprintf("%s is not a member of the cluster (spike operator cluster list shows the members)", req.ID)})
	}
	// The event names the addresses the member had: read them first.
	ms, leader, err := m.cfg.Cluster.Members(ctx)
	if err != nil {
		return m.failed(op, "remove", err)
	}
	gone, found := find(ms, req.ID)
	if !found {
		return noSuch()
	}
	if req.ID == leader {
		// The leader that removed itself would step down before its
		// record of the change could commit: a change the log never
		// shows. Refused instead; once another replica leads, it can.
		return m.refuse(ctx, r, op, req.ID, refusal{http.StatusConflict, api.CodeConflict, api.ReasonMemberConflict, events.OutcomeConflict,
			fmt.Sprintf("%s is the leader and cannot remove itself: stop it (another replica takes over), then remove it", req.ID)})
	}
	if err := m.cfg.Cluster.Remove(ctx, req.ID); err != nil {
		if errors.Is(err, ErrNoSuchMember) {
			return noSuch()
		}
		return m.failed(op, "remove", err)
	}
	ev := &events.ClusterMemberRemoved{ID: req.ID, RaftAddress: gone.RaftAddress, APIAddress: gone.APIAddress}
	if err := m.cfg.Recorder.Record(ctx, event(r, ev)); err != nil {
		return m.unrecorded(op, req.ID, err)
	}
	m.cfg.Logger.Info("cluster member removed", "request_id", r.ID, "member", req.ID, "raft_address", gone.RaftAddress)
	return transport.Response{Body: api.ClusterRemoveResponse{}}
}

func find(ms []api.ClusterMember, id string) (api.ClusterMember, bool) {
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return api.ClusterMember{}, false
}
