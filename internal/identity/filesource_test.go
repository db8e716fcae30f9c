package identity

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

func startFileSource(t *testing.T, cfg FileConfig, log *logRecorder) *FileSource {
	t.Helper()
	var logger *slog.Logger
	if log != nil {
		logger = slog.New(log)
	}
	src, err := NewFileSource(t.Context(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func currentSerial(t *testing.T, src Source) string {
	t.Helper()
	svid, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	return svid.Certificates[0].SerialNumber.String()
}

func serialOf(svid *x509svid.SVID) string { return svid.Certificates[0].SerialNumber.String() }

func TestFileSourceLoads(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := t.TempDir()
	svid := issue(t, ca, "/spike/nexus")
	writeFiles(t, ca, dir, svid)
	src := startFileSource(t, fastFiles(dir, waitLimit), nil)

	got, err := src.GetX509SVID()
	if err != nil || got.ID != svid.ID || serialOf(got) != serialOf(svid) {
		t.Fatalf("GetX509SVID = %v, %v; want %s", got, err, svid.ID)
	}
	b, err := src.GetX509BundleForTrustDomain(ca.TrustDomain())
	if err != nil || !b.Equal(ca.Bundle()) {
		t.Fatalf("bundle = %v, %v", b, err)
	}
	if _, err := src.GetX509BundleForTrustDomain(spiffeid.RequireTrustDomainFromString("other.org")); err == nil {
		t.Fatal("got a bundle for a trust domain the files do not hold")
	}
	if src.Files() != FilesIn(dir) {
		t.Fatalf("Files() = %+v", src.Files())
	}
}

func TestFileSourceExplicitPaths(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := t.TempDir()
	svid := issue(t, ca, "/spike/keeper/2")
	files := writeFiles(t, ca, dir, svid)
	cfg := FileConfig{Timeout: waitLimit, PollInterval: 10 * time.Millisecond}
	for _, f := range []struct {
		from string
		to   *string
	}{{files.Cert, &cfg.Cert}, {files.Key, &cfg.Key}, {files.Bundle, &cfg.Bundle}} {
		*f.to = filepath.Join(dir, "renamed-"+filepath.Base(f.from))
		if err := os.Rename(f.from, *f.to); err != nil {
			t.Fatal(err)
		}
	}
	src := startFileSource(t, cfg, nil)
	if got := currentSerial(t, src); got != serialOf(svid) {
		t.Fatalf("serial %s, want %s", got, serialOf(svid))
	}
}

func TestFileSourceReloadsOnReplace(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := t.TempDir()
	writeFiles(t, ca, dir, issue(t, ca, "/spike/nexus"))
	log := newLogRecorder()
	src := startFileSource(t, fastFiles(dir, waitLimit), log)

	// Readers keep using the source while it rotates.
	ctx, cancel := context.WithCancel(t.Context())
	var readers sync.WaitGroup
	for range 4 {
		readers.Go(func() {
			for ctx.Err() == nil {
				if svid, err := src.GetX509SVID(); err != nil || svid == nil {
					t.Errorf("GetX509SVID during rotation: %v", err)
					return
				}
			}
		})
	}
	for range 3 {
		next := issue(t, ca, "/spike/nexus")
		writeFiles(t, ca, dir, next)
		waitUpdated(t, src.Updated())
		if got := currentSerial(t, src); got != serialOf(next) {
			t.Fatalf("after reload serial %s, want %s", got, serialOf(next))
		}
	}
	cancel()
	readers.Wait()
	log.waitFor(t, "reloaded SVID files")
}

func TestFileSourceKeepsSVIDOnInvalidReplacement(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, ca *DevCA, files SVIDFiles)
		want    []string // the warning says one of these
	}{
		{"mismatched key", func(t *testing.T, ca *DevCA, files SVIDFiles) {
			c := contentOf(t, issue(t, ca, "/spike/nexus"), nil)
			mustWrite(t, files.Cert, c.cert)
		}, []string{"does not match"}},
		{"bundle of another trust domain", func(t *testing.T, _ *DevCA, files SVIDFiles) {
			mustWrite(t, files.Bundle, bundlePEM(t, newCA(t, "other.org")))
		}, []string{"does not verify"}},
		{"truncated certificate", func(t *testing.T, _ *DevCA, files SVIDFiles) {
			mustWrite(t, files.Cert, []byte("-----BEGIN CERTIFICATE-----\nMIIB"))
		}, []string{"no PEM certificate"}},
		{"whole set from another trust domain", func(t *testing.T, _ *DevCA, files SVIDFiles) {
			other := newCA(t, "other.org")
			c := contentOf(t, issue(t, other, "/spike/nexus"), nil)
			mustWrite(t, files.Cert, c.cert)
			mustWrite(t, files.Key, c.key)
			// Two writes: the watcher may see the new certificate beside
			// the old key first.
		}, []string{"does not verify", "does not match"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ca := newCA(t, "spike.ist")
			dir := t.TempDir()
			first := issue(t, ca, "/spike/nexus")
			files := writeFiles(t, ca, dir, first)
			log := newLogRecorder()
			src := startFileSource(t, fastFiles(dir, waitLimit), log)

			tc.replace(t, ca, files)
			warning := log.waitFor(t, "ignoring invalid SVID files")
			if !slices.ContainsFunc(tc.want, func(w string) bool { return strings.Contains(warning, w) }) || !strings.HasPrefix(warning, "WARN") {
				t.Fatalf("warning %q does not say %q", warning, tc.want)
			}
			if got := currentSerial(t, src); got != serialOf(first) {
				t.Fatalf("serial %s after invalid replacement, want the previous %s", got, serialOf(first))
			}
			if logs := log.all(); strings.Contains(logs, "PRIVATE KEY") {
				t.Fatalf("logs mention key material:\n%s", logs)
			}

			// Valid files later are picked up again.
			next := issue(t, ca, "/spike/nexus")
			writeFiles(t, ca, dir, next)
			waitUpdated(t, src.Updated())
			if got := currentSerial(t, src); got != serialOf(next) {
				t.Fatalf("serial %s after recovery, want %s", got, serialOf(next))
			}
		})
	}
}

func mustWrite(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := writeFileAtomic(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestFileSourceStartupFailures(t *testing.T) {
	t.Parallel()
	const short = 200 * time.Millisecond
	for _, tc := range []struct {
		name     string
		prepare  func(t *testing.T, dir string)
		timeout  time.Duration
		want     []string
		timedOut bool // the error is a timeout (ErrNoSVID)
	}{
		{"missing files", func(*testing.T, string) {}, short,
			[]string{"within 200ms", "svid.pem", "no such file", "spiffe-helper"}, true},
		{"missing key only", func(t *testing.T, dir string) {
			ca := newCA(t, "spike.ist")
			files := writeFiles(t, ca, dir, issue(t, ca, "/w"))
			if err := os.Remove(files.Key); err != nil {
				t.Fatal(err)
			}
		}, short, []string{"within 200ms", "svid_key.pem"}, true},
		{"expired SVID", func(t *testing.T, dir string) {
			ca := newCA(t, "spike.ist")
			cert, key := custom(t, ca, func(c *x509.Certificate) {
				c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
			})
			writeRaw(t, dir, svidContent{cert, key, bundlePEM(t, ca)})
		}, short, []string{"within 200ms", "expired"}, true},
		{"mismatched key fails at once", func(t *testing.T, dir string) {
			ca := newCA(t, "spike.ist")
			c := contentOf(t, issue(t, ca, "/w"), bundlePEM(t, ca))
			c.key = contentOf(t, issue(t, ca, "/w"), nil).key
			writeRaw(t, dir, c)
		}, waitLimit, []string{"svid_key.pem", "does not match", "svid.pem"}, false},
		{"bundle of another trust domain fails at once", func(t *testing.T, dir string) {
			ca := newCA(t, "spike.ist")
			writeRaw(t, dir, contentOf(t, issue(t, ca, "/w"), bundlePEM(t, newCA(t, "other.org"))))
		}, waitLimit, []string{"svid_bundle.pem", "does not verify"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tc.prepare(t, dir)
			src, err := NewFileSource(t.Context(), fastFiles(dir, tc.timeout), nil)
			if err == nil {
				_ = src.Close()
				t.Fatal("started without valid files")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("error spans lines: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if errors.Is(err, ErrNoSVID) != tc.timedOut {
				t.Errorf("errors.Is(err, ErrNoSVID) = %v, want %v", !tc.timedOut, tc.timedOut)
			}
		})
	}
}

func writeRaw(t *testing.T, dir string, c svidContent) {
	t.Helper()
	files := FilesIn(dir)
	mustWrite(t, files.Cert, c.cert)
	mustWrite(t, files.Key, c.key)
	mustWrite(t, files.Bundle, c.bundle)
}

func TestFileSourceWaitsForFiles(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := t.TempDir()
	type result struct {
		src *FileSource
		err error
	}
	done := make(chan result, 1)
	go func() {
		src, err := NewFileSource(t.Context(), fastFiles(dir, waitLimit), nil)
		done <- result{src, err}
	}()
	svid := issue(t, ca, "/spike/bootstrap")
	writeFiles(t, ca, dir, svid)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.src.Close()
	if got := currentSerial(t, r.src); got != serialOf(svid) {
		t.Fatalf("serial %s, want %s", got, serialOf(svid))
	}
}

func TestFileSourceCancelledWait(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewFileSource(ctx, fastFiles(t.TempDir(), waitLimit), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
}

func TestFileSourceClose(t *testing.T) {
	t.Parallel()
	ca := newCA(t, "spike.ist")
	dir := t.TempDir()
	writeFiles(t, ca, dir, issue(t, ca, "/w"))
	src := startFileSource(t, fastFiles(dir, waitLimit), nil)
	for range 2 {
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := src.GetX509SVID(); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetX509SVID after Close: %v", err)
	}
	if _, err := src.GetX509BundleForTrustDomain(ca.TrustDomain()); !errors.Is(err, ErrClosed) {
		t.Fatalf("GetX509BundleForTrustDomain after Close: %v", err)
	}
}

// TestFileSourceMissingDirectory: a directory that does not exist is a
// wrong path, reported at once rather than after the timeout.
func TestFileSourceMissingDirectory(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "no-such-dir")
	_, err := NewFileSource(ctx, FileConfig{Dir: dir, Timeout: time.Hour}, nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist") || ctx.Err() != nil {
		t.Fatalf("NewFileSource(%s) = %v (context: %v); want an immediate 'does not exist'", dir, err, ctx.Err())
	}
}
