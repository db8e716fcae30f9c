package cluster

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/internal/identity"
)

// node is one in-process Raft replica over a StreamLayer.
type node struct {
	id    raft.ServerID
	raft  *raft.Raft
	fsm   *recorder
	trans *raft.NetworkTransport
}

// TestThreeNodes elects a leader among three replicas that talk over the
// mTLS stream layer, and checks that entries applied on the leader reach
// every replica's FSM in order.
func TestThreeNodes(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	logs := newCaptureLog()
	nodes := make([]*node, 3)
	var servers []raft.Server
	for i := range nodes {
		src := source(t, ca, identity.PathNexus, time.Hour, ca.Bundle())
		stream := listen(t, "", src, logs.logger())
		trans, err := NewTransport(stream, TransportOptions{Logger: logs.logger()})
		if err != nil {
			t.Fatal(err)
		}
		n := &node{id: raft.ServerID("nexus-" + strconv.Itoa(i)), fsm: &recorder{}, trans: trans}
		nodes[i] = n
		servers = append(servers, raft.Server{ID: n.id, Address: trans.LocalAddr()})
	}
	for _, n := range nodes {
		r, err := raft.NewRaft(raftConfig(n.id, logs.logger()), n.fsm, raft.NewInmemStore(), raft.NewInmemStore(), raft.NewInmemSnapshotStore(), n.trans)
		if err != nil {
			t.Fatal(err)
		}
		n.raft = r
		t.Cleanup(func() {
			if err := r.Shutdown().Error(); err != nil {
				t.Errorf("shutdown %s: %v", n.id, err)
			}
			_ = n.trans.Close()
		})
	}
	if err := nodes[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatal(err)
	}

	var leader *node
	waitUntil(t, "a leader elected", func() bool {
		for _, n := range nodes {
			if n.raft.State() == raft.Leader {
				leader = n
				return true
			}
		}
		return false
	})
	want := []string{"one", "two", "three", "four", "five"}
	for _, e := range want {
		if err := leader.raft.Apply([]byte(e), waitFor).Error(); err != nil {
			t.Fatalf("apply %q on %s: %v", e, leader.id, err)
		}
	}
	for _, n := range nodes {
		waitUntil(t, fmt.Sprintf("%s applies every entry", n.id), func() bool { return len(n.fsm.entries()) >= len(want) })
		if got := n.fsm.entries(); !slices.Equal(got, want) {
			t.Errorf("%s applied %q, want %q", n.id, got, want)
		}
	}
	for _, n := range nodes {
		if id := n.raft.Leader(); id != leader.trans.LocalAddr() {
			t.Errorf("%s sees leader %q, want %q", n.id, id, leader.trans.LocalAddr())
		}
	}
	// Every peer was a Nexus: nobody may have been refused.
	logs.mu.Lock()
	defer logs.mu.Unlock()
	for _, r := range logs.records {
		if r.Message == "cluster: refused peer" {
			t.Errorf("a Nexus peer was refused: %v", attrs(r))
		}
	}
}

// TestRefusedPeers checks that a peer that is not a Nexus of an accepted
// trust root, or whose certificate has expired, is refused at the
// handshake in both directions, and that the refusal is logged with the
// ID it claimed.
func TestRefusedPeers(t *testing.T) {
	t.Parallel()
	ca, other := newCA(t, mainTD), newCA(t, otherTD)
	tests := []struct {
		name string
		ca   *identity.DevCA
		path string
		ttl  time.Duration
		// trusted: the Nexus under test holds the peer's bundle, so the
		// chain verifies and only the role decides.
		trusted bool
		// why is part of the logged reason of the refusal.
		why string
	}{
		{name: "keeper", ca: ca, path: identity.PathKeeper + "/1", ttl: time.Hour, trusted: true, why: notAuthorized},
		{name: "workload", ca: ca, path: identity.PathWorkloads + "/app", ttl: time.Hour, trusted: true, why: notAuthorized},
		{name: "pilot superuser", ca: ca, path: identity.PathPilotSuperuser, ttl: time.Hour, trusted: true, why: notAuthorized},
		{name: "nexus path below nexus", ca: ca, path: identity.PathNexus + "-evil", ttl: time.Hour, trusted: true, why: notAuthorized},
		{name: "nexus of a trusted other trust domain", ca: other, path: identity.PathNexus, ttl: time.Hour, trusted: true, why: notAuthorized},
		{name: "nexus of an unknown trust domain", ca: other, path: identity.PathNexus, ttl: time.Hour, why: "no X.509 bundle"},
		// A one-nanosecond SVID has expired by the handshake: its
		// NotAfter is rounded down to the second when encoded.
		{name: "expired nexus", ca: ca, path: identity.PathNexus, ttl: time.Nanosecond, trusted: true, why: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bundles := []*x509bundle.Bundle{ca.Bundle()}
			if tt.trusted && tt.ca != ca {
				bundles = append(bundles, tt.ca.Bundle())
			}
			logs := newCaptureLog()
			nexus := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, bundles...), logs.logger())
			t.Cleanup(func() { _ = nexus.Close() })
			// The intruder trusts everyone and would accept the Nexus:
			// only the Nexus's own checks stand in the way.
			intruderSrc := source(t, tt.ca, tt.path, tt.ttl, ca.Bundle(), other.Bundle())
			intruder := listen(t, "", intruderSrc, newCaptureLog().logger())
			t.Cleanup(func() { _ = intruder.Close() })
			svid, err := intruderSrc.GetX509SVID()
			if err != nil {
				t.Fatal(err)
			}
			claimed := svid.ID.String()

			t.Run("inbound", func(t *testing.T) {
				checkInboundRefused(t, nexus, intruder, logs, claimed, tt.why, ca)
			})
			t.Run("outbound", func(t *testing.T) {
				c, err := nexus.Dial(raft.ServerAddress(intruder.Addr().String()), waitFor)
				if err == nil {
					_ = c.Close()
					t.Fatalf("the Nexus dialled %s and accepted it", claimed)
				}
				logs.wait(t, "of the outbound refusal of "+claimed, refusal("outbound", claimed, tt.why))
			})
		})
	}
}

// notAuthorized is the reason given for a verified peer without the
// Nexus role.
const notAuthorized = "holds no role accepted here"

// checkInboundRefused has intruder dial nexus and checks that the
// connection is refused and logged, and never handed to Accept's caller:
// the first connection Accept returns is a real Nexus's, made after.
func checkInboundRefused(t *testing.T, nexus, intruder *StreamLayer, logs *captureLog, claimed, why string, ca *identity.DevCA) {
	t.Helper()
	accepted := make(chan *tls.Conn, 1)
	go func() {
		c, err := nexus.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c.(*tls.Conn)
	}()
	c, err := intruder.Dial(raft.ServerAddress(nexus.Addr().String()), waitFor)
	if err == nil {
		// Under TLS 1.3 the client's side of the handshake ends before
		// the server has checked the client's certificate: the refusal
		// arrives as an alert on the first read.
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		n, rerr := c.Read(make([]byte, 1))
		_ = c.Close()
		var ne net.Error
		if rerr == nil || (errors.As(rerr, &ne) && ne.Timeout()) {
			t.Fatalf("the intruder's connection stayed open (read %d bytes, err %v)", n, rerr)
		}
	}
	logs.wait(t, "of the inbound refusal of "+claimed, refusal("inbound", claimed, why))

	peer := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), newCaptureLog().logger())
	t.Cleanup(func() { _ = peer.Close() })
	good, err := peer.Dial(raft.ServerAddress(nexus.Addr().String()), waitFor)
	if err != nil {
		t.Fatalf("a Nexus could not dial: %v", err)
	}
	defer good.Close()
	select {
	case tc, ok := <-accepted:
		if !ok {
			t.Fatal("accept failed")
		}
		defer tc.Close()
		certs := tc.ConnectionState().PeerCertificates
		if len(certs) == 0 {
			t.Fatal("accepted a connection without a peer certificate")
		}
		id, err := x509svid.IDFromCert(certs[0])
		if err != nil {
			t.Fatal(err)
		}
		if !identity.DefaultRoles().IsNexus(id) {
			t.Fatalf("Accept handed out a connection from %s", id)
		}
	case <-time.After(waitFor):
		t.Fatal("Accept returned nothing for a Nexus peer")
	}
}

// TestBoltStoreRestart runs a single replica on raft-boltdb/v2 as its log
// and stable store, restarts it, and checks that it kept its term and log
// and applies the same entries again.
func TestBoltStoreRestart(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	path := t.TempDir() + "/raft.db"
	logs := newCaptureLog()
	const id = raft.ServerID("nexus-0")
	want := []string{"a", "b", "c"}

	start := func(addr string) (*raft.Raft, *recorder, *raftboltdb.BoltStore, *raft.NetworkTransport) {
		store, err := raftboltdb.New(raftboltdb.Options{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		stream := listen(t, addr, source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), logs.logger())
		trans, err := NewTransport(stream, TransportOptions{Logger: logs.logger()})
		if err != nil {
			t.Fatal(err)
		}
		fsm := &recorder{}
		r, err := raft.NewRaft(raftConfig(id, logs.logger()), fsm, store, store, raft.NewInmemSnapshotStore(), trans)
		if err != nil {
			t.Fatal(err)
		}
		return r, fsm, store, trans
	}
	stop := func(r *raft.Raft, store *raftboltdb.BoltStore, trans *raft.NetworkTransport) {
		if err := r.Shutdown().Error(); err != nil {
			t.Fatal(err)
		}
		if err := trans.Close(); err != nil {
			t.Fatal(err)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitLeader := func(r *raft.Raft) {
		waitUntil(t, "the replica leads", func() bool { return r.State() == raft.Leader })
	}

	r, fsm, store, trans := start("")
	addr := string(trans.LocalAddr())
	if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: id, Address: trans.LocalAddr()}}}).Error(); err != nil {
		t.Fatal(err)
	}
	waitLeader(r)
	for _, e := range want {
		if err := r.Apply([]byte(e), waitFor).Error(); err != nil {
			t.Fatal(err)
		}
	}
	term, err := store.GetUint64([]byte("CurrentTerm"))
	if err != nil {
		t.Fatal(err)
	}
	last, err := store.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	stop(r, store, trans)

	r, fsm, store, trans = start(addr)
	t.Cleanup(func() { stop(r, store, trans) })
	if got, err := store.GetUint64([]byte("CurrentTerm")); err != nil || got != term {
		t.Fatalf("term after restart: %d, %v; want %d", got, err, term)
	}
	if got, err := store.LastIndex(); err != nil || got < last {
		t.Fatalf("last index after restart: %d, %v; want at least %d", got, err, last)
	}
	has, err := raft.HasExistingState(store, store, raft.NewInmemSnapshotStore())
	if err != nil || !has {
		t.Fatalf("restarted store has no Raft state (%v)", err)
	}
	waitLeader(r)
	// A new leader commits a no-op, which applies the log kept on disk.
	waitUntil(t, "the kept entries applied again", func() bool { return len(fsm.entries()) >= len(want) })
	if got := fsm.entries(); !slices.Equal(got, want) {
		t.Errorf("applied after restart %q, want %q", got, want)
	}
	if got := r.CurrentTerm(); got <= term {
		t.Errorf("term after re-election %d, want above %d", got, term)
	}
}

// TestSilentPeer checks that a connection that never starts its
// handshake does not hold up Accept for a Nexus that dials after it.
func TestSilentPeer(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	nexus := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), newCaptureLog().logger())
	t.Cleanup(func() { _ = nexus.Close() })
	silent, err := net.Dial("tcp", nexus.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	peer := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), newCaptureLog().logger())
	t.Cleanup(func() { _ = peer.Close() })
	accepted := make(chan error, 1)
	go func() {
		c, err := nexus.Accept()
		if err == nil {
			_ = c.Close()
		}
		accepted <- err
	}()
	c, err := peer.Dial(raft.ServerAddress(nexus.Addr().String()), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case err := <-accepted:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitFor):
		t.Fatal("Accept stayed blocked behind a silent connection")
	}
}

// TestStreamLayerClose checks that Accept ends with net.ErrClosed once
// the layer is closed, and that Close may be called twice.
func TestStreamLayerClose(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	s := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), newCaptureLog().logger())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after close: %v, want net.ErrClosed", err)
	}
}

// TestNewStreamLayerArguments checks that missing arguments are errors.
func TestNewStreamLayerArguments(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	src := source(t, ca, identity.PathNexus, time.Hour, ca.Bundle())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	tests := []struct {
		name  string
		ln    net.Listener
		src   identity.Source
		roles *identity.Roles
	}{
		{"no listener", nil, src, identity.DefaultRoles()},
		{"no source", ln, nil, identity.DefaultRoles()},
		{"no roles", ln, src, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewStreamLayer(tt.ln, tt.src, tt.roles, nil); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := NewTransport(nil, TransportOptions{}); err == nil {
		t.Fatal("NewTransport without a stream layer: no error")
	}
}

// TestNothingInClear relays a connection through a proxy that records
// every byte and checks that what one Nexus writes arrives at the other
// but never crosses the wire in clear.
func TestNothingInClear(t *testing.T) {
	t.Parallel()
	ca := newCA(t, mainTD)
	nexus := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), newCaptureLog().logger())
	t.Cleanup(func() { _ = nexus.Close() })
	peer := listen(t, "", source(t, ca, identity.PathNexus, time.Hour, ca.Bundle()), newCaptureLog().logger())
	t.Cleanup(func() { _ = peer.Close() })
	proxy := newRecordingProxy(t, nexus.Addr().String())

	marker := []byte("sealed-event-batch-0123456789")
	got := make(chan []byte, 1)
	go func() {
		c, err := nexus.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		b := make([]byte, len(marker))
		if _, err := io.ReadFull(c, b); err != nil {
			b = nil
		}
		_, _ = c.Write([]byte{1}) // let the dialler know it arrived
		got <- b
	}()
	c, err := peer.Dial(raft.ServerAddress(proxy.addr), waitFor)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(marker); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, marker) {
		t.Fatalf("the Nexus read %q, want %q", b, marker)
	}
	wire := proxy.bytes()
	if len(wire) == 0 {
		t.Fatal("the proxy saw no bytes")
	}
	if bytes.Contains(wire, marker) {
		t.Fatal("the payload crossed the wire in clear")
	}
}

// recordingProxy relays one TCP connection to a target and keeps a copy
// of every byte sent either way.
type recordingProxy struct {
	addr string
	mu   sync.Mutex
	seen []byte
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	p := &recordingProxy{addr: ln.Addr().String()}
	go func() {
		in, err := ln.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		out, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer out.Close()
		done := make(chan struct{}, 2)
		relay := func(dst, src net.Conn) {
			_, _ = io.Copy(io.MultiWriter(dst, p), src)
			_ = dst.Close()
			done <- struct{}{}
		}
		go relay(out, in)
		go relay(in, out)
		<-done
	}()
	return p
}

// Write records b; the proxy relays through it.
func (p *recordingProxy) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, b...)
	return len(b), nil
}

func (p *recordingProxy) bytes() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}
