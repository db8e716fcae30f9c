package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// testFiles are the names parse errors must mention.
var testFiles = SVIDFiles{Cert: "/run/svid/svid.pem", Key: "/run/svid/svid_key.pem", Bundle: "/run/svid/svid_bundle.pem"}

func contentOf(t testing.TB, svid *x509svid.SVID, bundlePEM []byte) svidContent {
	t.Helper()
	cert, key, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return svidContent{cert: cert, key: key, bundle: bundlePEM}
}

func bundlePEM(t testing.TB, ca *DevCA) []byte {
	t.Helper()
	b, err := ca.Bundle().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pemOf(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// custom signs tmpl with the CA's key for a fresh P-256 key and returns
// the certificate PEM and the PKCS#8 key PEM.
func custom(t testing.TB, ca *DevCA, mutate func(*x509.Certificate)) ([]byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		URIs:                  []*url.URL{spiffeid.RequireFromPath(ca.TrustDomain(), "/w").URL()},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	mutate(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", der), pemOf("PRIVATE KEY", keyDER)
}

// chained returns an SVID issued by an intermediate CA under a root
// that allows one: the certificate PEM holds leaf then intermediate.
func chained(t testing.TB, td spiffeid.TrustDomain) svidContent {
	t.Helper()
	root := subCA(t, td, nil)
	inter := subCA(t, td, root)
	leaf := issue(t, inter, "/spike/nexus")
	c := contentOf(t, leaf, pemOf("CERTIFICATE", root.cert.Raw))
	c.cert = append(c.cert, pemOf("CERTIFICATE", inter.cert.Raw)...)
	return c
}

// subCA returns a CA signed by parent, or self-signed if parent is nil,
// with no path length limit.
func subCA(t testing.TB, td spiffeid.TrustDomain, parent *DevCA) *DevCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big1(t),
		URIs:                  []*url.URL{td.ID().URL()},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, issuerKey := tmpl, crypto.Signer(key)
	if parent != nil {
		issuer, issuerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), issuerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &DevCA{td: td, cert: cert, key: key}
}

func big1(t testing.TB) *big.Int {
	t.Helper()
	n, err := randomSerial()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestParseSVIDFiles(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	other := newCA(t, "other.org")
	sameTD := newCA(t, "spike.ist")
	svid := issue(t, ca, "/spike/nexus")
	second := issue(t, ca, "/spike/nexus")
	good := contentOf(t, svid, bundlePEM(t, ca))
	secondKey := contentOf(t, second, nil).key
	sec1, err := x509.MarshalECPrivateKey(svid.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	noSAN, noSANKey := custom(t, ca, func(c *x509.Certificate) { c.URIs = nil })
	twoSAN, twoSANKey := custom(t, ca, func(c *x509.Certificate) {
		c.URIs = append(c.URIs, spiffeid.RequireFromPath(ca.TrustDomain(), "/x").URL())
	})
	httpsSAN, httpsSANKey := custom(t, ca, func(c *x509.Certificate) { c.URIs = []*url.URL{{Scheme: "https", Host: "x"}} })
	caLeaf, caLeafKey := custom(t, ca, func(c *x509.Certificate) {
		c.IsCA, c.KeyUsage = true, x509.KeyUsageDigitalSignature|x509.KeyUsageCertSign
	})
	noDigSig, noDigSigKey := custom(t, ca, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment })

	with := func(f func(*svidContent)) svidContent {
		c := good
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name    string
		content svidContent
		now     time.Time
		want    string // substring of the error; "" means success
		file    string // file the error must name
	}{
		{"valid", good, time.Now(), "", ""},
		{"intermediate in chain", chained(t, ca.TrustDomain()), time.Now(), "", ""},
		{"mismatched key", with(func(c *svidContent) { c.key = secondKey }), time.Now(), "does not match", testFiles.Key},
		{"bundle of another trust domain", with(func(c *svidContent) { c.bundle = bundlePEM(t, other) }), time.Now(), "does not verify", testFiles.Bundle},
		{"bundle of another CA", with(func(c *svidContent) { c.bundle = bundlePEM(t, sameTD) }), time.Now(), "does not verify", testFiles.Bundle},
		{"expired", good, time.Now().Add(2 * time.Hour), "expired", testFiles.Cert},
		{"not yet valid", good, time.Now().Add(-2 * time.Hour), "not valid before", testFiles.Cert},
		{"cert garbage", with(func(c *svidContent) { c.cert = []byte("not pem") }), time.Now(), "no PEM certificate", testFiles.Cert},
		{"cert empty", with(func(c *svidContent) { c.cert = nil }), time.Now(), "no PEM certificate", testFiles.Cert},
		{"cert file holds a key", with(func(c *svidContent) { c.cert = c.key }), time.Now(), "want CERTIFICATE", testFiles.Cert},
		{"cert DER corrupt", with(func(c *svidContent) { c.cert = pemOf("CERTIFICATE", []byte{0x30, 0x03, 1, 2, 3}) }), time.Now(), "PEM block 1", testFiles.Cert},
		{"key empty", with(func(c *svidContent) { c.key = nil }), time.Now(), "no PEM private key", testFiles.Key},
		{"key SEC1", with(func(c *svidContent) { c.key = pemOf("EC PRIVATE KEY", sec1) }), time.Now(), "PKCS#8", testFiles.Key},
		{"key DER corrupt", with(func(c *svidContent) { c.key = pemOf("PRIVATE KEY", []byte{1, 2, 3}) }), time.Now(), "not a valid PKCS#8", testFiles.Key},
		{"bundle empty", with(func(c *svidContent) { c.bundle = nil }), time.Now(), "no PEM certificate", testFiles.Bundle},
		{"bundle holds a key", with(func(c *svidContent) { c.bundle = c.key }), time.Now(), "want CERTIFICATE", testFiles.Bundle},
		{"no URI SAN", svidContent{noSAN, noSANKey, good.bundle}, time.Now(), "no URI SAN", testFiles.Cert},
		{"two URI SANs", svidContent{twoSAN, twoSANKey, good.bundle}, time.Now(), "more than one URI SAN", testFiles.Cert},
		{"non-SPIFFE URI SAN", svidContent{httpsSAN, httpsSANKey, good.bundle}, time.Now(), "scheme", testFiles.Cert},
		{"leaf is a CA", svidContent{caLeaf, caLeafKey, good.bundle}, time.Now(), "CA flag", testFiles.Cert},
		{"leaf without digitalSignature", svidContent{noDigSig, noDigSigKey, good.bundle}, time.Now(), "digitalSignature", testFiles.Cert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, bundle, err := parseSVIDFiles(testFiles, tc.content, tc.now)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got.ID.Path() != "/spike/nexus" || bundle.TrustDomain() != ca.TrustDomain() {
					t.Fatalf("loaded %s with bundle for %s", got.ID, bundle.TrustDomain())
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded %s; want error containing %q", got.ID, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.Contains(msg, tc.file) {
				t.Fatalf("error %q: want it to contain %q and name %s", msg, tc.want, tc.file)
			}
			assertNoKeyMaterial(t, msg, tc.content.key)
		})
	}
}

func TestParseSVIDFilesValidityIsRetryable(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	c := contentOf(t, issue(t, ca, "/w"), bundlePEM(t, ca))
	_, _, err := parseSVIDFiles(testFiles, c, time.Now().Add(2*time.Hour))
	if !errors.Is(err, errNotValidNow) {
		t.Fatalf("expired SVID: %v; want errNotValidNow", err)
	}
	c.key = contentOf(t, issue(t, ca, "/w"), nil).key
	if _, _, err := parseSVIDFiles(testFiles, c, time.Now()); errors.Is(err, errNotValidNow) {
		t.Fatalf("mismatched key reported as a validity problem: %v", err)
	}
}

// assertNoKeyMaterial fails if msg quotes any run of the key PEM's body.
func assertNoKeyMaterial(t *testing.T, msg string, keyPEM []byte) {
	t.Helper()
	block, _ := pem.Decode(keyPEM)
	if block == nil || len(block.Bytes) < 8 {
		return
	}
	body := string(pem.EncodeToMemory(block))
	lines := strings.Split(body, "\n")
	for _, l := range lines[1 : len(lines)-2] {
		if len(l) >= 16 && strings.Contains(msg, l[:16]) {
			t.Fatalf("error quotes key material: %q", msg)
		}
	}
}

func TestLoadSVIDFilesNamesMissingFile(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := t.TempDir()
	files := writeFiles(t, ca, dir, issue(t, ca, "/spike/keeper/1"))
	svid, _, err := LoadSVIDFiles(files)
	if err != nil || svid.ID.Path() != "/spike/keeper/1" {
		t.Fatalf("LoadSVIDFiles = %v, %v", svid, err)
	}
	if err := os.Remove(files.Bundle); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadSVIDFiles(files)
	if err == nil || !strings.Contains(err.Error(), files.Bundle) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing bundle: %v", err)
	}
}

func TestWriteSVIDFilesLayout(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := filepath.Join(t.TempDir(), "svid")
	files := writeFiles(t, ca, dir, issue(t, ca, "/spike/nexus"))
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Join(dir, "svid.pem"), 0o644},
		{filepath.Join(dir, "svid_key.pem"), 0o600},
		{filepath.Join(dir, "svid_bundle.pem"), 0o644},
	} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, st.Mode().Perm(), f.mode)
		}
	}
	if files != FilesIn(dir) {
		t.Fatalf("WriteFiles returned %+v, want %+v", files, FilesIn(dir))
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 3 {
		t.Fatalf("directory holds %d entries (%v), want the 3 files only", len(entries), err)
	}
}

func FuzzLoadSVIDFiles(f *testing.F) {
	ca := newCA(f, "spike.ist")
	good := contentOf(f, issue(f, ca, "/spike/nexus"), bundlePEM(f, ca))
	f.Add(good.cert, good.key, good.bundle)
	f.Add(good.key, good.cert, good.bundle)
	f.Add(good.cert, good.key, good.cert)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte{}, []byte("\x00"))
	f.Fuzz(func(t *testing.T, cert, key, bundle []byte) {
		svid, b, err := parseSVIDFiles(testFiles, svidContent{cert, key, bundle}, time.Now())
		if err != nil {
			if !strings.HasPrefix(err.Error(), "identity: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if svid.ID.IsZero() || len(svid.Certificates) == 0 || b == nil {
			t.Fatalf("accepted an incomplete SVID: %+v", svid)
		}
		if _, ok := svid.PrivateKey.(crypto.Signer); !ok {
			t.Fatal("accepted a key that cannot sign")
		}
	})
}
