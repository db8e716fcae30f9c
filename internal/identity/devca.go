package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Lifetimes used when a caller passes zero.
const (
	DefaultDevCATTL   = 24 * time.Hour
	DefaultDevSVIDTTL = time.Hour
)

// backdate allows for clocks a little behind the issuer's.
const backdate = time.Minute

// DevCA is a throwaway, in-memory certificate authority for one trust
// domain: an ECDSA P-256 root that issues X.509-SVIDs directly. It is for
// tests and `spike dev`, where no SPIRE server runs; its key never leaves
// the process.
type DevCA struct {
	td   spiffeid.TrustDomain
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// NewDevCA creates a root CA for td valid for ttl (DefaultDevCATTL if
// zero or negative).
func NewDevCA(td spiffeid.TrustDomain, ttl time.Duration) (*DevCA, error) {
	if td.IsZero() {
		return nil, errors.New("identity: dev CA: empty trust domain")
	}
	if ttl <= 0 {
		ttl = DefaultDevCATTL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: dev CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"spike dev"}, CommonName: "spike dev CA " + td.Name()},
		URIs:                  []*url.URL{td.ID().URL()},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(ttl),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("identity: dev CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("identity: dev CA certificate: %w", err)
	}
	return &DevCA{td: td, cert: cert, key: key}, nil
}

// TrustDomain returns the CA's trust domain.
func (ca *DevCA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// Certificate returns the CA's root certificate.
func (ca *DevCA) Certificate() *x509.Certificate { return ca.cert }

// Bundle returns a new bundle holding the CA's root certificate.
func (ca *DevCA) Bundle() *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(ca.td, []*x509.Certificate{ca.cert})
}

// Issue signs a new X.509-SVID for id with a fresh ECDSA P-256 key, valid
// for ttl (DefaultDevSVIDTTL if zero or negative) but never beyond the CA.
func (ca *DevCA) Issue(id spiffeid.ID, ttl time.Duration) (*x509svid.SVID, error) {
	if err := ca.checkID(id); err != nil {
		return nil, err
	}
	if ttl <= 0 {
		ttl = DefaultDevSVIDTTL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: SVID key for %s: %w", id, err)
	}
	der, err := ca.sign(id, key, ttl)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("identity: SVID for %s: %w", id, err)
	}
	return &x509svid.SVID{ID: id, Certificates: []*x509.Certificate{cert}, PrivateKey: key}, nil
}

// checkID accepts only non-root IDs in the CA's trust domain.
func (ca *DevCA) checkID(id spiffeid.ID) error {
	switch {
	case id.IsZero():
		return errors.New("identity: dev CA: empty SPIFFE ID")
	case id.TrustDomain() != ca.td:
		return fmt.Errorf("identity: dev CA for %s cannot issue %s", ca.td, id)
	case id.Path() == "":
		return fmt.Errorf("identity: dev CA: %s has no path", id)
	}
	return nil
}

// sign creates the leaf certificate for id and key.
func (ca *DevCA) sign(id spiffeid.ID, key *ecdsa.PrivateKey, ttl time.Duration) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	notAfter := now.Add(ttl)
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"spike dev"}},
		URIs:                  []*url.URL{id.URL()},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("identity: signing SVID for %s: %w", id, err)
	}
	return der, nil
}

// WriteFiles writes svid and the CA's bundle to dir in spiffe-helper's
// layout (see WriteSVIDFiles).
func (ca *DevCA) WriteFiles(dir string, svid *x509svid.SVID) (SVIDFiles, error) {
	return WriteSVIDFiles(dir, svid, ca.Bundle())
}

// randomSerial returns a random 128-bit certificate serial number.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("identity: certificate serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}
