//go:build linux

package faults

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowProxy sits between Nexus and one keeper and forwards TCP bytes
// untouched, so TLS and the keeper's SPIFFE identity pass through. Made
// slow, it holds every byte the keeper sends once the client has spoken
// twice (its TLS second flight: the handshake is done on its side) for
// the set delay: the keeper answers, but after the client gave up. The
// handshake itself stays quick, so a handshake-only health probe still
// finds the keeper; only its answers are late.
type slowProxy struct {
	ln     net.Listener
	target atomic.Pointer[string]
	delay  atomic.Int64 // nanoseconds; 0 forwards at once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed chan struct{}
	wg     sync.WaitGroup
}

// startProxy listens on a loopback port until t ends.
func startProxy(t testing.TB) *slowProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &slowProxy{ln: ln, conns: map[net.Conn]struct{}{}, closed: make(chan struct{})}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// Addr is where clients connect, host:port.
func (p *slowProxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy as a keeper URL.
func (p *slowProxy) URL() string { return "https://" + p.Addr() }

// setTarget says where to forward new connections, host:port.
func (p *slowProxy) setTarget(addr string) { p.target.Store(&addr) }

// setDelay sets how long answers are held; 0 forwards them at once.
func (p *slowProxy) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

func (p *slowProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			c.Close()
			return
		}
		p.wg.Go(func() { p.relay(c) })
	}
}

// track remembers c so that close can end it; false once closed.
func (p *slowProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *slowProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// relay copies both ways until either side closes; then both close.
func (p *slowProxy) relay(client net.Conn) {
	defer p.untrack(client)
	defer client.Close()
	target := p.target.Load()
	if target == nil {
		return
	}
	server, err := net.DialTimeout("tcp", *target, 5*time.Second)
	if err != nil {
		return // the client sees a closed connection, as with a keeper that is down
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	defer server.Close()
	var answered, handshaken atomic.Bool
	done := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(done); client.Close(); server.Close() }) }
	var wg sync.WaitGroup
	wg.Go(func() {
		defer stop()
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				// Speaking again after the server answered: from now on
				// the server's bytes are answers, not handshake.
				if answered.Load() {
					handshaken.Store(true)
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	wg.Go(func() {
		defer stop()
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				answered.Store(true)
				if d := time.Duration(p.delay.Load()); d > 0 && handshaken.Load() && !p.hold(d, done) {
					return
				}
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	wg.Wait()
}

// hold waits d; false if the connection or the proxy ended first.
func (p *slowProxy) hold(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	case <-p.closed:
		return false
	}
}

// close stops listening, ends every connection and waits for the relays.
func (p *slowProxy) close() {
	p.mu.Lock()
	select {
	case <-p.closed:
		p.mu.Unlock()
		return
	default:
	}
	close(p.closed)
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestSlowProxy checks the proxy on plain TCP against an echo server:
// passing through, the second exchange comes straight back; made slow,
// the first exchange (the handshake's place) still does, the second is
// held past a read deadline shorter than the delay, and arrives intact
// after it.
func TestSlowProxy(t *testing.T) {
	t.Parallel()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	const delay = 2 * time.Second
	for _, tc := range []struct {
		name string
		slow bool
	}{{"passing through", false}, {"slow", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startProxy(t)
			p.setTarget(echo.Addr().String())
			if tc.slow {
				p.setDelay(delay)
			}
			c, err := net.Dial("tcp", p.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			exchange := func(msg string, within time.Duration) error {
				if _, err := c.Write([]byte(msg)); err != nil {
					return err
				}
				c.SetReadDeadline(time.Now().Add(within))
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					return err
				}
				if string(got) != msg {
					t.Fatalf("echo through the proxy: %q, want %q", got, msg)
				}
				return nil
			}
			if err := exchange("hello", 30*time.Second); err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			err = exchange("request", delay/2)
			if !tc.slow {
				if err != nil {
					t.Fatalf("second exchange through a passing proxy: %v", err)
				}
				return
			}
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("second exchange through a slow proxy: %v, want a read timeout (the answer held back)", err)
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := make([]byte, len("request"))
			if _, err := io.ReadFull(c, got); err != nil || string(got) != "request" {
				t.Fatalf("held answer: %q, %v; want it intact after the delay", got, err)
			}
		})
	}
}
