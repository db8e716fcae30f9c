//go:build linux

package ha

import (
	"bufio"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// echoServer answers every line with itself until t ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// echoes reports whether a line sent through addr comes back.
func echoes(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	return echoesOn(c)
}

func echoesOn(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

// TestRaftProxyCuts checks the partition's rules with the test process
// playing replica 0, the dialler: a cut of the target or of the dialler
// refuses new connections; a cut of a third replica, or none, lets them
// through. Any cut ends the connections open at the time.
func TestRaftProxyCuts(t *testing.T) {
	t.Parallel()
	pids := map[int]int{0: os.Getpid(), 1: 0, 2: 1} // replica 2 is init: it owns none of our sockets
	tests := []struct {
		name     string
		isolate  int
		through  bool
		openKept bool
	}{
		{"no cut", -1, true, true},
		{"cut a third replica", 2, true, false}, // every cut ends every open connection
		{"cut the dialler", 0, false, false},
		{"cut the target", 1, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pt := newPartition(func(i int) int { return pids[i] })
			p := pt.startProxy(t, "127.0.0.1:0", echoServer(t), 1)
			open, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer open.Close()
			if !echoesOn(open) {
				t.Fatal("before any cut: no echo through the proxy")
			}
			if tc.isolate >= 0 {
				pt.isolate(tc.isolate)
			}
			if got := echoes(p.Addr()); got != tc.through {
				t.Errorf("new connection echoes %v, want %v", got, tc.through)
			}
			if got := echoesOn(open); got != tc.openKept {
				t.Errorf("connection open before the cut echoes %v, want %v", got, tc.openKept)
			}
			pt.heal()
			if !echoes(p.Addr()) {
				t.Error("after heal: no echo through the proxy")
			}
		})
	}
}
