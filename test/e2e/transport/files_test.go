//go:build linux

package transport

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/test/e2e/system"
)

// TestFileSVIDsSwitchWithoutRestart: a server reading spiffe-helper's
// files serves a new certificate as soon as the files are replaced.
func TestFileSVIDsSwitchWithoutRestart(t *testing.T) {
	t.Parallel()
	trust := spiffeid.RequireTrustDomainFromString(system.TrustDomain)
	ca, err := identity.NewDevCA(trust, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nexus := spiffeid.RequireFromPath(trust, "/spike/nexus")
	dir := t.TempDir()
	first, err := ca.Issue(nexus, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteFiles(dir, first); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := identity.NewFileSource(ctx, identity.FileConfig{Dir: dir, PollInterval: 50 * time.Millisecond}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	srv, err := transport.NewServer(transport.ServerOptions{SVID: src, Bundle: src, Authorizer: tlsconfig.AuthorizeAny(), Logger: slog.New(slog.DiscardHandler)},
		[]transport.Route{{Path: "/v1/echo", Handler: func(context.Context, *transport.Request) transport.Response {
			return transport.Response{Body: struct{}{}}
		}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, ln)

	pilot, err := ca.Issue(spiffeid.RequireFromPath(trust, "/spike/pilot/role/superuser"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	client := identity.NewStaticSource(pilot, ca.Bundle())
	served := func() string {
		// A fresh connection each time, so the handshake shows the
		// certificate served now.
		tr := &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(client, client, tlsconfig.AuthorizeID(nexus))}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Post("https://"+ln.Addr().String()+"/v1/echo", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return serialOf(resp.TLS)
	}
	if got := served(); got != first.Certificates[0].SerialNumber.String() {
		t.Fatalf("served %s, want the first SVID", got)
	}
	second, err := ca.Issue(nexus, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.WriteFiles(dir, second); err != nil {
		t.Fatal(err)
	}
	want := second.Certificates[0].SerialNumber.String()
	deadline := time.Now().Add(10 * time.Second)
	for served() != want {
		if time.Now().After(deadline) {
			t.Fatal("the replaced files were not served within 10s")
		}
		select {
		case <-src.Updated():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func serialOf(cs *tls.ConnectionState) string {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].SerialNumber.String()
}
