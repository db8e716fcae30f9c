package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Member is one replica of the group's current configuration.
type Member struct {
	ID       string
	RaftAddr string
	APIAddr  string
	// Role is "leader", "follower" or "nonvoter".
	Role string
}

// membershipTimeout bounds a membership change.
const membershipTimeout = 10 * time.Second

// Members returns the group's configuration and the leader's id ("" if
// none is known).
func (n *Node) Members(ctx context.Context) ([]Member, string, error) {
	if n.raft == nil {
		return nil, "", ErrNotLeader
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, "", fmt.Errorf("cluster: read configuration: %w", err)
	}
	_, leader := n.raft.LeaderWithID()
	var out []Member
	for _, s := range f.Configuration().Servers {
		m := Member{ID: string(s.ID), RaftAddr: string(s.Address), APIAddr: n.apiAddr(string(s.ID), string(s.Address)), Role: "follower"}
		switch {
		case s.Suffrage != raft.Voter:
			m.Role = "nonvoter"
		case s.ID == leader:
			m.Role = "leader"
		}
		out = append(out, m)
	}
	return out, string(leader), nil
}

// Add adds a voting replica, or updates the address of one. Only the
// leader can.
func (n *Node) Add(ctx context.Context, id, raftAddr, apiAddr string) error {
	p := Peer{ID: id, RaftAddr: raftAddr, APIAddr: apiAddr}
	if err := p.check(); err != nil {
		return err
	}
	if n.raft == nil {
		return ErrNotLeader
	}
	if err := n.change(n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, membershipTimeout)); err != nil {
		return fmt.Errorf("add replica %s: %w", id, err)
	}
	if apiAddr != "" {
		n.mu.Lock()
		n.api[id] = apiAddr
		n.mu.Unlock()
	}
	return nil
}

// Remove removes a replica from the group. Only the leader can; a
// leader that removes itself steps down.
func (n *Node) Remove(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	if n.raft == nil {
		return ErrNotLeader
	}
	if err := n.change(n.raft.RemoveServer(raft.ServerID(id), 0, membershipTimeout)); err != nil {
		return fmt.Errorf("remove replica %s: %w", id, err)
	}
	return nil
}

func (n *Node) change(f raft.IndexFuture) error {
	err := f.Error()
	if err == raft.ErrNotLeader || err == raft.ErrLeadershipLost {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	return err
}
