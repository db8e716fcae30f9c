package sdk

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/internal/identity"
)

// Defaults, and the environment variables New reads when no option says
// otherwise. Each variable is the one the spike binaries read.
const (
	DefaultNexusURL      = "https://localhost:8553"
	DefaultRetryWait     = 30 * time.Second
	DefaultSourceTimeout = identity.DefaultTimeout

	EnvNexusURL      = "SPIKE_NEXUS_URL"
	EnvNexusAPIURL   = "SPIKE_NEXUS_API_URL" // SPIKE v0.8's name for EnvNexusURL
	EnvSVIDDir       = "SPIKE_SVID_DIR"
	EnvSocket        = "SPIFFE_ENDPOINT_SOCKET"
	EnvSourceTimeout = "SPIKE_SPIFFE_SOURCE_TIMEOUT"
)

// An Option configures New.
type Option func(*settings)

// settings is what the options and the environment say.
type settings struct {
	nexusURL      string
	svidDir       string
	socket        string
	useWorkload   bool // WithWorkloadAPI was given
	svid          x509svid.Source
	bundle        x509bundle.Source
	trustRoot     string
	sourceTimeout time.Duration
	retryWait     time.Duration
	retrySet      bool
	refusedWait   time.Duration
	refusedSet    bool
	notice        func(Wait)
	logger        *slog.Logger
	lookupEnv     func(string) (string, bool) // os.LookupEnv; tests replace it
}

// WithNexusURL sets Nexus's base URL, https://host:port.
func WithNexusURL(u string) Option { return func(s *settings) { s.nexusURL = u } }

// WithSVIDDir reads the client's SVID, key and bundle from the files
// spiffe-helper writes in dir (svid.pem, svid_key.pem, svid_bundle.pem),
// reloading them when they change.
func WithSVIDDir(dir string) Option { return func(s *settings) { s.svidDir = dir } }

// WithWorkloadAPI gets the client's SVID from the SPIRE Workload API at
// socket ("unix:///path" or "tcp://host:port"); "" means
// SPIFFE_ENDPOINT_SOCKET, or SPIRE's default socket.
func WithWorkloadAPI(socket string) Option {
	return func(s *settings) { s.socket, s.useWorkload = socket, true }
}

// WithSource uses the caller's SVID and bundle sources, for example a
// go-spiffe workloadapi.X509Source the program already has (which is
// both). The client does not close them.
func WithSource(svid x509svid.Source, bundle x509bundle.Source) Option {
	return func(s *settings) { s.svid, s.bundle = svid, bundle }
}

// WithTrustDomain sets where Nexus's SPIFFE ID lives: a trust domain such
// as "example.org", or a trust domain and path prefix such as
// "example.org/tenant/pepsi" (Nexus is then
// spiffe://example.org/tenant/pepsi/spike/nexus). The default is
// SPIKE_TRUST_ROOT_NEXUS, else SPIKE_TRUST_ROOT, else spike.ist.
func WithTrustDomain(td string) Option { return func(s *settings) { s.trustRoot = td } }

// WithSourceTimeout bounds how long New waits for the first SVID from
// the Workload API or the SVID files (default 30 s, or
// SPIKE_SPIFFE_SOURCE_TIMEOUT).
func WithSourceTimeout(d time.Duration) Option { return func(s *settings) { s.sourceTimeout = d } }

// WithRetry sets how long a call keeps retrying while Nexus is not ready
// (503) or refuses connections; 0 disables retries. Default 30 s.
func WithRetry(maxWait time.Duration) Option {
	return func(s *settings) { s.retryWait, s.retrySet = maxWait, true }
}

// WithRefusedWait bounds how long a call keeps retrying a refused
// connection, counted from the first refusal in a row and never beyond
// the [WithRetry] wait. A refused connection means nothing listens at
// the URL: a workload started beside Nexus may want the whole retry wait
// (the default), while an interactive program wants a second or two,
// enough to cover a restart, and then the error.
func WithRefusedWait(d time.Duration) Option {
	return func(s *settings) { s.refusedWait, s.refusedSet = d, true }
}

// WithWaitNotice calls f before a call's first wait between retries,
// once per call, so that an interactive program can say what it is
// waiting for (a sealed Nexus, a refused connection) instead of sitting
// silent. f runs on the calling goroutine and must not block.
func WithWaitNotice(f func(Wait)) Option { return func(s *settings) { s.notice = f } }

// WithLogger sets the logger for retries and SVID reloads. Default: the
// slog default logger. Nothing logged carries a secret value.
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.logger = l } }

// resolve applies opts over the environment and checks the result.
func resolve(opts []Option) (settings, error) {
	s := settings{lookupEnv: os.LookupEnv}
	for _, o := range opts {
		if o != nil {
			o(&s)
		}
	}
	if s.lookupEnv == nil {
		s.lookupEnv = func(string) (string, bool) { return "", false }
	}
	if err := s.fromEnv(); err != nil {
		return s, err
	}
	if (s.svid == nil) != (s.bundle == nil) {
		return s, configErrorf("sdk: WithSource needs both an SVID source and a bundle source")
	}
	if s.svid != nil && (s.svidDir != "" || s.useWorkload) || s.svidDir != "" && s.useWorkload {
		return s, configErrorf("sdk: give only one of WithSource, WithSVIDDir and WithWorkloadAPI")
	}
	if err := checkNexusURL(s.nexusURL); err != nil {
		return s, configErrorf("sdk: %w", err)
	}
	if s.retryWait < 0 {
		return s, configErrorf("sdk: WithRetry: negative wait")
	}
	if s.refusedWait < 0 {
		return s, configErrorf("sdk: WithRefusedWait: negative wait")
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	return s, nil
}

// fromEnv fills what no option set.
func (s *settings) fromEnv() error {
	if s.nexusURL == "" {
		u, err := s.nexusURLFromEnv()
		if err != nil {
			return err
		}
		s.nexusURL = u
	}
	if s.svid == nil && s.svidDir == "" && !s.useWorkload {
		s.svidDir = s.env(EnvSVIDDir)
	}
	if s.sourceTimeout <= 0 {
		s.sourceTimeout = DefaultSourceTimeout
		if v := s.env(EnvSourceTimeout); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return configErrorf("sdk: %s=%q: want a positive duration such as 30s", EnvSourceTimeout, v)
			}
			s.sourceTimeout = d
		}
	}
	if !s.retrySet {
		s.retryWait = DefaultRetryWait
	}
	if !s.refusedSet {
		s.refusedWait = s.retryWait
	}
	return nil
}

// nexusURLFromEnv reads SPIKE_NEXUS_URL and its v0.8 alias; both set to
// different values is an error, as for every spike binary.
func (s *settings) nexusURLFromEnv() (string, error) {
	a, b := s.env(EnvNexusURL), s.env(EnvNexusAPIURL)
	switch {
	case a != "" && b != "" && a != b:
		return "", configErrorf("sdk: %s=%s and %s=%s name the same setting with different values; set only one",
			EnvNexusURL, quoteURL(a), EnvNexusAPIURL, quoteURL(b))
	case a != "":
		return a, nil
	case b != "":
		return b, nil
	}
	return DefaultNexusURL, nil
}

func (s *settings) env(name string) string {
	v, _ := s.lookupEnv(name)
	return strings.TrimSpace(v)
}

// roles reads the trust roots from the environment, with WithTrustDomain
// standing in for SPIKE_TRUST_ROOT_NEXUS.
func (s *settings) roles() (*identity.Roles, error) {
	lookup := s.lookupEnv
	if s.trustRoot != "" {
		if _, err := identity.ParseTrustRoot(s.trustRoot); err != nil {
			return nil, configErrorf("sdk: WithTrustDomain: %w", err)
		}
		lookup = func(name string) (string, bool) {
			if name == identity.EnvTrustRootNexus {
				return s.trustRoot, true
			}
			return s.lookupEnv(name)
		}
	}
	roles, err := identity.NewRoles(lookup)
	if err != nil {
		return nil, configErrorf("sdk: trust roots: %w", err)
	}
	return roles, nil
}

// checkNexusURL accepts https://host:port with at most a path: no
// credentials, query or fragment, which the client would send nowhere
// sensible.
func checkNexusURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "https" || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
		return fmt.Errorf("Nexus URL %s: want https://host:port", quoteURL(u))
	}
	return nil
}

// quoteURL is u quoted for an error message, with a password, a query or
// a fragment in it (any may carry a token) replaced by "xxxxx"; a value
// that does not parse as a URL, which may hold one anywhere, is not
// quoted at all.
func quoteURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a value that does not parse as a URL)"
	}
	if p.RawQuery != "" {
		p.RawQuery = "xxxxx"
	}
	if p.Fragment != "" {
		p.Fragment, p.RawFragment = "xxxxx", ""
	}
	return strconv.Quote(p.Redacted())
}
