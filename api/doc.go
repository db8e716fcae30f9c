// Package api is spike's wire contract: the URL paths and ?action=
// selectors of every route, the request and response bodies with their
// exact JSON field names, the error codes and the HTTP statuses they map
// to, the validation rules for input from outside, and size-limited
// decoders that apply them.
//
// The contract is SPIKE v0.8's, so that the unmodified SPIKE SDK
// (github.com/spiffe/spike-sdk-go v0.19.9) and the spike CLI work against
// spike's servers, plus extensions marked as such. This package holds no
// server and no client: it only says what travels on the wire.
//
// # Conventions (SPIKE v0.8)
//
// Every call is an HTTP POST with a JSON body (even an empty request is
// "{}"); the operation is chosen by the exact URL path and the query
// parameter "action" (see [Route]). Anything else — another method, an
// unknown path or action, a path with a trailing slash — is answered 400
// with {"err":"api_bad_request"}; the transport enforces this.
//
// Every response body carries "err" (omitted on success). A client reads
// only 200 bodies; for the others it looks at the status alone (400, 401,
// 404 and 503 are distinct, everything else is opaque), so [ErrorCode.Status]
// matters more than the body.
//
// Bodies use encoding/json's conventions, which SPIKE's clients rely on:
// []byte is standard padded base64, a shard (*[Shard]) is an array of 32
// integers, map[int]T has decimal string keys, time.Time is RFC 3339 with
// nanoseconds, nil maps, slices and pointers are null. Decoding accepts
// fields it does not know (SPIKE's server does, and clients may send
// fields a version of this package does not model) and matches keys
// case-insensitively, like SPIKE's.
//
// # Decoding and validation
//
// [DecodeRequest] reads a request body under a size limit (SPIKE has
// none; see [Op.BodyLimit]), refuses anything after the JSON value, and
// runs the request's Validate; [Decode] does the same without validating,
// for handlers that must authorise before they validate, as SPIKE does.
// Every failure is a client error answered 400 [CodeBadRequest] — a body
// over the limit too, rather than 413, because 400 is what a v0.8 client
// understands. Error messages name the field and the rule, never the
// value.
//
// # Secret paths
//
// A secret path is a name made of segments joined by '/': 1–500 bytes of
// letters, digits and ._-/()?+*|[]{}\ ([ValidateSecretPath]). spike
// refuses, rather than normalises, a new secret at a path that starts or
// ends with '/' or holds "//": "/a/b", "a/b/" and "a//b" are answered 400
// with a message suggesting "a/b" ([CleanSecretPath]). SPIKE v0.8 stores
// such paths as written, as secrets distinct from "a/b", which is a trap:
// a policy for ^a/b$ does not reach "/a/b", and a typo makes a second
// secret. Refusing them keeps one spelling per secret, and the rule is
// the same in the server, the SDK and the CLI, since all three call this
// package. Here spike deliberately refuses requests SPIKE v0.8 accepts; a
// SPIKE database holding such paths is refused by the import (package
// spikedb), naming them.
//
// A log written before spike had this rule may hold secrets at such
// paths: legacy paths. They stay reachable. A request that only reaches
// what is or was stored ([StoredPathsRequest]: get, delete, undelete,
// destroy, metadata and settings get, metadata delete, history, audit
// search by path, restore) validates with [ValidateStoredSecretPath],
// which lets an empty segment through, and Nexus refuses the path, as
// [CheckSegments] does, unless a secret is or was stored there. Writes
// of a new version (put, patch, rollback, settings put) keep the rule:
// at a legacy path they are refused with [LegacyPathError], which says
// how to move the secret rather than suggest the cleaned path, a
// different secret.
//
// # Extensions
//
// spike adds check-and-set writes, destroy, per-path settings (SPIKE has
// no settings but the global version limit), secret history, the audit
// log and its proofs, and point-in-time restore. They follow the same
// conventions, live under paths SPIKE does not serve or in optional
// fields SPIKE's clients never send, and never change what a v0.8 client
// sees. Each is marked "Extension" in its documentation and by
// [Op.Extension]. The additions to v0.8 answers are the "version" of
// [SecretPutResponse] and [SecretGetResponse], fields v0.8 clients ignore.
package api
