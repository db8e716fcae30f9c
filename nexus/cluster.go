package nexus

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/cluster"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/forward"
)

// ClusterConfig makes Nexus one replica of a Raft group (issue 16):
// every replica holds the same event log, the leader serves and the
// others forward to it. Nil: a single Nexus.
type ClusterConfig struct {
	// ID is this replica's id among Peers.
	ID string
	// Peers is the group's initial membership, this replica included.
	Peers []cluster.Peer
	// Addr is the Raft listen address (default: the port this replica
	// has in Peers, on every interface).
	Addr string
	// Join marks a replica added to a running group: it waits to be
	// added (spike operator cluster add) instead of forming a group.
	Join bool
	// Name names the replicated log; every replica's must match.
	Name string
	// Timing tunes Raft (tests shorten it).
	Timing cluster.Timing
}

// DefaultClusterName is the replicated log's name unless configured.
const DefaultClusterName = "spike"

// clusterLogID is the identity every replica gives its log: derived from
// the trust domain and the cluster's name, so that replicas that never
// met agree on it, and two clusters in one trust domain differ by name.
func clusterLogID(td spiffeid.TrustDomain, name string) []byte {
	h := sha256.Sum256([]byte("spike/nexus/cluster-log/v1\x00" + td.Name() + "\x00" + name))
	return h[:16]
}

// self returns this replica's entry in Peers.
func (c *ClusterConfig) self() (cluster.Peer, bool) {
	for _, p := range c.Peers {
		if p.ID == c.ID {
			return p, true
		}
	}
	return cluster.Peer{}, false
}

// listenAddr is where the Raft listener binds.
func (c *ClusterConfig) listenAddr() (string, error) {
	if c.Addr != "" {
		return c.Addr, nil
	}
	p, ok := c.self()
	if !ok {
		return "", fmt.Errorf("replica %q is not among the cluster peers", c.ID)
	}
	_, port, err := net.SplitHostPort(p.RaftAddr)
	if err != nil {
		return "", err
	}
	return ":" + port, nil
}

// newNode listens for Raft and returns the replica's node, not started.
func (n *Nexus) newNode(ctx context.Context, src identity.Source, roles *identity.Roles) (*cluster.Node, error) {
	cc := n.cfg.Cluster
	addr, err := cc.listenAddr()
	if err != nil {
		return nil, fmt.Errorf("nexus: cluster: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("nexus: cluster: listen %s: %w", addr, err)
	}
	node, err := cluster.New(cluster.Config{ID: cc.ID, Listener: ln, Peers: cc.Peers, Join: cc.Join,
		Dir: filepath.Join(n.cfg.DataDir, "raft"), Source: src, Roles: roles, Logger: n.logger, Timing: cc.Timing,
		CanLead: func() bool {
			if n.custody == nil {
				return false
			}
			sealed, _ := n.custody.Sealed()
			return !sealed || n.custody.Restoring()
		},
		LogInitialized: func() bool {
			ok, err := n.log.Initialized(context.Background())
			return err == nil && ok
		}})
	if err != nil {
		ln.Close()
		return nil, err
	}
	return node, nil
}

// leading reports whether this Nexus leads (always, alone).
func (n *Nexus) leading() bool {
	if n.node == nil {
		return true
	}
	ok, _ := n.node.Leading()
	return ok
}

// memberTypes are the events the log indexes for leaderAPI.
var memberTypes = []string{(&events.ClusterMemberAdded{}).Type()}

// leaderAPI is the leader's API address, for forwarding: the one in the
// peers, else the one its newest cluster add recorded (so every replica
// knows an added member's address, after restarts too), else its Raft
// host at this replica's API port.
func (n *Nexus) leaderAPI() (string, bool) {
	id, addr, ok := n.node.Leader()
	if !ok || addr == "" {
		return "", false
	}
	if _, port, _ := net.SplitHostPort(addr); port == "" {
		if a := n.apiCache.get(id, n.recordedAPI); a != "" {
			return a, true
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	if port == "" {
		_, port, _ = net.SplitHostPort(n.apiAddr)
	}
	return net.JoinHostPort(host, port), true
}

// clusterState is what /readyz says of the cluster: "" when this Nexus
// is alone, else its role, and whether that role can serve.
func (n *Nexus) clusterState() (state string, serving bool) {
	if n.node == nil {
		return "", true
	}
	if err := n.node.Broken(); err != nil {
		return "stopped following the cluster: " + err.Error(), false
	}
	if n.node.Removed() {
		return "removed from the cluster", false
	}
	if n.leading() {
		return "leader " + n.node.ID(), true
	}
	id, _, ok := n.node.Leader()
	if !ok {
		return "follower " + n.node.ID() + ", no leader elected", false
	}
	return "follower " + n.node.ID() + " of leader " + id, true
}

// alternate runs svc as leader (its command loop) while this replica
// leads and as follower (applying what the leader commits) otherwise,
// until ctx ends.
func (n *Nexus) alternate(ctx context.Context, run, follow func(ctx context.Context) error) {
	for ctx.Err() == nil {
		leading, changed := n.node.Leading()
		step, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			if leading {
				done <- run(step)
			} else {
				done <- follow(step)
			}
		}()
		select {
		case <-changed:
			cancel()
			<-done
		case <-ctx.Done():
			cancel()
			<-done
		case err := <-done:
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				n.logger.Error("nexus: serving as cluster member failed; trying again", "leading", leading, "err", err)
			}
			select { // not at once: what failed may fail again
			case <-changed:
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// whileLeading runs f whenever this replica leads, cancelling it when
// leadership moves, until ctx ends: for jobs that act on the world.
func (n *Nexus) whileLeading(ctx context.Context, f func(ctx context.Context)) {
	if n.node == nil {
		f(ctx)
		return
	}
	n.alternate(ctx, func(ctx context.Context) error { f(ctx); return nil }, func(ctx context.Context) error {
		<-ctx.Done()
		return nil
	})
}

// forwardTo makes the API server hand every request a follower takes to
// the leader, as its caller (see package forward), and trust the caller
// a Nexus replica forwards.
func (n *Nexus) forwardTo(opts *transport.ServerOptions, src identity.Source, roles *identity.Roles) {
	proxy := forward.New(forward.Config{Source: src, LeaderID: forward.NexusOnly(roles), Leader: n.leaderAPI,
		Logger: n.logger})
	n.closers = append(n.closers, proxy.Close)
	opts.TrustForwarded = roles.IsNexus
	opts.Forward = func(w http.ResponseWriter, r *http.Request, req *transport.Request) bool {
		if n.leading() {
			return false
		}
		if id, _, ok := n.node.Leader(); ok && id == n.node.ID() {
			return false // elected, still catching up: the service answers 503
		}
		proxy.Forward(w, r, req.Peer)
		return true
	}
}

// clusterStats are the node's figures; a single Nexus is the leader of a
// cluster of one, whose applied index is its log's size.
func (n *Nexus) clusterStats() cluster.Stats {
	if n.node != nil {
		return n.node.Stats()
	}
	s := cluster.Stats{Leading: true, Members: 1}
	if n.log != nil {
		s.AppliedIndex = n.log.Size()
	}
	return s
}

// clusterMetrics registers the cluster gauges, read at each scrape.
func (n *Nexus) clusterMetrics(reg prometheus.Registerer) {
	gauge := func(name, help string, f func(cluster.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(n.clusterStats()) })
	}
	reg.MustRegister(
		gauge("spike_cluster_leader", "1 while this replica leads its cluster (and has applied every earlier entry), else 0.",
			func(s cluster.Stats) float64 { return b2f(s.Leading) }),
		gauge("spike_cluster_members", "Replicas in the cluster's configuration, as this replica knows it.",
			func(s cluster.Stats) float64 { return float64(s.Members) }),
		gauge("spike_cluster_applied_index", "The last Raft entry applied to this replica's event log.",
			func(s cluster.Stats) float64 { return float64(s.AppliedIndex) }),
		gauge("spike_cluster_last_contact_seconds", "Seconds since this follower last heard from the leader (0 on the leader).",
			func(s cluster.Stats) float64 { return s.LastContact.Seconds() }),
	)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// recordedAPI is the API address the newest cluster.member_added event
// of replica id gives ("" if none does, or the log is sealed). ScanBack
// reads sealed, so the events are found first and read after it ends:
// a read inside it could wait on a remap that waits on it.
func (n *Nexus) recordedAPI(id string) string {
	ctx := context.Background()
	var seqs []uint64
	n.log.ScanBack(ctx, func(r eventlog.Record) bool {
		seqs = append(seqs, r.Seq)
		return true
	}, memberTypes...)
	for _, seq := range seqs {
		r, err := n.log.Get(ctx, seq)
		if err != nil {
			return ""
		}
		p, err := events.Decode(r.Type, r.Schema, r.Payload)
		if e, ok := p.(*events.ClusterMemberAdded); err == nil && ok && e.ID == id {
			return e.APIAddress
		}
	}
	return ""
}

// apiCache keeps recordedAPI's answers for a few seconds: forwarding
// asks for every request.
type apiCache struct {
	mu sync.Mutex
	m  map[string]cachedAPI
}

type cachedAPI struct {
	addr string
	at   time.Time
}

const apiCacheTTL = 5 * time.Second

func (c *apiCache) get(id string, lookup func(string) string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok && (time.Since(e.at) < apiCacheTTL && e.addr != "" || time.Since(e.at) < time.Second) {
		return e.addr // none found is asked again sooner: an add may just have recorded it
	}
	if c.m == nil {
		c.m = map[string]cachedAPI{}
	}
	addr := lookup(id)
	c.m[id] = cachedAPI{addr: addr, at: time.Now()}
	return addr
}

// wakeOnGrowth wakes custody's recovery whenever this sealed replica's
// log grows, until ctx ends: the leader's bootstrap, or the records of
// a new sharing, reach a follower through replication, and it should
// recover at once rather than at its next backoff (up to a minute).
func (n *Nexus) wakeOnGrowth(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	last := n.log.Size()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if size := n.log.Size(); size != last {
			last = size
			if sealed, _ := n.custody.Sealed(); sealed {
				n.custody.Wake()
			}
		}
	}
}
