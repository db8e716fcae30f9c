//go:build linux

package ha

// Partitions. Every replica's Raft address in SPIKE_NEXUS_CLUSTER_PEERS
// is a proxy in the test process that forwards to the replica's real Raft
// listener (SPIKE_NEXUS_CLUSTER_ADDR). A proxy in front of replica j sees
// every connection to j; what it cannot see from the address is who
// dialled, because every replica dials from 127.0.0.1 and every replica
// has the same SPIFFE ID. So, while a replica is isolated, each proxy
// asks the kernel who owns the client end of a new connection (the
// socket's inode in /proc/net/tcp, then the replica's open files) and
// refuses it when that is the isolated replica. Isolating replica i thus
// refuses (1) every connection to i, through i's own proxy, and (2) every
// connection from i, through the others' proxies; cutting also closes
// every connection the proxies hold, so that pooled Raft connections do
// not outlive the cut (the healthy pairs just dial again). One proxy per
// directed pair would need each replica to see different peer addresses,
// which Raft's replicated configuration does not allow.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// partition is the state every proxy consults: which replica, if any, is
// cut off, and the process ids of the replicas.
type partition struct {
	mu       sync.Mutex
	isolated int             // replica index; -1 for none
	pid      func(i int) int // the replica's current process id, 0 when down
	proxies  []*raftProxy
}

func newPartition(pid func(int) int) *partition { return &partition{isolated: -1, pid: pid} }

// isolate cuts replica i off from every peer, in both directions.
func (pt *partition) isolate(i int) {
	pt.mu.Lock()
	pt.isolated = i
	proxies := pt.proxies
	pt.mu.Unlock()
	for _, p := range proxies {
		p.closeConns()
	}
}

// heal lets every connection through again.
func (pt *partition) heal() {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.isolated = -1
}

// refuse reports whether a connection from the client end at local port
// port to replica target, accepted on the proxy's port proxyPort,
// crosses the cut.
func (pt *partition) refuse(target, port, proxyPort int) bool {
	pt.mu.Lock()
	iso := pt.isolated
	pt.mu.Unlock()
	if iso < 0 {
		return false
	}
	if iso == target {
		return true
	}
	pid := pt.pid(iso)
	if pid == 0 {
		return false
	}
	owned, err := ownsPort(pid, port, proxyPort)
	if err != nil {
		return true // unknown origin during a cut: err on the side of the cut
	}
	return owned
}

// raftProxy forwards TCP connections to one replica's Raft listener,
// bytes untouched (the replicas' mTLS runs end to end through it).
type raftProxy struct {
	ln     net.Listener
	target int
	to     string
	pt     *partition

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startProxy listens on addr and forwards to to, the real listener of
// replica target, until t ends.
func (pt *partition) startProxy(t testing.TB, addr, to string, target int) *raftProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("raft proxy for replica %d: %v", target, err)
	}
	p := &raftProxy{ln: ln, target: target, to: to, pt: pt, conns: map[net.Conn]struct{}{}}
	pt.mu.Lock()
	pt.proxies = append(pt.proxies, p)
	pt.mu.Unlock()
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.closeConns()
		p.wg.Wait()
	})
	return p
}

// Addr is the proxy's address, the replica's Raft address for its peers.
func (p *raftProxy) Addr() string { return p.ln.Addr().String() }

func (p *raftProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Go(func() { p.relay(c) })
	}
}

func (p *raftProxy) relay(c net.Conn) {
	if p.pt.refuse(p.target, c.RemoteAddr().(*net.TCPAddr).Port, c.LocalAddr().(*net.TCPAddr).Port) {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.to)
	if err != nil {
		c.Close()
		return
	}
	p.track(c, up)
	defer p.untrack(c, up)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
}

func (p *raftProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *raftProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// closeConns ends every connection the proxy holds.
func (p *raftProxy) closeConns() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// ownsPort reports whether process pid holds the IPv4 TCP socket whose
// local end is port and whose remote end is remote.
func ownsPort(pid, port, remote int) (bool, error) {
	inode, err := socketInode(port, remote)
	if err != nil {
		return false, err
	}
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return false, err
	}
	want := "socket:[" + inode + "]"
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == want {
			return true, nil
		}
	}
	return false, nil
}

// socketInode finds, in /proc/net/tcp, the inode of the live socket
// whose local end is port and remote end is remote: IPv4 only, as every
// address the harness hands out is on 127.0.0.1. Both ends are matched,
// and entries without an inode (TIME_WAIT) skipped, because a local port
// alone can name an earlier, closed connection too; taking that one once
// let an isolated leader through and kept a follower loyal to it.
func socketInode(port, remote int) (string, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 {
			continue
		}
		if fields[9] == "0" || hexPort(fields[1]) != port || hexPort(fields[2]) != remote {
			continue
		}
		return fields[9], nil
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("no socket from local port %d to port %d", port, remote)
}

// hexPort reads the port of a /proc/net/tcp address ("0100007F:1F90"),
// or -1.
func hexPort(addr string) int {
	_, h, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	n, err := strconv.ParseUint(h, 16, 16)
	if err != nil {
		return -1
	}
	return int(n)
}
