// Package transport carries spike's API over SPIFFE mutual TLS: the
// server side every listener uses (TLS 1.3, an authoriser at the
// handshake, POST-only routing by exact path and ?action=, SPIKE's JSON
// error envelope and status codes, a request-body limit, timeouts, a
// request id and a structured access log on every request) and the client
// side every caller uses (the server's SPIFFE ID pinned, timeouts,
// connection reuse, retries with backoff for operations that are safe to
// retry).
//
// It knows nothing of what the routes do: handlers get the caller's
// SPIFFE ID and the raw body, and return a status and a body. A server
// may let a request be answered elsewhere (ServerOptions.Forward: a Nexus
// follower hands it to its leader) and may believe, from peers it trusts
// to forward, the caller named in HeaderForwardedPeer
// (ServerOptions.TrustForwarded; Request.Via keeps the forwarder).
package transport
