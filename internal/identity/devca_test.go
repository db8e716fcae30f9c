package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

func TestDevCAIssueVerifies(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	for _, tc := range []struct {
		name string
		path string
		ttl  time.Duration
		want time.Duration // expected lifetime, roughly
	}{
		{"nexus", PathNexus, 5 * time.Minute, 5 * time.Minute},
		{"keeper with id", PathKeeper + "/3", time.Minute, time.Minute},
		{"default ttl", "/workload/demo", 0, DefaultDevSVIDTTL},
		{"clamped to the CA", PathPilotSuperuser, 48 * time.Hour, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			id := spiffeid.RequireFromPath(ca.TrustDomain(), tc.path)
			svid, err := ca.Issue(id, tc.ttl)
			if err != nil {
				t.Fatal(err)
			}
			gotID, chains, err := x509svid.Verify(svid.Certificates, ca.Bundle())
			if err != nil || gotID != id || len(chains) != 1 {
				t.Fatalf("Verify = %s, %d chains, %v", gotID, len(chains), err)
			}
			leaf := svid.Certificates[0]
			if leaf.NotAfter.After(ca.Certificate().NotAfter) {
				t.Fatalf("SVID outlives its CA: %s > %s", leaf.NotAfter, ca.Certificate().NotAfter)
			}
			if life := time.Until(leaf.NotAfter); life > tc.want || life < tc.want-time.Minute {
				t.Fatalf("SVID lives %s more, want about %s", life, tc.want)
			}
			// The SVID survives go-spiffe's own parsing rules.
			certs, key, err := svid.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := x509svid.Parse(certs, key); err != nil {
				t.Fatal(err)
			}
			if k, ok := svid.PrivateKey.(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
				t.Fatalf("key is %T, want ECDSA P-256", svid.PrivateKey)
			}
		})
	}
}

func TestDevCARoot(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("dev.spike.ist")
	ca, err := NewDevCA(td, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	root := ca.Certificate()
	if !root.IsCA || root.KeyUsage&x509.KeyUsageCertSign == 0 || root.URIs[0].String() != "spiffe://dev.spike.ist" {
		t.Fatalf("root: CA %v, usage %v, URI %v", root.IsCA, root.KeyUsage, root.URIs)
	}
	if life := time.Until(root.NotAfter); life > 10*time.Minute || life < 9*time.Minute {
		t.Fatalf("root lives %s more, want about 10m", life)
	}
	b := ca.Bundle()
	if b.TrustDomain() != td || len(b.X509Authorities()) != 1 || !b.X509Authorities()[0].Equal(root) {
		t.Fatalf("bundle %v", b)
	}
	// Changing a returned bundle does not change the CA's.
	b.RemoveX509Authority(root)
	if len(ca.Bundle().X509Authorities()) != 1 {
		t.Fatal("Bundle shares state with the CA")
	}
	if _, err := NewDevCA(spiffeid.TrustDomain{}, 0); err == nil {
		t.Fatal("created a CA without a trust domain")
	}
}

func TestDevCARejects(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	other := newCA(t, "other.org")
	for _, tc := range []struct {
		name string
		id   spiffeid.ID
		want string
	}{
		{"zero ID", spiffeid.ID{}, "empty SPIFFE ID"},
		{"other trust domain", spiffeid.RequireFromPath(other.TrustDomain(), PathNexus), "cannot issue"},
		{"trust domain ID", ca.TrustDomain().ID(), "has no path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ca.Issue(tc.id, time.Minute); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Issue(%q) = %v; want %q", tc.id, err, tc.want)
			}
		})
	}
	// An SVID from another CA does not verify against this one.
	if _, _, err := x509svid.Verify(issue(t, other, PathNexus).Certificates, ca.Bundle()); err == nil {
		t.Fatal("foreign SVID verified")
	}
}
