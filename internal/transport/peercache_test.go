package transport

import (
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/internal/identity"
)

// TestPeerVerifierRemembersOnlyWhatStillHolds: a chain verified once is
// taken from memory while its bytes, its trust bundle and its validity
// are unchanged, and verified afresh (and refused) as soon as any is not;
// the authorizer runs on every connection.
func TestPeerVerifierRemembersOnlyWhatStillHolds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, v *peerVerifier, src *identity.StaticSource, raw [][]byte) [][]byte
		parses int  // ParseAndVerify calls for the second connection
		err    bool // whether the second connection is refused
	}{
		{"same chain", func(*testing.T, *peerVerifier, *identity.StaticSource, [][]byte) [][]byte { return nil }, 0, false},
		{"bundle replaced", func(t *testing.T, _ *peerVerifier, src *identity.StaticSource, _ [][]byte) [][]byte {
			other, err := identity.NewDevCA(td, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			src.SetBundles(other.Bundle())
			return nil
		}, 1, true},
		{"bundle gone", func(_ *testing.T, _ *peerVerifier, src *identity.StaticSource, _ [][]byte) [][]byte {
			src.SetBundles()
			return nil
		}, 1, true},
		{"expired since", func(_ *testing.T, v *peerVerifier, _ *identity.StaticSource, _ [][]byte) [][]byte {
			// Past the chain's NotAfter by the verifier's clock: not taken
			// from memory (the fresh verification uses the real clock).
			v.now = func() time.Time { return time.Now().Add(3 * time.Hour) }
			return nil
		}, 1, false},
		{"one byte different", func(_ *testing.T, _ *peerVerifier, _ *identity.StaticSource, raw [][]byte) [][]byte {
			c := append([]byte(nil), raw[0]...)
			c[len(c)-5] ^= 1
			return [][]byte{c}
		}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ca, err := identity.NewDevCA(td, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			svid, err := ca.Issue(appID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			bundles := identity.NewStaticSource(svid, ca.Bundle())
			var raw [][]byte
			for _, c := range svid.Certificates {
				raw = append(raw, c.Raw)
			}
			authorized := 0
			v := newPeerVerifier(bundles, func(id spiffeid.ID, _ [][]*x509.Certificate) error {
				authorized++
				if id != appID {
					return errors.New("wrong id")
				}
				return nil
			})
			parses := 0
			v.parse = func(raw [][]byte, b x509bundle.Source, opts ...x509svid.VerifyOption) (spiffeid.ID, [][]*x509.Certificate, error) {
				parses++
				return x509svid.ParseAndVerify(raw, b, opts...)
			}
			if err := v.verify(raw, nil); err != nil {
				t.Fatalf("first connection: %v", err)
			}
			second := raw
			if r := tc.change(t, v, bundles, raw); r != nil {
				second = r
			}
			parses = 0
			err = v.verify(second, nil)
			if (err != nil) != tc.err {
				t.Fatalf("second connection: err %v, want refused %v", err, tc.err)
			}
			if parses != tc.parses {
				t.Fatalf("second connection verified the chain %d times, want %d", parses, tc.parses)
			}
			if !tc.err && authorized != 2 {
				t.Fatalf("authorizer ran %d times for two connections", authorized)
			}
		})
	}

	// The authorizer's refusal holds for a remembered chain too.
	ca, _ := identity.NewDevCA(td, time.Hour)
	svid, _ := ca.Issue(appID, time.Hour)
	raw := [][]byte{svid.Certificates[0].Raw}
	allow := true
	v := newPeerVerifier(identity.NewStaticSource(svid, ca.Bundle()), func(spiffeid.ID, [][]*x509.Certificate) error {
		if !allow {
			return errors.New("not authorized")
		}
		return nil
	})
	if err := v.verify(raw, nil); err != nil {
		t.Fatal(err)
	}
	allow = false
	if err := v.verify(raw, nil); err == nil {
		t.Fatal("a remembered chain skipped the authorizer")
	}
}
