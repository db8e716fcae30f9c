package api

import (
	"net"
	"regexp"
	"strconv"
)

// Cluster membership (extension): the Nexus replicas of a cluster form a
// Raft group, and the superuser lists, adds and removes its members
// (spike operator cluster). A single Nexus, without clustering, answers
// these operations 409 with [ReasonClusterOff].

// PathOperatorCluster serves the membership operations: ?action=list
// lists, no action adds, ?action=delete removes.
const PathOperatorCluster = "/v1/operator/cluster"

// SystemPathCluster is the pseudo-path a refusal of a membership
// operation is recorded under (an access.denied event). No policy grants
// it: membership is the superuser's alone.
const SystemPathCluster = "spike/system/cluster"

// Limits of a member's ID and addresses.
const (
	// MaxMemberIDLength bounds a member's ID.
	MaxMemberIDLength = 64
	// MaxMemberAddressLength bounds a member's address (host:port): a
	// DNS name of 253 bytes, a colon and five digits.
	MaxMemberAddressLength = 259
)

// The refusals of membership operations.
const (
	// ReasonClusterOff: this Nexus is not part of a cluster (clustering
	// is switched off), so it has no members to list or change (409).
	ReasonClusterOff Reason = "cluster_off"
	// ReasonNoSuchMember: the ID given to remove is not a member (404).
	ReasonNoSuchMember Reason = "no_such_member"
	// ReasonMemberConflict: the ID or an address given to add is
	// already a member's, with other addresses or under another ID
	// (409).
	ReasonMemberConflict Reason = "member_conflict"
	// (A change that cannot be made now, no leader or no quorum, is
	// ReasonNoLeader, 503: retry.)
)

// The roles a member plays in the cluster, as [ClusterMember] shows
// them.
const (
	MemberLeader   = "leader"
	MemberFollower = "follower"
	MemberNonvoter = "nonvoter"
)

// memberIDRE is a member's ID: lower-case letters, digits and '-'.
var memberIDRE = regexp.MustCompile(`^[a-z0-9-]+$`)

// ClusterMember is one member of the cluster as OpClusterList shows it.
type ClusterMember struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raftAddress"`
	// APIAddress is where the member serves clients (host:port), ""
	// when it was added without one.
	APIAddress string `json:"apiAddress,omitempty"`
	// Role is MemberLeader, MemberFollower or MemberNonvoter.
	Role string `json:"role"`
	// Voter reports whether the member counts towards the quorum.
	Voter bool `json:"voter"`
	// Healthy, when set, reports whether the leader hears from the
	// member; unset when the answering replica cannot tell.
	Healthy *bool `json:"healthy,omitempty"`
}

// ClusterListRequest asks for the members of the cluster
// (OpClusterList). Its body is {}.
type ClusterListRequest struct{}

// ClusterListResponse answers OpClusterList: every member, and the ID of
// the leader ("" while there is none).
type ClusterListResponse struct {
	Members []ClusterMember `json:"members"`
	Leader  string          `json:"leader"`
	Err     ErrorCode       `json:"err,omitempty"`
}

// ClusterAddRequest adds a replica to the cluster as a voter
// (OpClusterAdd): its ID, the address it speaks Raft at and, optionally,
// the address it serves clients at.
type ClusterAddRequest struct {
	ID          string `json:"id"`
	RaftAddress string `json:"raftAddress"`
	APIAddress  string `json:"apiAddress,omitempty"`
}

// ClusterAddResponse answers OpClusterAdd.
type ClusterAddResponse struct {
	Err ErrorCode `json:"err,omitempty"`
}

// ClusterRemoveRequest removes a member from the cluster
// (OpClusterRemove).
type ClusterRemoveRequest struct {
	ID string `json:"id"`
}

// ClusterRemoveResponse answers OpClusterRemove.
type ClusterRemoveResponse struct {
	Err ErrorCode `json:"err,omitempty"`
}

// Op returns OpClusterList.
func (ClusterListRequest) Op() Op { return OpClusterList }

// Validate accepts every list request.
func (ClusterListRequest) Validate() error { return nil }

// Op returns OpClusterAdd.
func (ClusterAddRequest) Op() Op { return OpClusterAdd }

// Validate checks the ID and the addresses; the API address may be
// left out.
func (r ClusterAddRequest) Validate() error {
	if err := validateMemberID("id", r.ID); err != nil {
		return err
	}
	if err := validateMemberAddress("raftAddress", r.RaftAddress); err != nil {
		return err
	}
	if r.APIAddress == "" {
		return nil
	}
	return validateMemberAddress("apiAddress", r.APIAddress)
}

// Op returns OpClusterRemove.
func (ClusterRemoveRequest) Op() Op { return OpClusterRemove }

// Validate checks the ID.
func (r ClusterRemoveRequest) Validate() error { return validateMemberID("id", r.ID) }

// ValidateMemberID checks a member's ID: 1–64 lower-case letters,
// digits and '-'.
func ValidateMemberID(id string) error { return validateMemberID("id", id) }

func validateMemberID(field, id string) error {
	if err := checkLength(field, id, MaxMemberIDLength); err != nil {
		return err
	}
	if !memberIDRE.MatchString(id) {
		return invalid(field, "only lower-case letters, digits and - are allowed")
	}
	return nil
}

// ValidateMemberAddress checks a member's address: host:port, with a
// host (a name or an IP address, IPv6 in brackets) and a port from 1 to
// 65535.
func ValidateMemberAddress(addr string) error { return validateMemberAddress("address", addr) }

func validateMemberAddress(field, addr string) error {
	if err := checkLength(field, addr, MaxMemberAddressLength); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return invalid(field, "not host:port")
	}
	if host == "" {
		return invalid(field, "no host before the port")
	}
	if !hostRE.MatchString(host) {
		return invalid(field, "the host is not a name or an IP address")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port != strconv.Itoa(n) {
		return invalid(field, "the port is not a number from 1 to 65535")
	}
	return nil
}

// hostRE is the host of an address: a DNS name or an IPv4 address
// (letters, digits, '.', '-', '_'), or an IPv6 address (hex digits and
// ':', with '.' for an embedded IPv4 and '%' for a zone). A host with
// anything else (space, a control character, '/') is refused, so an
// address is safe to log and print.
var hostRE = regexp.MustCompile(`^(?:[a-zA-Z0-9._-]+|[0-9a-fA-F:.]+(?:%[a-zA-Z0-9._-]+)?)$`)
