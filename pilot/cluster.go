package pilot

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// clusterCmd is spike operator cluster: the membership of a Nexus
// cluster (issue 16), the superuser's alone.
type clusterCmd struct {
	List   clusterListCmd   `cmd:"" help:"List the Nexus replicas of the cluster: each one's ID, role (leader, follower or nonvoter), Raft address and API address."`
	Add    clusterAddCmd    `cmd:"" help:"Add a Nexus replica to the cluster as a voter, by its ID and the address it speaks Raft at (and, optionally, the address it serves clients at)."`
	Remove clusterRemoveCmd `cmd:"" help:"Remove a Nexus replica from the cluster: it stops voting and serving. Asks first unless --yes."`
}

type clusterListCmd struct{}

// clusterListDoc is the JSON document of spike operator cluster list.
type clusterListDoc struct {
	Members []api.ClusterMember `json:"members"`
	Leader  string              `json:"leader"`
}

func (c *clusterListCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	members, leader, err := client.ClusterMembers(e.ctx)
	if err != nil {
		return e.clusterError(err)
	}
	doc := clusterListDoc{Members: members, Leader: leader}
	return e.print(doc, doc.human)
}

func (d clusterListDoc) human(w io.Writer) error {
	t := table(w)
	fmt.Fprintln(t, "ID\tROLE\tVOTER\tHEALTHY\tRAFT ADDRESS\tAPI ADDRESS")
	for _, m := range d.Members {
		healthy := "-"
		if m.Healthy != nil {
			healthy = yesNo(*m.Healthy)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(m.ID), dash(oneLine(m.Role)), yesNo(m.Voter), healthy,
			oneLine(m.RaftAddress), dash(oneLine(m.APIAddress)))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if d.Leader == "" {
		_, err := fmt.Fprintln(w, "The cluster has no leader now: changes wait until it elects one.")
		return err
	}
	return nil
}

type clusterAddCmd struct {
	ID         string `arg:"" name:"id" help:"The replica's ID: 1 to 64 lower-case letters, digits and -, as its Nexus was started with."`
	RaftAddr   string `arg:"" name:"raft-addr" help:"host:port where the replica speaks Raft to its peers."`
	APIAddress string `arg:"" optional:"" name:"api-addr" help:"host:port where the replica serves clients (shown by cluster list)."`
}

// clusterMemberDoc is the JSON document of spike operator cluster add
// and remove: the member changed.
type clusterMemberDoc struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raftAddress,omitempty"`
	APIAddress  string `json:"apiAddress,omitempty"`
}

func (c *clusterAddCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	if err := client.AddClusterMember(e.ctx, c.ID, c.RaftAddr, c.APIAddress); err != nil {
		return e.clusterError(err)
	}
	doc := clusterMemberDoc{ID: c.ID, RaftAddress: c.RaftAddr, APIAddress: c.APIAddress}
	return e.print(doc, okLine(fmt.Sprintf("%s (Raft at %s) is a member of the cluster; it catches up from the leader before it serves.", c.ID, c.RaftAddr)))
}

type clusterRemoveCmd struct {
	ID  string `arg:"" name:"id" help:"The ID of the replica to remove (spike operator cluster list shows them)."`
	Yes bool   `name:"yes" short:"y" help:"Do not ask for confirmation."`
}

func (c *clusterRemoveCmd) Run(e *env) error {
	if err := api.ValidateMemberID(c.ID); err != nil {
		return usagef("invalid argument: %s", fieldText(err))
	}
	q := fmt.Sprintf("Remove %s from the cluster? It stops voting and serving, and the others need a majority of those left.", c.ID)
	if err := e.confirm(q, c.Yes); err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	if err := client.RemoveClusterMember(e.ctx, c.ID); err != nil {
		return e.clusterError(err)
	}
	return e.print(clusterMemberDoc{ID: c.ID}, okLine(fmt.Sprintf("%s is no longer a member of the cluster.", c.ID)))
}

// fieldText is a validation error without the api package's prefix.
func fieldText(err error) string {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return fe.Field + ": " + fe.Reason
	}
	return err.Error()
}

// clusterError explains what the generic explanations cannot: who may
// manage the cluster, and what Nexus said of a change it could not
// make. Everything else is left to them.
func (e *env) clusterError(err error) error {
	var se *sdk.Error
	if !errors.As(err, &se) {
		return err
	}
	switch {
	case errors.Is(se, sdk.ErrUnauthorized):
		who := "this identity"
		if id, idErr := e.client.SPIFFEID(); idErr == nil {
			who = id.String()
		}
		return fmt.Errorf("Nexus refused %s: managing the cluster needs the spike/pilot/role/superuser identity", who)
	case se.Status == http.StatusInternalServerError && se.Reason == "" && se.Message != "":
		return fmt.Errorf("Nexus failed: %s", oneLine(se.Message))
	}
	return err
}
