package transport

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// peerVerifier verifies a client's X509-SVID chain against the trust
// bundle, as go-spiffe's VerifyPeerCertificate does, and remembers chains
// it has verified.
//
// A workload that makes a new connection per call (SPIKE's SDK does)
// presents the same chain every time, and parsing and verifying it again
// was a tenth of the server's CPU per call. A chain is taken from memory
// only if its bytes are exactly the ones verified, the trust domain's
// bundle still holds exactly the same authorities, and every certificate
// of the verified chain is valid now; otherwise it is verified afresh.
// The TLS handshake's proof that the client holds the key is made on
// every connection regardless (crypto/tls checks CertificateVerify).
type peerVerifier struct {
	bundle    x509bundle.Source
	authorize tlsconfig.Authorizer
	now       func() time.Time
	parse     func([][]byte, x509bundle.Source, ...x509svid.VerifyOption) (spiffeid.ID, [][]*x509.Certificate, error)

	// refused, if set, hears of every chain refused.
	refused func(error)

	mu      sync.Mutex
	entries map[[32]byte]*verifiedPeer
}

// errUnauthorized marks a verified chain whose SPIFFE ID the server does
// not admit.
var errUnauthorized = errors.New("peer not authorized")

type verifiedPeer struct {
	id        spiffeid.ID
	chains    [][]*x509.Certificate
	bundle    [32]byte // digest of the trust domain's authorities when verified
	notBefore time.Time
	notAfter  time.Time
}

// maxVerifiedPeers bounds the memory; past it the cache starts over.
const maxVerifiedPeers = 4096

func newPeerVerifier(bundle x509bundle.Source, authorize tlsconfig.Authorizer) *peerVerifier {
	return &peerVerifier{bundle: bundle, authorize: authorize, now: time.Now, parse: x509svid.ParseAndVerify, entries: map[[32]byte]*verifiedPeer{}}
}

// verify is a tls.Config VerifyPeerCertificate callback.
func (v *peerVerifier) verify(raw [][]byte, _ [][]*x509.Certificate) error {
	err := v.check(raw)
	if err != nil && v.refused != nil {
		v.refused(err)
	}
	return err
}

func (v *peerVerifier) check(raw [][]byte) error {
	key := chainDigest(raw)
	v.mu.Lock()
	p := v.entries[key]
	v.mu.Unlock()
	if p != nil && v.stillValid(p) {
		return v.admit(p.id, p.chains)
	}
	id, chains, err := v.parse(raw, v.bundle)
	if err != nil {
		return err
	}
	if err := v.admit(id, chains); err != nil {
		return err
	}
	if p, ok := v.entry(id, chains); ok {
		v.mu.Lock()
		if len(v.entries) >= maxVerifiedPeers {
			v.entries = map[[32]byte]*verifiedPeer{}
		}
		v.entries[key] = p
		v.mu.Unlock()
	}
	return nil
}

func (v *peerVerifier) admit(id spiffeid.ID, chains [][]*x509.Certificate) error {
	if err := v.authorize(id, chains); err != nil {
		return fmt.Errorf("%w: %w", errUnauthorized, err)
	}
	return nil
}

// entry describes a verified chain for the cache; ok is false when the
// bundle cannot be read back (then nothing is cached).
func (v *peerVerifier) entry(id spiffeid.ID, chains [][]*x509.Certificate) (*verifiedPeer, bool) {
	d, ok := v.bundleDigest(id.TrustDomain())
	if !ok || len(chains) == 0 {
		return nil, false
	}
	p := &verifiedPeer{id: id, chains: chains, bundle: d}
	for i, c := range chains[0] {
		if i == 0 || c.NotBefore.After(p.notBefore) {
			p.notBefore = c.NotBefore
		}
		if i == 0 || c.NotAfter.Before(p.notAfter) {
			p.notAfter = c.NotAfter
		}
	}
	return p, true
}

func (v *peerVerifier) stillValid(p *verifiedPeer) bool {
	now := v.now()
	if now.Before(p.notBefore) || now.After(p.notAfter) {
		return false
	}
	d, ok := v.bundleDigest(p.id.TrustDomain())
	return ok && d == p.bundle
}

// bundleDigest digests the trust domain's current X.509 authorities.
func (v *peerVerifier) bundleDigest(td spiffeid.TrustDomain) ([32]byte, bool) {
	b, err := v.bundle.GetX509BundleForTrustDomain(td)
	if err != nil {
		return [32]byte{}, false
	}
	var raws [][]byte
	for _, c := range b.X509Authorities() {
		raws = append(raws, c.Raw)
	}
	return chainDigest(raws), true
}

// chainDigest is SHA-256 over the certificates, each prefixed by its
// length, so no two different lists share a digest input.
func chainDigest(certs [][]byte) [32]byte {
	h := sha256.New()
	var n [8]byte
	for _, c := range certs {
		binary.BigEndian.PutUint64(n[:], uint64(len(c)))
		h.Write(n[:])
		h.Write(c)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}
