package transport

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/api"
)

// HeaderForwardedPeer carries the SPIFFE ID of the caller a request was
// forwarded for: a Nexus follower that hands a request to its leader
// names in it the caller whose certificate it verified. A server believes
// it only from peers its TrustForwarded admits.
const HeaderForwardedPeer = "Spike-Forwarded-Peer"

// errForwardedPeer marks a forwarded-peer header that cannot be believed.
var errForwardedPeer = errors.New("transport: bad " + HeaderForwardedPeer + " header")

// parseForwardedPeer reads the forwarded caller from a request's header
// values. ok is false when there is no header. The ID must be a
// well-formed SPIFFE ID (spiffeid.FromString, nothing normalised) of a
// trust domain the server has a bundle for, that is one whose callers it
// could have verified itself; one header, one value.
func parseForwardedPeer(values []string, bundles x509bundle.Source) (id spiffeid.ID, ok bool, err error) {
	switch len(values) {
	case 0:
		return spiffeid.ID{}, false, nil
	case 1:
	default:
		return spiffeid.ID{}, true, fmt.Errorf("%w: %d values, want one", errForwardedPeer, len(values))
	}
	id, err = spiffeid.FromString(values[0])
	if err != nil {
		// The parser's message quotes no input, so it is safe to return.
		return spiffeid.ID{}, true, fmt.Errorf("%w: %w", errForwardedPeer, err)
	}
	if _, err := bundles.GetX509BundleForTrustDomain(id.TrustDomain()); err != nil {
		return spiffeid.ID{}, true, fmt.Errorf("%w: trust domain %q is not one this server trusts", errForwardedPeer, id.TrustDomain())
	}
	return id, true, nil
}

// badForwardedPeer is the 400 answer to a header that cannot be believed.
func badForwardedPeer(err error) api.Problem {
	return api.Problem{Err: api.CodeBadRequest, Reason: api.ReasonInvalid, Message: err.Error()}
}

// forwardedPeer applies a forwarded-peer header to req: from a peer
// TrustForwarded admits, a valid header makes its ID the request's Peer
// and the TLS peer its Via; from any other peer the header is ignored.
// A non-nil Response refuses the request.
func (s *Server) forwardedPeer(r *http.Request, req *Request) *Response {
	if s.opts.TrustForwarded == nil || !s.opts.TrustForwarded(req.Peer) {
		return nil
	}
	id, ok, err := parseForwardedPeer(r.Header.Values(HeaderForwardedPeer), s.opts.Bundle)
	switch {
	case !ok:
		return nil
	case err != nil:
		return &Response{Status: http.StatusBadRequest, Body: badForwardedPeer(err)}
	}
	// The caller must be one this server would have admitted had it
	// connected directly; no certificate chain is at hand here.
	if err := s.opts.Authorizer(id, nil); err != nil {
		return &Response{Status: http.StatusUnauthorized, Body: api.NewErrorResponse(api.CodeUnauthorized)}
	}
	req.Via, req.Peer = req.Peer, id
	return nil
}
