// Package testcluster runs Keepers under a development CA, for the tests
// of Nexus and its custody: real keepers on loopback listeners, SVIDs for
// any workload path, and spike-bootstrap's part of a bootstrap.
package testcluster

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/keeper"
)

// TrustDomain is the cluster's trust domain.
const TrustDomain = "spike.test"

// Cluster is a development CA and the keepers it runs.
type Cluster struct {
	T       testing.TB
	CA      *identity.DevCA
	Roles   *identity.Roles
	Dir     string   // Nexus's data directory
	Keepers []string // the keepers' base URLs, keeper i+1 at Keepers[i]
	Logs    *SyncBuffer
	stopK   []context.CancelFunc
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (the loggers
// of keepers and Nexus).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// New starts keepers keepers (1..keepers) under a new development CA
// for trust domain TrustDomain, and a data directory for Nexus; all stop
// when the test ends.
func New(t testing.TB, keepers int) *Cluster {
	t.Helper()
	ca, err := identity.NewDevCA(spiffeid.RequireTrustDomainFromString(TrustDomain), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := identity.NewRoles(func(k string) (string, bool) {
		if k == "SPIKE_TRUST_ROOT" {
			return TrustDomain, true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{T: t, CA: ca, Roles: roles, Dir: t.TempDir(), Logs: &SyncBuffer{}}
	for i := range keepers {
		c.Keepers = append(c.Keepers, c.StartKeeper(i+1))
	}
	return c
}

// Logger writes text logs to c.Logs.
func (c *Cluster) Logger() *slog.Logger { return slog.New(slog.NewTextHandler(c.Logs, nil)) }

// Source is a fixed SVID for path in the trust domain, and the bundle.
func (c *Cluster) Source(path string) *identity.StaticSource {
	c.T.Helper()
	svid, err := c.CA.Issue(spiffeid.RequireFromPath(c.CA.TrustDomain(), path), time.Hour)
	if err != nil {
		c.T.Fatal(err)
	}
	return identity.NewStaticSource(svid, c.CA.Bundle())
}

// StartKeeper starts keeper id (1-based) on a loopback port and returns
// its base URL.
func (c *Cluster) StartKeeper(id int) string {
	c.T.Helper()
	k, err := keeper.New(c.Source(fmt.Sprintf("/spike/keeper/%d", id)), c.Roles, c.Logger())
	if err != nil {
		c.T.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Serve(ctx, ln, nil); close(done) }()
	c.stopK = append(c.stopK, func() { cancel(); <-done })
	c.T.Cleanup(func() { cancel(); <-done })
	return "https://" + ln.Addr().String()
}

// StopKeeper stops keeper i (1-based); its shard is gone with it.
func (c *Cluster) StopKeeper(i int) { c.stopK[i-1]() }

// Client is an mTLS client with path's SVID that accepts a server pin
// accepts, closed when the test ends.
func (c *Cluster) Client(path string, pin func(spiffeid.ID) bool) *transport.Client {
	src := c.Source(path)
	cl, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(pin), Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		c.T.Fatal(err)
	}
	c.T.Cleanup(cl.Close)
	return cl
}

// Bootstrap does what spike-bootstrap does: a random root key, one shard
// per keeper, then the verification exchange with Nexus.
func (c *Cluster) Bootstrap(apiURL string, threshold int) [32]byte {
	c.T.Helper()
	var key [32]byte
	rand.Read(key[:])
	shares, _, err := shamir.Split(&key, shamir.Params{Shares: len(c.Keepers), Threshold: threshold})
	if err != nil {
		c.T.Fatal(err)
	}
	kc := c.Client("/spike/bootstrap", c.Roles.IsKeeper)
	for i, url := range c.Keepers {
		c.Contribute(kc, url, shares[i].Value)
	}
	plain := []byte(hex.EncodeToString(key[:4]) + "-verify")
	block, _ := aes.NewCipher(key[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	req := api.BootstrapVerifyRequest{Nonce: nonce, Ciphertext: gcm.Seal(nil, nonce, plain, nil)}
	var resp api.BootstrapVerifyResponse
	nc := c.Client("/spike/bootstrap", c.Roles.IsNexus)
	if err := nc.Do(context.Background(), transport.Call{BaseURL: apiURL, Path: api.PathBootstrapVerify, Request: req, Response: &resp}); err != nil {
		c.T.Fatalf("verify: %v", err)
	}
	sum := sha256.Sum256(plain)
	if resp.Hash != hex.EncodeToString(sum[:]) {
		c.T.Fatalf("verify hash %s, want %x", resp.Hash, sum)
	}
	return key
}

// Contribute sends keeper url the shard v, as spike-bootstrap does.
func (c *Cluster) Contribute(kc *transport.Client, url string, v [32]byte) {
	c.T.Helper()
	s := api.Shard(v)
	if err := kc.Do(context.Background(), transport.Call{BaseURL: url, Path: api.PathKeeperContribute, Request: api.ShardContributeRequest{Shard: &s}}); err != nil {
		c.T.Fatalf("contribute to %s: %v", url, err)
	}
}

// KeeperEpoch asks keeper url (as Nexus) which epoch its shard is of.
func (c *Cluster) KeeperEpoch(url string) uint64 {
	c.T.Helper()
	var resp api.ShardGetResponse
	if err := c.Client("/spike/nexus", c.Roles.IsKeeper).Do(context.Background(), transport.Call{BaseURL: url, Path: api.PathKeeperShard, Request: api.ShardGetRequest{}, Response: &resp}); err != nil {
		c.T.Fatal(err)
	}
	return resp.Epoch
}

// RestartKeeper starts a new, empty keeper id at the address of the one
// that was there (stopped first), as a restarted keeper process is.
func (c *Cluster) RestartKeeper(id int) {
	c.T.Helper()
	c.StopKeeper(id)
	k, err := keeper.New(c.Source(fmt.Sprintf("/spike/keeper/%d", id)), c.Roles, c.Logger())
	if err != nil {
		c.T.Fatal(err)
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(c.Keepers[id-1], "https://"))
	if err != nil {
		c.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { k.Serve(ctx, ln, nil); close(done) }()
	c.stopK[id-1] = func() { cancel(); <-done }
	c.T.Cleanup(func() { cancel(); <-done })
}

// ReplaceKeepers stops every keeper and starts as many new, empty ones
// at new addresses, as after losing every keeper host.
func (c *Cluster) ReplaceKeepers() {
	c.T.Helper()
	n := len(c.Keepers)
	for i := 1; i <= n; i++ {
		c.StopKeeper(i)
	}
	c.Keepers, c.stopK = nil, nil
	for i := 1; i <= n; i++ {
		c.Keepers = append(c.Keepers, c.StartKeeper(i))
	}
}
