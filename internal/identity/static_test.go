package identity

import (
	"errors"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

func TestStaticSource(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	other := newCA(t, "other.org")
	first := issue(t, ca, PathNexus)
	src := NewStaticSource(first, ca.Bundle())
	if currentSerial(t, src) != serialOf(first) {
		t.Fatal("wrong SVID")
	}
	if _, err := src.GetX509BundleForTrustDomain(other.TrustDomain()); err == nil {
		t.Fatal("bundle for an unknown trust domain")
	}

	next := issue(t, ca, PathNexus)
	src.SetSVID(next)
	waitUpdated(t, src.Updated())
	if currentSerial(t, src) != serialOf(next) {
		t.Fatal("SetSVID did not swap")
	}
	src.SetBundles(ca.Bundle(), other.Bundle())
	for _, td := range []spiffeid.TrustDomain{ca.TrustDomain(), other.TrustDomain()} {
		if _, err := src.GetX509BundleForTrustDomain(td); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := NewStaticSource(nil).GetX509SVID(); !errors.Is(err, ErrNoSVID) {
		t.Fatalf("empty source: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.GetX509SVID(); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := src.GetX509BundleForTrustDomain(ca.TrustDomain()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
