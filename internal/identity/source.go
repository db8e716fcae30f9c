package identity

import (
	"errors"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// DefaultTimeout bounds how long a source waits for its first SVID.
const DefaultTimeout = 30 * time.Second

// Source supplies a process's own X.509-SVID and the X.509 bundles that
// authenticate its peers. It can be handed directly to go-spiffe's
// tlsconfig as both the SVID source and the bundle source. The SVID a
// Source returns may change over time (rotation); callers fetch it per
// handshake rather than caching it.
type Source interface {
	x509svid.Source
	x509bundle.Source
	// Close releases the source; afterwards its getters return ErrClosed.
	Close() error
}

var (
	_ Source = (*WorkloadSource)(nil)
	_ Source = (*FileSource)(nil)
	_ Source = (*StaticSource)(nil)
)

// ErrNoSVID is returned, wrapped in a one-line explanation, when a source
// could not obtain its first SVID in time.
var ErrNoSVID = errors.New("identity: no SVID")

// ErrClosed is returned by the getters of a closed source.
var ErrClosed = errors.New("identity: source is closed")

// waitError is a one-line message for a failed wait that still matches
// ErrNoSVID and the underlying cause with errors.Is.
type waitError struct {
	msg   string
	cause error
}

func (e *waitError) Error() string { return e.msg }

func (e *waitError) Unwrap() []error { return []error{ErrNoSVID, e.cause} }
