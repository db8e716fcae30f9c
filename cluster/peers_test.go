package cluster

import (
	"strings"
	"testing"
)

func TestParsePeers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []Peer
		wantErr string
	}{
		{in: "n1=10.0.0.1:8554=10.0.0.1:8553", want: []Peer{{"n1", "10.0.0.1:8554", "10.0.0.1:8553"}}},
		{in: " a=h1:1 , b=h2:2=h2:3 ", want: []Peer{{"a", "h1:1", ""}, {"b", "h2:2", "h2:3"}}},
		{in: "nexus-0=nexus-0.nexus-peers.spike.svc:8554", want: []Peer{{"nexus-0", "nexus-0.nexus-peers.spike.svc:8554", ""}}},
		{in: "", wantErr: "no peers"},
		{in: "n1", wantErr: "want id=raft-host:port"},
		{in: "n1=h:1=h:2=h:3", wantErr: "want id=raft-host:port"},
		{in: "N1=h:1", wantErr: "only lower-case letters"},
		{in: "=h:1", wantErr: "empty"},
		{in: strings.Repeat("a", 65) + "=h:1", wantErr: "longer than 64"},
		{in: "n1=h", wantErr: "raft address"},
		{in: "n1=:1", wantErr: "no host"},
		{in: "n1=h:0", wantErr: "port is not a number from 1 to 65535"},
		{in: "n1=h:65536", wantErr: "port is not a number from 1 to 65535"},
		{in: "n1=h:1=api", wantErr: "api address"},
		{in: "n1=h:1,", wantErr: "want id=raft-host:port"},
		{in: strings.Repeat("n=h:1,", MaxPeers) + "n=h:1", wantErr: "at most"},
	}
	for _, tt := range tests {
		got, err := ParsePeers(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePeers(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("ParsePeers(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("ParsePeers(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

// TestCheckPeers: a replica must be among its peers, and ids and Raft
// addresses must be distinct.
func TestCheckPeers(t *testing.T) {
	t.Parallel()
	peers := []Peer{{"n1", "h:1", ""}, {"n2", "h:2", ""}}
	tests := []struct {
		self    string
		peers   []Peer
		wantErr string
	}{
		{"n1", peers, ""},
		{"n3", peers, "not among the peers"},
		{"n1", append(peers, Peer{"n1", "h:3", ""}), "listed twice"},
		{"n1", append(peers, Peer{"n3", "h:2", ""}), "listed twice"},
	}
	for _, tt := range tests {
		err := checkPeers(tt.self, tt.peers)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkPeers(%s, %v) = %v, want %q", tt.self, tt.peers, err, tt.wantErr)
		}
	}
}

func FuzzParsePeers(f *testing.F) {
	f.Add("n1=10.0.0.1:8554=10.0.0.1:8553,n2=h:1")
	f.Add("a=b")
	f.Fuzz(func(t *testing.T, s string) {
		peers, err := ParsePeers(s)
		if err != nil {
			return
		}
		for _, p := range peers {
			if p.check() != nil || strings.ContainsAny(p.ID+p.RaftAddr+p.APIAddr, ",=") {
				t.Fatalf("accepted a peer that does not check: %+v", p)
			}
		}
	})
}
