package devcluster

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
)

// Defaults of Options.
const (
	DefaultNexusAddr = "127.0.0.1:8553"
	DefaultOpsAddr   = "127.0.0.1:9553"
	DefaultKeepers   = 3
	// OpsOff as Options.OpsAddr turns Nexus's operations listener off
	// ("off", the spelling spike-nexus uses, works too).
	OpsOff = "-"
	// MaxKeepers bounds Options.Keepers: each Keeper is a listener and a
	// locked page in this process.
	MaxKeepers = 16
)

// Options configures a development cluster. The zero value is `spike dev`
// with no flags.
type Options struct {
	// DataDir keeps Nexus's data, the recovery files and the SVID files
	// across runs. "" means a temporary directory removed at Close.
	DataDir string
	// TrustDomain of every identity. "" means identity.DefaultTrustRoot
	// (spike.ist), so that a second shell needs no SPIKE_TRUST_ROOT.
	TrustDomain string
	// NexusAddr is Nexus's API listener: host:port, :port (every
	// interface) or a bare port (loopback). "" means DefaultNexusAddr;
	// tests pass "127.0.0.1:0".
	NexusAddr string
	// OpsAddr is Nexus's plain-HTTP listener for /healthz and /readyz,
	// in the same forms. "" means DefaultOpsAddr; OpsOff disables it.
	OpsAddr string
	// Keepers is how many Keepers to run, 1 to MaxKeepers; the threshold
	// is a majority of them. 0 means DefaultKeepers (threshold 2).
	Keepers int
	// Logger receives every component's log. nil discards it.
	Logger *slog.Logger
}

// settings are Options checked, with the defaults filled in.
type settings struct {
	dataDir            string // "" until prepared: a temporary one is made
	td                 spiffeid.TrustDomain
	nexusAddr, opsAddr string // opsAddr "" is off, as nexus.Config has it
	keepers, threshold int
	logger             *slog.Logger
}

// settings checks o; each error is one line naming the option.
func (o Options) settings() (settings, error) {
	s := settings{dataDir: o.DataDir, keepers: o.Keepers, logger: o.Logger}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	tdName := strings.TrimSpace(o.TrustDomain)
	if tdName == "" {
		tdName = identity.DefaultTrustRoot
	}
	td, err := spiffeid.TrustDomainFromString(tdName)
	if err != nil {
		return s, fmt.Errorf("devcluster: trust domain %q: %w", o.TrustDomain, err)
	}
	s.td = td
	switch {
	case s.keepers == 0:
		s.keepers = DefaultKeepers
	case s.keepers < 1 || s.keepers > MaxKeepers:
		return s, fmt.Errorf("devcluster: keepers %d: want 1 to %d", o.Keepers, MaxKeepers)
	}
	s.threshold = s.keepers/2 + 1
	if s.nexusAddr, err = listenAddr(o.NexusAddr, DefaultNexusAddr); err != nil {
		return s, fmt.Errorf("devcluster: nexus address: %w", err)
	}
	if o.OpsAddr != OpsOff && o.OpsAddr != "off" {
		if s.opsAddr, err = listenAddr(o.OpsAddr, DefaultOpsAddr); err != nil {
			return s, fmt.Errorf("devcluster: operations address: %w", err)
		}
	}
	return s, nil
}

// listenAddr turns "8553" (loopback), ":8553" or "host:8553" into
// host:port form; "" is def.
func listenAddr(s, def string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	if strings.Trim(s, "0123456789") == "" {
		s = "127.0.0.1:" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("%q: want a port, :port or host:port", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	return net.JoinHostPort(host, port), nil
}

// dialable returns the URL host for a listener's address: an unspecified
// host (a listener on every interface) is reached on loopback.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
