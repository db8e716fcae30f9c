package keeper

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Default listen addresses.
const (
	// DefaultTLSAddr is where the mTLS API listens: port 8554 on every
	// interface, as in the overview (SPIKE v0.8 used :8443).
	DefaultTLSAddr = ":8554"
	// DefaultOpsAddr is where the plain-HTTP operations listener
	// (/healthz, /readyz) listens with the default TLS address: loopback,
	// at the TLS port plus OpsPortOffset.
	DefaultOpsAddr = "127.0.0.1:9554"
	// OpsPortOffset is added to the TLS port to make the default
	// operations port. Keepers started side by side on one host with only
	// SPIKE_KEEPER_TLS_PORT different, as SPIKE's start scripts start
	// them (:8443, :8543, :8643), so get distinct operations ports (9443,
	// 9543, 9643) instead of all colliding on one.
	OpsPortOffset = 1000
	// OpsOff as Config.OpsAddr turns the operations listener off.
	OpsOff = "off"
)

// opsHost is the interface of the default operations listener.
const opsHost = "127.0.0.1"

// Config says where a keeper listens.
type Config struct {
	// TLSAddr is the mTLS API address: "host:port", ":port" or a bare
	// port ("8554"), as SPIKE_KEEPER_TLS_PORT is written. Empty means
	// DefaultTLSAddr.
	TLSAddr string
	// OpsAddr is the operations listener's address, in the same forms.
	// Empty means loopback at the TLS port plus OpsPortOffset (127.0.0.1:9554
	// for the default TLS port; an ephemeral port for TLS port 0); OpsOff
	// means none.
	OpsAddr string
	// MaxConnections caps the API's open connections; at the cap new
	// ones wait for one to close. 0 means
	// transport.DefaultMaxConnections.
	MaxConnections int
}

// MaxConnectionsLimit bounds Config.MaxConnections: each connection costs
// a file descriptor, and no keeper serves a million callers.
const MaxConnectionsLimit = 1 << 20

// Validate checks both addresses and returns the config with them in
// host:port form and defaults filled in.
func (c Config) Validate() (Config, error) {
	tlsAddr, err := listenAddr(c.TLSAddr, DefaultTLSAddr)
	if err != nil {
		return c, fmt.Errorf("keeper: TLS address: %w", err)
	}
	opsAddr := OpsOff
	switch {
	case c.OpsAddr == OpsOff:
	case strings.TrimSpace(c.OpsAddr) == "":
		opsAddr, err = defaultOpsAddr(tlsAddr)
	default:
		opsAddr, err = listenAddr(c.OpsAddr, "")
	}
	if err != nil {
		return c, fmt.Errorf("keeper: operations address: %w", err)
	}
	if c.MaxConnections < 0 || c.MaxConnections > MaxConnectionsLimit {
		return c, fmt.Errorf("keeper: max connections (SPIKE_KEEPER_MAX_CONNECTIONS) %d: want 1 to %d, or 0 for the default", c.MaxConnections, MaxConnectionsLimit)
	}
	return Config{TLSAddr: tlsAddr, OpsAddr: opsAddr, MaxConnections: c.MaxConnections}, nil
}

// defaultOpsAddr returns the default operations address for the API
// address tlsAddr (host:port form): loopback, at its port plus
// OpsPortOffset. A TLS port too high for that has no default.
func defaultOpsAddr(tlsAddr string) (string, error) {
	_, p, err := net.SplitHostPort(tlsAddr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", err
	}
	switch {
	case port == 0:
		return net.JoinHostPort(opsHost, "0"), nil
	case port+OpsPortOffset > 65535:
		return "", fmt.Errorf("TLS port %d has no default operations port (%d + %d is past 65535): set one (SPIKE_KEEPER_OPS_ADDR) or turn it off",
			port, port, OpsPortOffset)
	}
	return net.JoinHostPort(opsHost, strconv.Itoa(port+OpsPortOffset)), nil
}

// listenAddr turns "8554", ":8554" or "host:8554" into host:port form.
func listenAddr(s, def string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	hostPort := s
	if isDigits(s) {
		hostPort = ":" + s
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", fmt.Errorf("%q: want a port, :port or host:port", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// isDigits reports whether s is made of ASCII digits only.
func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
