package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// tunedServer serves the echo route with the options tune sets (short
// timeouts, a small connection cap) and returns its address and metrics.
func tunedServer(t *testing.T, p *pki, tune func(*ServerOptions)) (string, *prometheus.Registry) {
	t.Helper()
	src := p.source(nexusID)
	reg := prometheus.NewRegistry()
	opts := ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(), Logger: slog.New(slog.DiscardHandler), Metrics: NewMetrics(reg)}
	tune(&opts)
	srv, err := NewServer(opts, []Route{{Name: "echo", Path: "/v1/echo", Handler: func(ctx context.Context, r *Request) Response {
		return Response{Body: map[string]int{"n": len(r.Body)}}
	}}})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveLoopback(t, srv)
	return addr, reg
}

// fdCount is the number of open file descriptors of this process.
func fdCount(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// settle polls until the fd and goroutine counts are back to at most
// slack above the baseline, or fails after a deadline.
func settle(t *testing.T, fds0, gor0, slack int) (fds, gor int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fds, gor = fdCount(t), runtime.NumGoroutine()
		if fds <= fds0+slack && gor <= gor0+slack {
			return fds, gor
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after 20 s: %d fds (baseline %d), %d goroutines (baseline %d); goroutines:\n%s", fds, fds0, gor, gor0, buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// slowKind is one way of holding a connection without finishing a
// request.
type slowKind struct {
	name string
	// n connections of this kind are opened.
	n int
	// tls: the handshake completes before hold runs.
	tls bool
	// hold writes what the kind writes; it returns when the write fails
	// or stop closes.
	hold func(c net.Conn, stop <-chan struct{})
}

func idle(net.Conn, <-chan struct{}) {}

// trickle writes s a byte at a time, every gap, until a write fails.
func trickle(s string, gap time.Duration) func(net.Conn, <-chan struct{}) {
	return func(c net.Conn, stop <-chan struct{}) {
		for i := 0; ; i = (i + 1) % len(s) {
			select {
			case <-stop:
				return
			case <-time.After(gap):
			}
			if _, err := c.Write([]byte{s[i]}); err != nil {
				return
			}
		}
	}
}

func write(s string) func(net.Conn, <-chan struct{}) {
	return func(c net.Conn, _ <-chan struct{}) { c.Write([]byte(s)) }
}

// TestSlowClientsAreCutOff holds thousands of connections open without
// finishing a request (no TLS handshake, half a ClientHello, an idle
// TLS session, headers trickled a byte at a time, a body never
// finished) or idle after one (kept alive), checks a well-behaved
// client is served meanwhile, that the server's timeouts cut every one of
// them, and that file descriptors and goroutines come back to where they
// were. Not parallel: it counts the
// process's fds and goroutines.
func TestSlowClientsAreCutOff(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd")
	}
	rawIdle := 2000
	if testing.Short() {
		rawIdle = 200
	}
	// Long enough that all of them are open at once on a loaded machine,
	// short enough for a quick test.
	const headerTimeout, readTimeout = 2 * time.Second, 3 * time.Second
	p := newPKI(t, td)
	addr, _ := tunedServer(t, p, func(o *ServerOptions) {
		o.ReadHeaderTimeout, o.ReadTimeout, o.WriteTimeout, o.IdleTimeout = headerTimeout, readTimeout, 5*time.Second, headerTimeout
	})
	pilot := p.source(pilotID)
	tlsConf := tlsconfig.MTLSClientConfig(pilot, pilot, tlsconfig.AuthorizeID(nexusID))
	runtime.GC()
	fds0, gor0 := fdCount(t), runtime.NumGoroutine()

	kinds := []slowKind{
		{name: "TCP open, no handshake", n: rawIdle, hold: idle},
		{name: "half a ClientHello", n: 50, hold: write("\x16\x03\x01\x02")},
		{name: "TLS established, idle", n: 200, tls: true, hold: idle},
		{name: "headers trickled", n: 50, tls: true, hold: trickle("POST /v1/echo HTTP/1.1\r\nHost: x\r\nX-Pad: "+strings.Repeat("a", 64), 20*time.Millisecond)},
		{name: "body never finished", n: 50, tls: true, hold: write("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"x\":")},
		{name: "idle after a request", n: 50, tls: true, hold: write("POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	type cut struct {
		kind int
		took time.Duration
		err  error
	}
	cuts := make(chan cut, 4096)
	// The peak is sampled while they are open: fds of both ends and
	// goroutines of both sides, all in this process.
	var fdsPeak, gorPeak int
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			fdsPeak, gorPeak = max(fdsPeak, fdCount(t)), max(gorPeak, runtime.NumGoroutine())
		}
	}()
	// Handshakes a few at a time: hundreds at once on two slow (race
	// detector) cores take longer than the server's handshake timeout,
	// which then cuts them — as it should, but before they are idle.
	handshakes := make(chan struct{}, 4)
	opened := 0
	for ki, k := range kinds {
		for range k.n {
			opened++
			wg.Add(1)
			go func() {
				defer wg.Done()
				if k.tls {
					handshakes <- struct{}{}
				}
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Errorf("%s: dial: %v", k.name, err)
					if k.tls {
						<-handshakes
					}
					return
				}
				defer c.Close()
				if k.tls {
					tc := tls.Client(c, tlsConf)
					err := tc.Handshake()
					<-handshakes
					if err != nil {
						t.Errorf("%s: handshake: %v", k.name, err)
						return
					}
					c = tc
				}
				start := time.Now()
				go k.hold(c, stop)
				// The read ends when the server closes the connection
				// (perhaps after a 400 for the unfinished body); the
				// deadline only keeps a failing test from hanging.
				c.SetReadDeadline(time.Now().Add(15 * time.Second))
				_, err = io.Copy(io.Discard, c)
				cuts <- cut{ki, time.Since(start), err}
			}()
		}
	}

	// A well-behaved caller is served while they hang on.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConf.Clone()}}
	for i := range 5 {
		resp, err := hc.Post("https://"+addr+"/v1/echo", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatalf("good request %d while %d slow connections are open: %v", i, opened, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("good request %d: status %d", i, resp.StatusCode)
		}
	}
	hc.CloseIdleConnections()

	wg.Wait()
	close(stop)
	<-sampled
	close(cuts)
	took := make([][]time.Duration, len(kinds))
	for c := range cuts {
		var ne net.Error
		if errors.As(c.err, &ne) && ne.Timeout() {
			t.Errorf("%s: the server had not cut the connection after %v", kinds[c.kind].name, c.took)
			continue
		}
		took[c.kind] = append(took[c.kind], c.took)
	}
	fds, gor := settle(t, fds0, gor0, 4)
	t.Logf("opened %d slow connections; fds %d before, %d with them open, %d after; goroutines %d, %d, %d", opened, fds0, fdsPeak, fds, gor0, gorPeak, gor)
	for i, k := range kinds {
		d := took[i]
		if len(d) != k.n {
			continue
		}
		slices.Sort(d)
		t.Logf("%-24s %5d cut after %v (median) to %v (max)", k.name, k.n, d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
}

// TestConnectionCapWaits fills the cap with connections that never
// start a handshake: a new caller waits (it is not served, nor refused)
// until the handshake timeout cuts them, and is then served; the wait
// is counted.
func TestConnectionCapWaits(t *testing.T) {
	t.Parallel()
	const max = 4
	p := newPKI(t, td)
	addr, reg := tunedServer(t, p, func(o *ServerOptions) {
		o.MaxConnections = max
		o.ReadHeaderTimeout = 3 * time.Second
	})
	for range max {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, "the cap to fill", func() bool {
		v, _ := metricValue(t, reg, "spike_open_connections", nil)
		return v == max
	})
	pilot := p.source(pilotID)
	tlsConf := tlsconfig.MTLSClientConfig(pilot, pilot, tlsconfig.AuthorizeID(nexusID))
	post := func(timeout time.Duration) error {
		hc := &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: tlsConf.Clone()}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Post("https://"+addr+"/v1/echo", "application/json", strings.NewReader(`{}`))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Well inside the 3 s the idle connections have: the server must not
	// take a fifth connection.
	var ne net.Error
	if err := post(300 * time.Millisecond); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("request at the cap: err = %v, want a timeout (waiting for a slot)", err)
	}
	waitFor(t, "the wait to be counted", func() bool {
		v, _ := metricValue(t, reg, "spike_connection_cap_waits_total", nil)
		return v >= 1
	})
	start := time.Now()
	if err := post(15 * time.Second); err != nil {
		t.Fatalf("request once the idle connections are cut: %v", err)
	}
	t.Logf("at a cap of %d, a waiting request was served %v later", max, time.Since(start).Round(time.Millisecond))
}

// waitFor polls cond until it holds, or fails after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMaxConnectionsOption(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	src := p.source(nexusID)
	for _, tc := range []struct {
		max  int
		want int
		ok   bool
	}{{-1, 0, false}, {0, DefaultMaxConnections, true}, {1, 1, true}, {100000, 100000, true}} {
		srv, err := NewServer(ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(), MaxConnections: tc.max}, nil)
		if (err == nil) != tc.ok {
			t.Errorf("MaxConnections %d: err = %v, want ok %v", tc.max, err, tc.ok)
			continue
		}
		if tc.ok && srv.opts.MaxConnections != tc.want {
			t.Errorf("MaxConnections %d: got %d, want %d", tc.max, srv.opts.MaxConnections, tc.want)
		}
	}
}
