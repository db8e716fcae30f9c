//go:build linux

package system

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// lowestPort is the bottom of the range FreeAddr picks from.
const lowestPort = 20000

// FreeAddr returns a loopback address that was free a moment ago and
// that this testbed has not handed out before. The port is below the
// kernel's ephemeral range, where no outgoing connection (and not SPIRE,
// whose port the kernel picks) can take a stopped keeper's port before
// the keeper restarts on it.
func (tb *Testbed) FreeAddr(t testing.TB) string {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
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
		if !tb.ports[addr.Port] {
			tb.ports[addr.Port] = true
			return addr.String()
		}
	}
	t.Fatal("no free loopback port")
	return ""
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
