// Package testport gives tests loopback addresses to listen on later,
// for servers whose addresses must be known before they start (the
// replicas of a cluster name each other). A port picked by listening on
// port 0 comes from the kernel's ephemeral range, where the outgoing
// connections of tests running beside the caller can take it between
// the pick and the listen; these come from below that range (32768 and
// up by default), and none is handed out twice in one process. Only
// tests import this package.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// handedOut holds the ports Addr has returned in this process.
var handedOut sync.Map

// Addr returns 127.0.0.1:PORT on a port free now.
func Addr(t testing.TB) string {
	t.Helper()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	t.Fatal("testport: no free port found below the ephemeral range")
	return ""
}
