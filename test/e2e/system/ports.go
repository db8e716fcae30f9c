//go:build linux

package system

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// lowestPort is the bottom of the range FreeAddr picks from.
const lowestPort = 20000

// Ports hands out loopback addresses for the servers a test starts,
// never the same port twice. Its ports are below the kernel's ephemeral
// range, where no outgoing connection (and not SPIRE, whose port the
// kernel picks) can take one between FreeAddr and the server's listen,
// or take a stopped server's port before the server restarts on it. The
// zero value is ready to use, by several goroutines at once.
type Ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// FreeAddr returns a loopback address that was free a moment ago and
// that p has not handed out before.
func (p *Ports) FreeAddr(t testing.TB) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used == nil {
		p.used = map[int]bool{}
	}
	lo, hi := lowestPort, ephemeralLow()
	for range 200 {
		port := 0 // the kernel's choice, when there is no room below the range
		if hi-lo >= 1000 {
			port = lo + rand.IntN(hi-lo)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := ln.Addr().(*net.TCPAddr)
		ln.Close()
		if !p.used[addr.Port] {
			p.used[addr.Port] = true
			return addr.String()
		}
	}
	t.Fatal("no free loopback port")
	return ""
}

// FreeAddr returns a loopback address that was free a moment ago and
// that this testbed has not handed out before. The port is below the
// kernel's ephemeral range, where no outgoing connection (and not SPIRE,
// whose port the kernel picks) can take a stopped keeper's port before
// the keeper restarts on it.
func (tb *Testbed) FreeAddr(t testing.TB) string {
	t.Helper()
	return tb.ports.FreeAddr(t)
}

// ephemeralLow is the first port of the kernel's ephemeral range.
func ephemeralLow() int {
	const fallback = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return fallback
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return fallback
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return fallback
	}
	return n
}
