package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
)

// ErrUnauthorized is wrapped by the errors of the authorizers below.
var ErrUnauthorized = errors.New("identity: peer not authorized")

// AuthorizeRoles returns a tlsconfig.Authorizer accepting a peer whose
// SPIFFE ID satisfies any of preds, such as roles.IsNexus. With no
// predicates it accepts nobody.
func AuthorizeRoles(preds ...func(spiffeid.ID) bool) tlsconfig.Authorizer {
	preds = slices.Clone(preds)
	return func(id spiffeid.ID, _ [][]*x509.Certificate) error {
		for _, p := range preds {
			if p(id) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s holds no role accepted here", ErrUnauthorized, id)
	}
}

// AuthorizeTrustDomains returns a tlsconfig.Authorizer accepting any peer
// in one of tds. With none it accepts nobody.
func AuthorizeTrustDomains(tds ...spiffeid.TrustDomain) tlsconfig.Authorizer {
	tds = slices.Clone(tds)
	return func(id spiffeid.ID, _ [][]*x509.Certificate) error {
		if slices.Contains(tds, id.TrustDomain()) {
			return nil
		}
		return fmt.Errorf("%w: %s is not in an accepted trust domain", ErrUnauthorized, id)
	}
}
