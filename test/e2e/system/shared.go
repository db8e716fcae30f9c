//go:build linux

package system

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Shared is one Testbed that the tests of a package share: built and
// started by the first test that asks for it and closed by the package's
// TestMain once every test is done, so the binaries are built and SPIRE
// started once per package rather than once per test.
type Shared struct {
	name string
	opts Options

	once sync.Once
	tb   *Testbed
	err  error
}

// NewShared describes a shared Testbed; name labels its lines on
// stderr ("custody e2e: …"). Nothing starts until Testbed is called.
func NewShared(name string, opts Options) *Shared {
	return &Shared{name: name, opts: opts}
}

// Testbed returns the shared Testbed, starting it on first use. Under
// -short it skips t: end-to-end tests are not in the fast subset. If the
// start failed, it fails t (and every later caller) with the reason.
func (s *Shared) Testbed(t testing.TB) *Testbed {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test with real binaries under a real SPIRE: skipped with -short")
	}
	s.once.Do(func() {
		begin := time.Now()
		s.tb, s.err = NewTestbed(context.Background(), s.opts)
		if s.err == nil {
			fmt.Fprintf(os.Stderr, "%s e2e: binaries built and SPIRE started in %v\n", s.name, time.Since(begin).Round(time.Millisecond))
		}
	})
	if s.err != nil {
		t.Fatalf("end-to-end setup failed: %v", s.err)
	}
	return s.tb
}

// Main runs the package's tests and then closes the Testbed if a test
// started it; it returns the exit code for TestMain to exit with.
func (s *Shared) Main(m *testing.M) int {
	code := m.Run()
	if s.tb != nil {
		if err := s.tb.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "%s e2e: %v\n", s.name, err)
		}
	}
	return code
}
