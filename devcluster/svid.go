package devcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/jobs"
)

// Lifetimes of the development identities. The CA outlives any
// reasonable dev session, so its bundle never changes under a running
// client; the SVIDs are short enough that a leaked file soon stops
// working, and are issued again halfway through their life.
const (
	caTTL      = 90 * 24 * time.Hour
	svidTTL    = 24 * time.Hour
	renewEvery = svidTTL / 2
)

// The SVID directories Start writes, by name.
const (
	SVIDSuperuser = "superuser"
	SVIDAuditor   = "auditor"
	SVIDDemo      = "demo"
	SVIDAdmin     = "admin"
	SVIDOperator  = "operator"
	SVIDRecover   = "recover"
	SVIDRestore   = "restore"
)

// svidNames lists every SVID directory Start writes.
func svidNames() []string {
	return []string{SVIDSuperuser, SVIDAuditor, SVIDDemo, SVIDAdmin, SVIDOperator, SVIDRecover, SVIDRestore}
}

// svidPath returns the SPIFFE ID path of the SVID directory name.
func svidPath(name string) (string, bool) {
	switch name {
	case SVIDSuperuser:
		return identity.PathPilotSuperuser, true
	case SVIDAuditor:
		return identity.PathPilotAuditor, true
	case SVIDDemo:
		return identity.PathWorkloads + "/demo", true
	case SVIDAdmin:
		return identity.PathPilotAdmin, true
	case SVIDOperator:
		return identity.PathPilotOperator, true
	case SVIDRecover:
		return identity.PathPilotRecover, true
	case SVIDRestore:
		return identity.PathPilotRestore, true
	}
	return "", false
}

// holder is one identity the issuer keeps fresh: an in-process source,
// or a directory of SVID files.
type holder struct {
	id  spiffeid.ID
	src *identity.StaticSource // nil for files
	dir string
}

// issuer is the development CA and every identity it has issued, which
// it issues again on a schedule.
type issuer struct {
	ca *identity.DevCA

	mu      sync.Mutex
	holders []holder
	closed  bool
}

func newIssuer(td spiffeid.TrustDomain) (*issuer, error) {
	ca, err := identity.NewDevCA(td, caTTL)
	if err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	return &issuer{ca: ca}, nil
}

// id returns the SPIFFE ID at path in the CA's trust domain.
func (is *issuer) id(path string) (spiffeid.ID, error) {
	id, err := spiffeid.FromPath(is.ca.TrustDomain(), path)
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("devcluster: SPIFFE ID path %q: %w", path, err)
	}
	return id, nil
}

// source returns an in-process source for the identity at path, kept
// fresh until close.
func (is *issuer) source(path string) (*identity.StaticSource, error) {
	src, err := is.static(path)
	if err != nil {
		return nil, err
	}
	svid, _ := src.GetX509SVID()
	if err := is.add(holder{id: svid.ID, src: src}); err != nil {
		src.Close()
		return nil, err
	}
	return src, nil
}

// static returns an in-process source for the identity at path that is
// not renewed: for a client used during Start only. The caller closes it.
func (is *issuer) static(path string) (*identity.StaticSource, error) {
	id, err := is.id(path)
	if err != nil {
		return nil, err
	}
	svid, err := is.ca.Issue(id, svidTTL)
	if err != nil {
		return nil, fmt.Errorf("devcluster: %w", err)
	}
	return identity.NewStaticSource(svid, is.ca.Bundle()), nil
}

// writeDir writes SVID files for the identity at path into dir and keeps
// them fresh; a directory written before is taken over by the new
// identity.
func (is *issuer) writeDir(path, dir string) error {
	id, err := is.id(path)
	if err != nil {
		return err
	}
	h := holder{id: id, dir: filepath.Clean(dir)}
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.closed {
		return errClosed
	}
	if err := is.refresh(h); err != nil {
		return err
	}
	is.addLocked(h)
	return nil
}

// add registers h for renewal.
func (is *issuer) add(h holder) error {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.closed {
		return errClosed
	}
	is.addLocked(h)
	return nil
}

// addLocked registers h, replacing a holder of the same directory; the
// caller holds mu.
func (is *issuer) addLocked(h holder) {
	for i, old := range is.holders {
		if h.dir != "" && old.dir == h.dir {
			is.holders[i] = h
			return
		}
	}
	is.holders = append(is.holders, h)
}

var errClosed = errors.New("devcluster: the cluster is closed")

// refresh issues a new SVID to h.
func (is *issuer) refresh(h holder) error {
	svid, err := is.ca.Issue(h.id, svidTTL)
	if err != nil {
		return fmt.Errorf("devcluster: %w", err)
	}
	if h.src != nil {
		h.src.SetSVID(svid)
		return nil
	}
	files, err := is.ca.WriteFiles(h.dir, svid)
	if err != nil {
		return fmt.Errorf("devcluster: SVID files for %s: %w", h.id, err)
	}
	// identity writes the certificates world-readable, as spiffe-helper
	// does; here the whole directory is one user's, so keep it theirs.
	if err := os.Chmod(h.dir, 0o700); err != nil {
		return fmt.Errorf("devcluster: SVID directory: %w", err)
	}
	for _, p := range []string{files.Cert, files.Bundle} {
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("devcluster: SVID files: %w", err)
		}
	}
	return nil
}

// renew issues every identity again; it goes on past a failure and
// reports them all.
func (is *issuer) renew() error {
	is.mu.Lock()
	defer is.mu.Unlock()
	var errs []error
	for _, h := range is.holders {
		if is.closed {
			break
		}
		errs = append(errs, is.refresh(h))
	}
	return joinErrors(errs...)
}

// renewEvery renews every interval until ctx ends.
func (is *issuer) renewEvery(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	jobs.Every(ctx, interval, func(context.Context) {
		if err := is.renew(); err != nil {
			logger.Error("devcluster: SVIDs not renewed; they expire within a day", "err", err.Error())
		}
	})
}

// close stops renewal and closes the in-process sources.
func (is *issuer) close() error {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.closed = true
	var errs []error
	for _, h := range is.holders {
		if h.src != nil {
			errs = append(errs, h.src.Close())
		}
	}
	return joinErrors(errs...)
}
