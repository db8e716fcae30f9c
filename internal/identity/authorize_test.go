package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

func TestAuthorizers(t *testing.T) {
	t.Parallel()
	roles := DefaultRoles()
	spike := spiffeid.RequireTrustDomainFromString("spike.ist")
	other := spiffeid.RequireTrustDomainFromString("other.org")
	for _, tc := range []struct {
		name  string
		authz tlsconfig.Authorizer
		id    string
		ok    bool
	}{
		{"nexus or bootstrap: nexus", AuthorizeRoles(roles.IsNexus, roles.IsBootstrap), "spiffe://spike.ist/spike/nexus", true},
		{"nexus or bootstrap: bootstrap", AuthorizeRoles(roles.IsNexus, roles.IsBootstrap), "spiffe://spike.ist/spike/bootstrap", true},
		{"nexus or bootstrap: keeper", AuthorizeRoles(roles.IsNexus, roles.IsBootstrap), "spiffe://spike.ist/spike/keeper/1", false},
		{"nexus: nexus-evil", AuthorizeRoles(roles.IsNexus), "spiffe://spike.ist/spike/nexus-evil", false},
		{"keeper: keeper/1/x", AuthorizeRoles(roles.IsKeeper), "spiffe://spike.ist/spike/keeper/1/x", true},
		{"keeper: keeper-1", AuthorizeRoles(roles.IsKeeper), "spiffe://spike.ist/spike/keeper-1", false},
		{"no predicates", AuthorizeRoles(), "spiffe://spike.ist/spike/nexus", false},
		{"trust domain member", AuthorizeTrustDomains(spike, other), "spiffe://other.org/anything", true},
		{"trust domain stranger", AuthorizeTrustDomains(spike), "spiffe://other.org/spike/nexus", false},
		{"no trust domains", AuthorizeTrustDomains(), "spiffe://spike.ist/spike/nexus", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.authz(spiffeid.RequireFromString(tc.id), nil)
			if (err == nil) != tc.ok {
				t.Fatalf("authorizer(%s) = %v, want ok=%v", tc.id, err, tc.ok)
			}
			if err != nil && (!errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tc.id)) {
				t.Fatalf("error %q should match ErrUnauthorized and name the peer", err)
			}
		})
	}
}

// TestMutualTLS runs real handshakes with go-spiffe's tlsconfig over the
// sources of this package.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	roles := DefaultRoles()
	ca := newCA(t, "spike.ist")
	stranger := newCA(t, "other.org")
	nexus := NewStaticSource(issue(t, ca, PathNexus), ca.Bundle())
	for _, tc := range []struct {
		name      string
		server    Source
		client    Source
		serverErr string // "" means the server accepts the client
		clientErr string // "" means the client accepts the server
	}{
		{"pilot to nexus", nexus, NewStaticSource(issue(t, ca, PathPilotSuperuser), ca.Bundle()), "", ""},
		{"workload is no pilot", nexus, NewStaticSource(issue(t, ca, "/workload/demo"), ca.Bundle()), "holds no role", ""},
		{"server is no nexus", NewStaticSource(issue(t, ca, PathNexus+"-evil"), ca.Bundle()),
			NewStaticSource(issue(t, ca, PathPilotSuperuser), ca.Bundle()), "remote error", "holds no role"},
		{"client from an unknown trust domain", nexus,
			NewStaticSource(issue(t, stranger, PathPilotSuperuser), stranger.Bundle(), ca.Bundle()), "bundle", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			serverCfg := tlsconfig.MTLSServerConfig(tc.server, tc.server, AuthorizeRoles(roles.IsPilotSuperuser))
			clientCfg := tlsconfig.MTLSClientConfig(tc.client, tc.client, AuthorizeRoles(roles.IsNexus))
			serverErr, clientErr := handshake(t, serverCfg, clientCfg)
			checkHandshake(t, "server", serverErr, tc.serverErr)
			checkHandshake(t, "client", clientErr, tc.clientErr)
		})
	}
}

func checkHandshake(t *testing.T, side string, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("%s: %v", side, err)
	case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
		t.Errorf("%s error %v; want one containing %q", side, err, want)
	}
}

// handshake connects a client to a server over loopback TCP and returns
// each side's handshake error; the client also reads, so a rejection the
// server sends after the client's handshake (TLS 1.3) is not missed.
func handshake(t *testing.T, serverCfg, clientCfg *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		tc := tls.Server(conn, serverCfg)
		err = tc.HandshakeContext(t.Context())
		if err == nil {
			_, err = tc.Write([]byte{1})
		}
		done <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tc := tls.Client(conn, clientCfg)
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	clientErr = tc.HandshakeContext(ctx)
	serverErr = <-done
	if clientErr == nil && serverErr == nil {
		_, clientErr = tc.Read(make([]byte, 1))
	}
	return serverErr, clientErr
}
