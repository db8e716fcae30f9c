package bootstrap

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spikeledger/spike/internal/shamir"
)

// Defaults, SPIKE v0.8's where it has the setting.
const (
	DefaultNexusURL           = "https://localhost:8553"
	DefaultNexusWait          = 10 * time.Minute
	DefaultKeeperMaxRetries   = 5
	DefaultKeeperTimeout      = 30 * time.Second
	DefaultKeeperRetryInitial = 2 * time.Second
	DefaultKeeperRetryMax     = 30 * time.Second
	DefaultVerifyTimeout      = 5 * time.Minute
	DefaultPollInitial        = 500 * time.Millisecond
	DefaultPollMax            = 5 * time.Second
)

// Backend stores, as SPIKE_BACKEND_STORE_TYPE (SPIKE_NEXUS_BACKEND_STORE)
// names them. Like SPIKE's Bootstrap, spike's has nothing to do when
// Nexus keeps no root key with Keepers (memory) or when SPIKE would skip
// bootstrap (lite).
const (
	StoreSQLite = "sqlite"
	StoreMemory = "memory"
	StoreLite   = "lite"
)

// Config is one bootstrap run. Zero fields take their defaults.
type Config struct {
	// Keepers are the Keepers' base URLs (https://host:port) in shard
	// order: the Keeper at position N (from 1) gets shard N. Nexus must
	// list them in the same order.
	Keepers []string
	// NexusURL is Nexus's base URL. Default DefaultNexusURL.
	NexusURL string
	// Shares must equal len(Keepers); 0 means len(Keepers).
	Shares int
	// Threshold is how many shards rebuild the key; 0 means a majority
	// of the Keepers, len(Keepers)/2 + 1.
	Threshold int
	// Force bootstraps again a system Nexus reports as bootstrapped,
	// replacing its root key.
	Force bool
	// BackendStore is Nexus's backend store; with StoreMemory or
	// StoreLite there is nothing to do. Empty means StoreSQLite.
	BackendStore string

	// Timeout bounds the whole run; 0 means no bound
	// (SPIKE_BOOTSTRAP_TIMEOUT).
	Timeout time.Duration
	// NexusWait bounds the wait for Nexus to answer the status query.
	NexusWait time.Duration
	// KeeperMaxRetries is how many attempts each Keeper gets, and
	// KeeperTimeout bounds them all together.
	KeeperMaxRetries int
	KeeperTimeout    time.Duration
	// KeeperRetryInitial is the first delay between attempts at a
	// Keeper; it doubles up to KeeperRetryMax.
	KeeperRetryInitial, KeeperRetryMax time.Duration
	// VerifyTimeout bounds the verify exchange, retries included: Nexus
	// must gather the shards and rebuild the key within it.
	VerifyTimeout time.Duration
	// PollInitial is the first delay between status and verify
	// attempts; it doubles up to PollMax.
	PollInitial, PollMax time.Duration

	// Metrics, if set, counts the run (docs/metrics.md, "Bootstrap").
	Metrics *Metrics
}

// UsesKeepers reports whether the backend store keeps the root key with
// Keepers; if not, Run has nothing to do.
func (c Config) UsesKeepers() bool {
	s := strings.ToLower(c.BackendStore)
	return s != StoreMemory && s != StoreLite
}

// params returns the sharing the configuration asks for.
func (c Config) params() shamir.Params {
	return shamir.Params{Shares: c.Shares, Threshold: c.Threshold}
}

// normalize fills in defaults and checks the configuration. Its errors
// are one line naming the setting.
func (c Config) normalize() (Config, error) {
	var err error
	if c.BackendStore, err = checkStore(c.BackendStore); err != nil {
		return c, err
	}
	if c.NexusURL == "" {
		c.NexusURL = DefaultNexusURL
	}
	if c.NexusURL, err = checkURL(c.NexusURL); err != nil {
		return c, fmt.Errorf("nexus URL (SPIKE_NEXUS_URL): %w", err)
	}
	if c.Keepers, err = checkKeepers(c.Keepers, c.UsesKeepers()); err != nil {
		return c, fmt.Errorf("keepers (SPIKE_KEEPERS): %w", err)
	}
	if err := c.defaultSharing(); err != nil {
		return c, err
	}
	return c.defaultTimings()
}

func checkStore(s string) (string, error) {
	switch v := strings.ToLower(strings.TrimSpace(s)); v {
	case "":
		return StoreSQLite, nil
	case StoreSQLite, StoreMemory, StoreLite:
		return v, nil
	}
	return "", fmt.Errorf("backend store (SPIKE_BACKEND_STORE_TYPE) %q: want %s, %s or %s", s, StoreSQLite, StoreMemory, StoreLite)
}

// defaultSharing fills in and checks Shares and Threshold.
func (c *Config) defaultSharing() error {
	n := len(c.Keepers)
	switch {
	case c.Shares < 0:
		return fmt.Errorf("shares (SPIKE_SHAMIR_SHARES) %d: must be positive", c.Shares)
	case c.Threshold < 0:
		return fmt.Errorf("threshold (SPIKE_SHAMIR_THRESHOLD) %d: must be positive", c.Threshold)
	case !c.UsesKeepers():
		return nil
	case c.Shares == 0:
		c.Shares = n
	case c.Shares != n:
		return fmt.Errorf("shares (SPIKE_SHAMIR_SHARES) %d but %d keepers listed: each keeper holds one shard", c.Shares, n)
	}
	if c.Threshold == 0 {
		c.Threshold = n/2 + 1
	}
	if c.Threshold > c.Shares {
		return fmt.Errorf("threshold (SPIKE_SHAMIR_THRESHOLD) %d is more than the %d shares", c.Threshold, c.Shares)
	}
	if err := c.params().Validate(); err != nil {
		return fmt.Errorf("sharing: %w", err)
	}
	return nil
}

// defaultTimings fills in and checks the durations and retry counts.
func (c Config) defaultTimings() (Config, error) {
	if c.Timeout < 0 {
		return c, errors.New("timeout (SPIKE_BOOTSTRAP_TIMEOUT) must not be negative")
	}
	if c.KeeperMaxRetries < 0 {
		return c, errors.New("keeper retries (SPIKE_BOOTSTRAP_KEEPER_MAX_RETRIES) must be positive")
	}
	if c.KeeperMaxRetries == 0 {
		c.KeeperMaxRetries = DefaultKeeperMaxRetries
	}
	for _, d := range []struct {
		v    *time.Duration
		def  time.Duration
		name string
	}{
		{&c.NexusWait, DefaultNexusWait, "nexus wait (SPIKE_BOOTSTRAP_NEXUS_TIMEOUT)"},
		{&c.KeeperTimeout, DefaultKeeperTimeout, "keeper timeout (SPIKE_BOOTSTRAP_KEEPER_TIMEOUT)"},
		{&c.KeeperRetryInitial, DefaultKeeperRetryInitial, "keeper retry interval (SPIKE_BOOTSTRAP_KEEPER_RETRY_INITIAL_INTERVAL)"},
		{&c.KeeperRetryMax, DefaultKeeperRetryMax, "keeper retry max interval (SPIKE_BOOTSTRAP_KEEPER_RETRY_MAX_INTERVAL)"},
		{&c.VerifyTimeout, DefaultVerifyTimeout, "verification timeout (SPIKE_BOOTSTRAP_INIT_VERIFICATION_TIMEOUT)"},
		{&c.PollInitial, DefaultPollInitial, "poll interval"},
		{&c.PollMax, DefaultPollMax, "poll max interval"},
	} {
		if *d.v < 0 {
			return c, fmt.Errorf("%s must not be negative", d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	c.KeeperRetryMax = max(c.KeeperRetryMax, c.KeeperRetryInitial)
	c.PollMax = max(c.PollMax, c.PollInitial)
	return c, nil
}

// checkKeepers checks each keeper URL, as SPIKE does (https, a host, no
// empty entry, no duplicate) and a little more (no credentials, query
// or fragment). It returns the URLs trimmed of spaces and of a trailing
// slash.
func checkKeepers(keepers []string, required bool) ([]string, error) {
	if len(keepers) == 0 && required {
		return nil, errors.New("none given: list the keeper URLs in shard order")
	}
	out := make([]string, len(keepers))
	seen := make(map[string]int, len(keepers))
	for i, k := range keepers {
		u, err := checkURL(k)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		key := strings.ToLower(u)
		if j, dup := seen[key]; dup {
			return nil, fmt.Errorf("entries %d and %d are both %s: each keeper holds its own shard", j, i+1, u)
		}
		seen[key] = i + 1
		out[i] = u
	}
	return out, nil
}

// checkURL checks one https base URL and returns it trimmed.
func checkURL(raw string) (string, error) {
	s := strings.TrimRight(strings.TrimSpace(raw), "/")
	if s == "" {
		return "", errors.New("empty URL")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("%q is not a URL", raw)
	case u.Scheme != "https":
		return "", fmt.Errorf("%q: want https://host[:port]", raw)
	case u.Hostname() == "":
		return "", fmt.Errorf("%q has no host", raw)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", fmt.Errorf("%q: want a base URL without credentials, query or fragment", raw)
	}
	return s, nil
}
