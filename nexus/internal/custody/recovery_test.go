package custody

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

// blackHole accepts connections and never answers, like a keeper whose
// host stopped responding: a call to it ends only with its timeout.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return "https://" + ln.Addr().String()
}

// TestFetchShardsDoesNotWaitForALateKeeper: with two honest keepers, a
// liar and a keeper that never answers, gathering ends once enough
// shards are in, without waiting out the silent keeper's timeout (an
// hour here), and still hears every keeper that answered promptly, the
// liar included, so recovery can name it.
func TestFetchShardsDoesNotWaitForALateKeeper(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	var key, other [32]byte
	rand.Read(key[:])
	rand.Read(other[:])
	p := shamir.Params{Shares: 4, Threshold: 2}
	shares, _, err := shamir.Split(&key, p)
	if err != nil {
		t.Fatal(err)
	}
	lies, _, err := shamir.Split(&other, p)
	if err != nil {
		t.Fatal(err)
	}
	kc := c.Client("/spike/bootstrap", c.Roles.IsKeeper)
	c.Contribute(kc, c.Keepers[0], shares[0].Value)
	c.Contribute(kc, c.Keepers[1], shares[1].Value)
	c.Contribute(kc, c.Keepers[2], lies[2].Value)

	src := c.Source("/spike/nexus")
	nc, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: identity.AuthorizeRoles(c.Roles.IsKeeper),
		Timeout: time.Hour, TLSHandshakeTimeout: time.Hour, ResponseHeaderTimeout: time.Hour, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	urls := append(append([]string{}, c.Keepers...), blackHole(t))
	cu, err := New(Config{Keepers: urls, Shares: 4, Threshold: 2}, Deps{Keepers: nc, Logger: c.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	// A bound on the wait, not a measure of it: without an early end the
	// call would wait out the silent keeper's hour.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fs := cu.fetchShards(ctx, func(fs []fetched) bool {
		n := 0
		for _, f := range fs {
			if f.err == nil && f.share.Value != ([32]byte{}) {
				n++
			}
		}
		return n >= p.Threshold
	})
	defer zeroFetched(fs)
	if ctx.Err() != nil {
		t.Fatal("fetchShards waited for the keeper that never answers")
	}
	want := [][32]byte{shares[0].Value, shares[1].Value, lies[2].Value}
	for i, w := range want {
		if fs[i].err != nil || fs[i].share.Value != w || fs[i].share.ID != i+1 {
			t.Errorf("keeper %d: err %v, right value %v, id %d; want its shard", i+1, fs[i].err, fs[i].share.Value == w, fs[i].share.ID)
		}
	}
	if !errors.Is(fs[3].err, errNotAwaited) {
		t.Errorf("silent keeper: err %v, want errNotAwaited", fs[3].err)
	}
}
