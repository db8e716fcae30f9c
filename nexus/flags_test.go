package nexus

import (
	"strings"
	"testing"

	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/service"
)

// TestOpsAddrDefault: unless set, the operations listener is on loopback
// at the TLS port + 1000, so that Nexus processes on one host with only
// their TLS ports different do not collide.
func TestOpsAddrDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		tls, ops string
		want     string // "" with bad: an error
		bad      bool
	}{
		{":8553", "", "127.0.0.1:9553", false},
		{":8443", "", "127.0.0.1:9443", false},
		{"127.0.0.1:8600", "  ", "127.0.0.1:9600", false},
		{"8553", "", "127.0.0.1:9553", false},
		{"127.0.0.1:0", "", "127.0.0.1:0", false},
		{":64535", "", "127.0.0.1:65535", false},
		{":64536", "", "", true},
		{":64536", "127.0.0.1:9000", "127.0.0.1:9000", false},
		{":8553", "9000", ":9000", false},
		{":8553", "off", "", false},
	} {
		c := cli{TLSPort: tc.tls, OpsAddr: tc.ops, Keepers: []string{"https://k1:8554"}, Store: "sqlite",
			DataDir: t.TempDir(), LogLevel: "info", MaxSecretSize: 1, MaxSecretVersions: 1, MaxConnections: 1}
		o, err := c.options()
		switch {
		case tc.bad && err == nil:
			t.Errorf("tls %q ops %q: %q, want an error", tc.tls, tc.ops, o.Config.OpsAddr)
		case !tc.bad && (err != nil || o.Config.OpsAddr != tc.want):
			t.Errorf("tls %q ops %q: %q, %v; want %q", tc.tls, tc.ops, o.Config.OpsAddr, err, tc.want)
		}
	}
}

// TestMaxSecretSizeBounds: a size no request body can carry, or none at
// all, stops Nexus at startup with the range in the message.
func TestMaxSecretSizeBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size int
		ok   bool
	}{
		{0, false}, {-1, false}, {1, true}, {service.DefaultMaxSecretSize, true}, {service.MaxSecretSizeLimit, true}, {service.MaxSecretSizeLimit + 1, false}, {1 << 30, false},
	} {
		c := cli{TLSPort: ":8553", Keepers: []string{"https://k1:8554"}, Store: "sqlite",
			DataDir: t.TempDir(), LogLevel: "info", MaxSecretSize: tc.size, MaxSecretVersions: 1, MaxConnections: 1}
		_, err := c.options()
		switch {
		case tc.ok && err != nil:
			t.Errorf("max secret size %d: %v", tc.size, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "want 1 to 4194304 bytes")):
			t.Errorf("max secret size %d: %v, want an error giving the range", tc.size, err)
		}
	}
}

// TestMaxConnectionsBounds: the connection cap must admit a connection
// and stay within what file descriptors allow; the default is the
// transport's.
func TestMaxConnectionsBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n  int
		ok bool
	}{
		{0, false}, {-1, false}, {1, true}, {transport.DefaultMaxConnections, true}, {MaxConnectionsLimit, true}, {MaxConnectionsLimit + 1, false},
	} {
		c := cli{TLSPort: ":8553", Keepers: []string{"https://k1:8554"}, Store: "sqlite",
			DataDir: t.TempDir(), LogLevel: "info", MaxSecretSize: 1, MaxSecretVersions: 1, MaxConnections: tc.n}
		o, err := c.options()
		switch {
		case tc.ok && (err != nil || o.Config.MaxConnections != tc.n):
			t.Errorf("max connections %d: %d, %v", tc.n, o.Config.MaxConnections, err)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), "SPIKE_NEXUS_MAX_CONNECTIONS")):
			t.Errorf("max connections %d: %v, want an error naming the variable", tc.n, err)
		}
	}
	o, err := Parse([]string{"--keepers", "https://k1:8554", "--data-dir", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if o.Config.MaxConnections != transport.DefaultMaxConnections {
		t.Errorf("default max connections %d, want %d", o.Config.MaxConnections, transport.DefaultMaxConnections)
	}
}

// TestClusterFlags: clustering is all or nothing; the id must be among
// the peers; a bad peer list, name or address names its variable.
func TestClusterFlags(t *testing.T) {
	t.Parallel()
	peers := "n1=10.0.0.1:8554=10.0.0.1:8553,n2=10.0.0.2:8554"
	tests := []struct {
		name            string
		id, peers, addr string
		join            bool
		cname           string
		wantErr         string
		wantAddr        string
	}{
		{name: "off", cname: "spike"},
		{name: "on", id: "n2", peers: peers, cname: "spike"},
		{name: "own raft address", id: "n1", peers: peers, addr: "127.0.0.1:9000", cname: "spike", wantAddr: "127.0.0.1:9000"},
		{name: "joining", id: "n2", peers: peers, join: true, cname: "prod-eu"},
		{name: "id without peers", id: "n1", cname: "spike", wantErr: "(SPIKE_NEXUS_CLUSTER_PEERS) not set"},
		{name: "join without peers", join: true, cname: "spike", wantErr: "(SPIKE_NEXUS_CLUSTER_PEERS) not set"},
		{name: "peers without id", peers: peers, cname: "spike", wantErr: "SPIKE_NEXUS_CLUSTER_ID"},
		{name: "id not a peer", id: "n3", peers: peers, cname: "spike", wantErr: "not among"},
		{name: "bad peers", id: "n1", peers: "n1=nohost", cname: "spike", wantErr: "SPIKE_NEXUS_CLUSTER_PEERS"},
		{name: "bad name", id: "n1", peers: peers, cname: "Prod", wantErr: "SPIKE_NEXUS_CLUSTER_NAME"},
		{name: "bad address", id: "n1", peers: peers, addr: "host:port", cname: "spike", wantErr: "SPIKE_NEXUS_CLUSTER_ADDR"},
	}
	for _, tt := range tests {
		c := cli{TLSPort: ":8553", Keepers: []string{"https://k1:8554"}, Store: "sqlite", DataDir: t.TempDir(), LogLevel: "info",
			MaxSecretSize: 1, MaxSecretVersions: 1, MaxConnections: 1,
			ClusterID: tt.id, ClusterPeers: tt.peers, ClusterAddr: tt.addr, ClusterJoin: tt.join, ClusterName: tt.cname}
		o, err := c.options()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: %v, want an error with %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		cc := o.Config.Cluster
		if (tt.peers == "") != (cc == nil) {
			t.Errorf("%s: cluster config %+v", tt.name, cc)
			continue
		}
		if cc != nil && (cc.ID != tt.id || cc.Join != tt.join || cc.Name != tt.cname || cc.Addr != tt.wantAddr || len(cc.Peers) != 2) {
			t.Errorf("%s: cluster config %+v", tt.name, cc)
		}
	}
}
