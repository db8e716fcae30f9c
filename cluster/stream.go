package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/internal/identity"
)

// HandshakeTimeout bounds an inbound TLS handshake, and an outbound one
// when the caller gives no timeout, so that a peer that connects and
// says nothing holds no resources for long.
const HandshakeTimeout = 10 * time.Second

// maxHandshakes caps the inbound handshakes in progress at once; at the
// cap new connections wait in the kernel's backlog.
const maxHandshakes = 64

// StreamLayer is a raft.StreamLayer over mutual TLS: every connection it
// accepts or dials has completed a TLS 1.3 handshake in which the peer
// proved a Nexus SPIFFE ID. Handshakes of inbound connections run in
// their own goroutines, so a slow or hostile peer cannot stall Accept.
type StreamLayer struct {
	ln     net.Listener
	server *tls.Config
	client *tls.Config
	logger *slog.Logger

	conns chan net.Conn
	// ctx ends at Close, and with it the handshakes in progress.
	ctx  context.Context
	stop context.CancelFunc
	once sync.Once
	wg   sync.WaitGroup
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer serves Raft connections on ln with the SVID and bundles
// of src, admitting only peers that roles says are Nexus, in both
// directions. It takes ownership of ln: Close closes it. logger (default
// slog.Default()) hears of every refused peer.
func NewStreamLayer(ln net.Listener, src identity.Source, roles *identity.Roles, logger *slog.Logger) (*StreamLayer, error) {
	switch {
	case ln == nil:
		return nil, errors.New("cluster: stream layer needs a listener")
	case src == nil:
		return nil, errors.New("cluster: stream layer needs an identity source")
	case roles == nil:
		return nil, errors.New("cluster: stream layer needs the roles")
	}
	if logger == nil {
		logger = slog.Default()
	}
	nexusOnly := identity.AuthorizeRoles(roles.IsNexus)
	server := tlsconfig.MTLSServerConfig(src, src, nexusOnly)
	server.MinVersion = tls.VersionTLS13
	client := tlsconfig.MTLSClientConfig(src, src, nexusOnly)
	client.MinVersion = tls.VersionTLS13
	s := &StreamLayer{
		ln:     ln,
		server: server,
		client: client,
		logger: logger,
		conns:  make(chan net.Conn),
	}
	s.ctx, s.stop = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Accept returns the next inbound connection whose handshake succeeded.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.ctx.Done():
		return nil, fmt.Errorf("cluster: accept: %w", net.ErrClosed)
	}
}

// Close stops accepting, closes the listener and waits for the
// handshakes in progress to end. Connections already handed out stay
// open; their owner closes them.
func (s *StreamLayer) Close() error {
	var err error
	s.once.Do(func() {
		s.stop()
		err = s.ln.Close()
		s.wg.Wait()
	})
	if err != nil {
		return fmt.Errorf("cluster: close listener: %w", err)
	}
	return nil
}

// Addr is the listener's address.
func (s *StreamLayer) Addr() net.Addr { return s.ln.Addr() }

// Dial connects to the Raft peer at address and completes the handshake,
// all within timeout (HandshakeTimeout if zero or negative). A peer that
// is not a Nexus is refused and logged.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if timeout <= 0 {
		timeout = HandshakeTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conf, claimed := watchPeer(s.client)
	d := tls.Dialer{Config: conf}
	c, err := d.DialContext(ctx, "tcp", string(address))
	if err != nil {
		if id := claimed(); id != "" {
			s.logger.Warn("cluster: refused peer", "direction", "outbound", "addr", string(address), "peer_id", id, "err", err)
		}
		return nil, fmt.Errorf("cluster: dial %s: %w", address, err)
	}
	return c, nil
}

// acceptLoop accepts connections until Close and handshakes each in its
// own goroutine.
func (s *StreamLayer) acceptLoop() {
	defer s.wg.Done()
	slots := make(chan struct{}, maxHandshakes)
	var backoff time.Duration
	for {
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		c, err := s.ln.Accept()
		if err != nil {
			<-slots
			if s.closed() || errors.Is(err, net.ErrClosed) {
				// Closed under us: let Accept say so rather than block.
				s.stop()
				return
			}
			// A failure such as running out of file descriptors passes;
			// back off as net/http does rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Warn("cluster: accept failed", "err", err, "retry_in", backoff)
			if !s.sleep(backoff) {
				return
			}
			continue
		}
		backoff = 0
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			s.handshake(c)
		}()
	}
}

// handshake completes the TLS handshake of an inbound connection and
// hands it to Accept, or closes it.
func (s *StreamLayer) handshake(c net.Conn) {
	ctx, cancel := context.WithTimeout(s.ctx, HandshakeTimeout)
	defer cancel()
	conf, claimed := watchPeer(s.server)
	tc := tls.Server(c, conf)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = tc.Close()
		if id := claimed(); id != "" {
			s.logger.Warn("cluster: refused peer", "direction", "inbound", "addr", c.RemoteAddr().String(), "peer_id", id, "err", err)
		} else if !s.closed() {
			s.logger.Warn("cluster: inbound handshake failed", "addr", c.RemoteAddr().String(), "err", err)
		}
		return
	}
	select {
	case s.conns <- tc:
	case <-s.ctx.Done():
		_ = tc.Close()
	}
}

func (s *StreamLayer) closed() bool { return s.ctx.Err() != nil }

// sleep waits d or until Close, reporting whether the layer is open.
func (s *StreamLayer) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// watchPeer returns a copy of base for one connection and a function
// that reports the SPIFFE ID a peer claimed in a certificate chain that
// base's verification refused ("" if none was refused), so that a refusal
// is logged with who was refused. A claimed ID is unproven: it names the
// certificate, not necessarily the party that sent it.
func watchPeer(base *tls.Config) (*tls.Config, func() string) {
	conf := base.Clone()
	verify := conf.VerifyPeerCertificate
	var (
		mu      sync.Mutex
		refused string
	)
	conf.VerifyPeerCertificate = func(raw [][]byte, chains [][]*x509.Certificate) error {
		err := verify(raw, chains)
		if err != nil {
			mu.Lock()
			refused = claimedID(raw)
			mu.Unlock()
		}
		return err
	}
	return conf, func() string {
		mu.Lock()
		defer mu.Unlock()
		return refused
	}
}

// claimedID reads the SPIFFE ID of a leaf certificate without verifying
// it, for the log; one without an ID is named as such.
func claimedID(raw [][]byte) string {
	if len(raw) == 0 {
		return "(no certificate)"
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return "(unparsable certificate)"
	}
	id, err := x509svid.IDFromCert(cert)
	if err != nil {
		return "(no SPIFFE ID)"
	}
	return id.String()
}
