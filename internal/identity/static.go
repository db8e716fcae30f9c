package identity

import (
	"fmt"
	"sync/atomic"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// StaticSource is a Source holding an SVID and bundles given to it, for
// in-process tests and `spike dev`. SetSVID and SetBundles swap them, as a
// rotation would.
type StaticSource struct {
	svid    atomic.Pointer[x509svid.SVID]
	bundles atomic.Pointer[x509bundle.Set]
	closed  atomic.Bool
	updated chan struct{}
}

// NewStaticSource returns a source serving svid and bundles.
func NewStaticSource(svid *x509svid.SVID, bundles ...*x509bundle.Bundle) *StaticSource {
	s := &StaticSource{updated: make(chan struct{}, 1)}
	s.svid.Store(svid)
	s.bundles.Store(x509bundle.NewSet(bundles...))
	return s
}

// SetSVID replaces the SVID served from now on.
func (s *StaticSource) SetSVID(svid *x509svid.SVID) {
	s.svid.Store(svid)
	s.notify()
}

// SetBundles replaces the bundles served from now on.
func (s *StaticSource) SetBundles(bundles ...*x509bundle.Bundle) {
	s.bundles.Store(x509bundle.NewSet(bundles...))
	s.notify()
}

func (s *StaticSource) notify() {
	select {
	case s.updated <- struct{}{}:
	default:
	}
}

// Updated is signalled after SetSVID or SetBundles.
func (s *StaticSource) Updated() <-chan struct{} { return s.updated }

// GetX509SVID returns the current SVID.
func (s *StaticSource) GetX509SVID() (*x509svid.SVID, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	svid := s.svid.Load()
	if svid == nil {
		return nil, fmt.Errorf("%w: static source holds none", ErrNoSVID)
	}
	return svid, nil
}

// GetX509BundleForTrustDomain returns the bundle of td, if held.
func (s *StaticSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	b, err := s.bundles.Load().GetX509BundleForTrustDomain(td)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	return b, nil
}

// Close marks the source closed.
func (s *StaticSource) Close() error {
	s.closed.Store(true)
	return nil
}
