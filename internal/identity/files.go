package identity

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// The file names spiffe-helper writes by default.
const (
	DefaultCertFile   = "svid.pem"
	DefaultKeyFile    = "svid_key.pem"
	DefaultBundleFile = "svid_bundle.pem"
)

// SVIDFiles names the three files of spiffe-helper's layout: the PEM
// certificate chain (leaf first), the PEM PKCS#8 private key and the PEM
// bundle of CA certificates of the SVID's trust domain.
type SVIDFiles struct {
	Cert, Key, Bundle string
}

// FilesIn returns the default file names inside dir.
func FilesIn(dir string) SVIDFiles {
	return SVIDFiles{
		Cert:   filepath.Join(dir, DefaultCertFile),
		Key:    filepath.Join(dir, DefaultKeyFile),
		Bundle: filepath.Join(dir, DefaultBundleFile),
	}
}

// errNotValidNow marks an SVID that is expired or not yet valid: a
// condition that waiting (for spiffe-helper to rewrite) can cure.
var errNotValidNow = errors.New("not valid now")

// svidContent is the raw content of the three files.
type svidContent struct {
	cert, key, bundle []byte
}

// readSVIDFiles reads the three files.
func readSVIDFiles(files SVIDFiles) (svidContent, error) {
	var c svidContent
	var err error
	if c.cert, err = os.ReadFile(files.Cert); err != nil {
		return c, fmt.Errorf("identity: certificate file: %w", err)
	}
	if c.key, err = os.ReadFile(files.Key); err != nil {
		return c, fmt.Errorf("identity: key file: %w", err)
	}
	if c.bundle, err = os.ReadFile(files.Bundle); err != nil {
		return c, fmt.Errorf("identity: bundle file: %w", err)
	}
	return c, nil
}

// LoadSVIDFiles reads and validates the SVID files once: the leaf carries
// exactly one SPIFFE ID, the key matches it, the chain verifies against
// the bundle and the SVID is valid now. Errors name the offending file.
func LoadSVIDFiles(files SVIDFiles) (*x509svid.SVID, *x509bundle.Bundle, error) {
	c, err := readSVIDFiles(files)
	if err != nil {
		return nil, nil, err
	}
	return parseSVIDFiles(files, c, time.Now())
}

// parseSVIDFiles validates the content of the three files at time now.
func parseSVIDFiles(files SVIDFiles, c svidContent, now time.Time) (*x509svid.SVID, *x509bundle.Bundle, error) {
	certs, err := decodeCertificates(c.cert)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: certificate file %s: %w", files.Cert, err)
	}
	keyDER, key, err := decodePrivateKey(c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("identity: key file %s: %w", files.Key, err)
	}
	svid, err := newSVID(files, certs, keyDER, key)
	if err != nil {
		return nil, nil, err
	}
	if err := checkValidity(svid.Certificates[0], now); err != nil {
		return nil, nil, fmt.Errorf("identity: certificate file %s: SVID %s %w", files.Cert, svid.ID, err)
	}
	bundle, err := verifyAgainstBundle(files, svid, c.bundle, now)
	if err != nil {
		return nil, nil, err
	}
	return svid, bundle, nil
}

// newSVID checks the leaf's SPIFFE ID and key, then lets go-spiffe apply
// the rest of the X509-SVID rules (key usage, CA flags).
func newSVID(files SVIDFiles, certs []*x509.Certificate, keyDER []byte, key crypto.Signer) (*x509svid.SVID, error) {
	if _, err := x509svid.IDFromCert(certs[0]); err != nil {
		return nil, fmt.Errorf("identity: certificate file %s: leaf: %w", files.Cert, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, fmt.Errorf("identity: key file %s does not match the certificate in %s", files.Key, files.Cert)
	}
	var chain []byte
	for _, c := range certs {
		chain = append(chain, c.Raw...)
	}
	svid, err := x509svid.ParseRaw(chain, keyDER)
	if err != nil {
		return nil, fmt.Errorf("identity: certificate file %s: %w", files.Cert, err)
	}
	return svid, nil
}

// checkValidity reports whether the leaf is within its validity period.
func checkValidity(leaf *x509.Certificate, now time.Time) error {
	switch {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("expired at %s: %w", leaf.NotAfter.UTC().Format(time.RFC3339), errNotValidNow)
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("is not valid before %s: %w", leaf.NotBefore.UTC().Format(time.RFC3339), errNotValidNow)
	}
	return nil
}

// verifyAgainstBundle parses the bundle file for the SVID's trust domain
// and verifies the SVID's chain against it.
func verifyAgainstBundle(files SVIDFiles, svid *x509svid.SVID, raw []byte, now time.Time) (*x509bundle.Bundle, error) {
	cas, err := decodeCertificates(raw)
	if err != nil {
		return nil, fmt.Errorf("identity: bundle file %s: %w", files.Bundle, err)
	}
	bundle := x509bundle.FromX509Authorities(svid.ID.TrustDomain(), cas)
	if _, _, err := x509svid.Verify(svid.Certificates, bundle, x509svid.WithTime(now)); err != nil {
		return nil, fmt.Errorf("identity: certificate file %s does not verify against bundle file %s: %w",
			files.Cert, files.Bundle, err)
	}
	return bundle, nil
}

// decodeCertificates parses every PEM CERTIFICATE block; other block
// types are an error.
func decodeCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// decodePrivateKey parses the first PEM block as a PKCS#8 private key. It
// returns the DER and the key. Errors never include key material.
func decodePrivateKey(data []byte) ([]byte, crypto.Signer, error) {
	block, _ := pem.Decode(data)
	switch {
	case block == nil:
		return nil, nil, errors.New("no PEM private key found")
	case block.Type != "PRIVATE KEY":
		return nil, nil, fmt.Errorf("PEM block is %q, want PKCS#8 \"PRIVATE KEY\"", block.Type)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, nil, errors.New("not a valid PKCS#8 private key")
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return block.Bytes, signer, nil
}

// WriteSVIDFiles writes svid and bundle to dir in spiffe-helper's layout,
// creating dir (0700) if needed. Each file is replaced atomically; the key
// is written 0600 and the certificates 0644. It returns the file names.
func WriteSVIDFiles(dir string, svid *x509svid.SVID, bundle *x509bundle.Bundle) (SVIDFiles, error) {
	files := FilesIn(dir)
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		return files, fmt.Errorf("identity: encoding SVID: %w", err)
	}
	bundlePEM, err := bundle.Marshal()
	if err != nil {
		return files, fmt.Errorf("identity: encoding bundle: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return files, fmt.Errorf("identity: creating SVID directory: %w", err)
	}
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{files.Bundle, bundlePEM, 0o644},
		{files.Key, keyPEM, 0o600},
		{files.Cert, certPEM, 0o644},
	} {
		if err := writeFileAtomic(f.path, f.data, f.mode); err != nil {
			return files, err
		}
	}
	clear(keyPEM)
	return files, nil
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it over path, so readers see the old or the new content, never a mix.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	if err := replaceFile(path, data, mode); err != nil {
		return fmt.Errorf("identity: writing %s: %w", path, err)
	}
	return nil
}

func replaceFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}
