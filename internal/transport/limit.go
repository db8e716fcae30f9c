package transport

import (
	"log/slog"
	"net"
	"sync"
	"time"
)

// DefaultMaxConnections is the default cap on a server's open client
// connections. Each costs a file descriptor and a goroutine; 4096 is far
// above what SPIKE's workloads need at once and far below the file
// limit Go raises the process to on start.
const DefaultMaxConnections = 4096

// capLogEvery spaces the "connection cap reached" warnings: a flood would
// otherwise write one per connection.
const capLogEvery = time.Minute

// limitListener admits at most cap(slots) connections at a time. At the
// cap Accept waits for one to close instead of refusing: new callers
// queue in the kernel's backlog and get in as slow or idle ones are cut
// off by the server's timeouts, and a legitimate caller retrying gains
// nothing from a refusal it would have to retry.
type limitListener struct {
	net.Listener
	slots  chan struct{}
	closed chan struct{}
	once   sync.Once
	log    *slog.Logger
	m      *Metrics

	lastLog time.Time // Accept runs in one goroutine only
}

func newLimitListener(ln net.Listener, max int, log *slog.Logger, m *Metrics) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), closed: make(chan struct{}), log: log, m: m}
}

// Accept takes a slot, waiting if none is free, then a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	if !l.acquire() {
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// acquire takes a slot; false once the listener is closed.
func (l *limitListener) acquire() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	l.m.capped()
	if now := time.Now(); now.Sub(l.lastLog) >= capLogEvery {
		l.lastLog = now
		l.log.Warn("connection cap reached: new connections wait until one closes", "max_connections", cap(l.slots))
	}
	select {
	case l.slots <- struct{}{}:
		return true
	case <-l.closed:
		return false
	}
}

// Close stops Accept, a waiting one included.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// limitConn frees its slot when closed, once however often it is closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
