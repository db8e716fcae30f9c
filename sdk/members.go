package sdk

import (
	"context"

	"github.com/spikeledger/spike/api"
)

// ClusterMembers lists the Nexus replicas of the cluster and the ID of
// its leader ("" while there is none). Superuser only; a Nexus that runs
// alone answers ErrConflict with Reason api.ReasonClusterOff.
func (c *Client) ClusterMembers(ctx context.Context) (members []api.ClusterMember, leader string, err error) {
	var resp api.ClusterListResponse
	if err := c.call(ctx, "", api.ClusterListRequest{}, &resp); err != nil {
		return nil, "", err
	}
	if resp.Members == nil {
		resp.Members = []api.ClusterMember{}
	}
	return resp.Members, resp.Leader, nil
}

// AddClusterMember makes the replica id, which speaks Raft at raftAddr
// (host:port), a voting member of the cluster; apiAddr, if not "", is
// where it serves clients. Superuser only. It returns once the cluster
// has committed the change and Nexus has recorded it.
func (c *Client) AddClusterMember(ctx context.Context, id, raftAddr, apiAddr string) error {
	return c.call(ctx, id, api.ClusterAddRequest{ID: id, RaftAddress: raftAddr, APIAddress: apiAddr}, nil)
}

// RemoveClusterMember takes the member id out of the cluster. Superuser
// only. A member that is not one is ErrNotFound (Reason
// api.ReasonNoSuchMember).
func (c *Client) RemoveClusterMember(ctx context.Context, id string) error {
	return c.call(ctx, id, api.ClusterRemoveRequest{ID: id}, nil)
}
