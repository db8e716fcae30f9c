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
	// (/healthz, /readyz) listens: loopback only.
	DefaultOpsAddr = "127.0.0.1:9554"
	// OpsOff as Config.OpsAddr turns the operations listener off.
	OpsOff = "off"
)

// Config says where a keeper listens.
type Config struct {
	// TLSAddr is the mTLS API address: "host:port", ":port" or a bare
	// port ("8554"), as SPIKE_KEEPER_TLS_PORT is written. Empty means
	// DefaultTLSAddr.
	TLSAddr string
	// OpsAddr is the operations listener's address, in the same forms.
	// Empty means DefaultOpsAddr; OpsOff means none.
	OpsAddr string
}

// Validate checks both addresses and returns the config with them in
// host:port form and defaults filled in.
func (c Config) Validate() (Config, error) {
	tlsAddr, err := listenAddr(c.TLSAddr, DefaultTLSAddr)
	if err != nil {
		return c, fmt.Errorf("keeper: TLS address: %w", err)
	}
	opsAddr := OpsOff
	if c.OpsAddr != OpsOff {
		if opsAddr, err = listenAddr(c.OpsAddr, DefaultOpsAddr); err != nil {
			return c, fmt.Errorf("keeper: operations address: %w", err)
		}
	}
	return Config{TLSAddr: tlsAddr, OpsAddr: opsAddr}, nil
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
