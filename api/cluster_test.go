package api

import (
	"errors"
	"strings"
	"testing"
)

func TestClusterRequestsValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxMemberIDLength)
	for _, tc := range []struct {
		name  string
		req   Request
		field string // "" when the request is valid
	}{
		{"add", ClusterAddRequest{ID: "nexus-2", RaftAddress: "nexus-2.nexus:8300", APIAddress: "nexus-2.nexus:8553"}, ""},
		{"add without api address", ClusterAddRequest{ID: "n2", RaftAddress: "10.0.0.2:8300"}, ""},
		{"add ipv6", ClusterAddRequest{ID: "n2", RaftAddress: "[fe80::1%eth0]:8300", APIAddress: "[::1]:1"}, ""},
		{"add longest id", ClusterAddRequest{ID: long, RaftAddress: "h:65535"}, ""},
		{"add empty id", ClusterAddRequest{RaftAddress: "h:1"}, "id"},
		{"add id too long", ClusterAddRequest{ID: long + "a", RaftAddress: "h:1"}, "id"},
		{"add id in capitals", ClusterAddRequest{ID: "Nexus", RaftAddress: "h:1"}, "id"},
		{"add id with a dot", ClusterAddRequest{ID: "n.2", RaftAddress: "h:1"}, "id"},
		{"add id with a newline", ClusterAddRequest{ID: "n\n2", RaftAddress: "h:1"}, "id"},
		{"add no raft address", ClusterAddRequest{ID: "n2"}, "raftAddress"},
		{"add no port", ClusterAddRequest{ID: "n2", RaftAddress: "nexus-2"}, "raftAddress"},
		{"add no host", ClusterAddRequest{ID: "n2", RaftAddress: ":8300"}, "raftAddress"},
		{"add port 0", ClusterAddRequest{ID: "n2", RaftAddress: "h:0"}, "raftAddress"},
		{"add port 65536", ClusterAddRequest{ID: "n2", RaftAddress: "h:65536"}, "raftAddress"},
		{"add port with a sign", ClusterAddRequest{ID: "n2", RaftAddress: "h:+80"}, "raftAddress"},
		{"add port with a leading zero", ClusterAddRequest{ID: "n2", RaftAddress: "h:080"}, "raftAddress"},
		{"add named port", ClusterAddRequest{ID: "n2", RaftAddress: "h:raft"}, "raftAddress"},
		{"add host with a space", ClusterAddRequest{ID: "n2", RaftAddress: "a b:1"}, "raftAddress"},
		{"add host with an escape", ClusterAddRequest{ID: "n2", RaftAddress: "a\x1b[2J:1"}, "raftAddress"},
		{"add url", ClusterAddRequest{ID: "n2", RaftAddress: "https://h:1"}, "raftAddress"},
		{"add bad api address", ClusterAddRequest{ID: "n2", RaftAddress: "h:1", APIAddress: "h"}, "apiAddress"},
		{"remove", ClusterRemoveRequest{ID: "nexus-3"}, ""},
		{"remove empty id", ClusterRemoveRequest{}, "id"},
		{"remove bad id", ClusterRemoveRequest{ID: "nexus_3"}, "id"},
		{"list", ClusterListRequest{}, ""},
	} {
		err := tc.req.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want a FieldError on %s", tc.name, err, tc.field)
		}
	}
}

// The membership operations are extensions served by Nexus at one path.
func TestClusterRoutes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action string
		op     Op
	}{{"list", OpClusterList}, {"", OpClusterAdd}, {"delete", OpClusterRemove}} {
		op, ok := Route(PathOperatorCluster, tc.action)
		if !ok || op != tc.op || !op.Extension() || op.Service() != ServiceNexus {
			t.Errorf("Route(%s, %q) = %v, %v", PathOperatorCluster, tc.action, op, ok)
		}
	}
}
