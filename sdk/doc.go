// Package sdk is the Go client for spike's secret service, Nexus, for
// workloads and for tools such as the spike command line.
//
// A [Client] speaks mutual TLS with its own X.509-SVID and accepts only a
// server that proves it is Nexus (spiffe://<trust root>/spike/nexus). It
// gets its SVID from the SPIRE Workload API by default, from the files
// spiffe-helper writes ([WithSVIDDir]), or from any go-spiffe source the
// caller already has ([WithSource]):
//
//	c, err := sdk.New(ctx)
//	if err != nil { … }
//	defer c.Close()
//	v, err := c.PutSecret(ctx, "tenants/demo/db/creds", map[string]string{"username": "app"})
//	s, err := c.GetSecret(ctx, "tenants/demo/db/creds", 0)
//
// Without options New reads the environment the spike binaries read:
// SPIKE_NEXUS_URL (or SPIKE v0.8's SPIKE_NEXUS_API_URL; default
// https://localhost:8553), SPIKE_SVID_DIR (else the Workload API at
// SPIFFE_ENDPOINT_SOCKET), SPIKE_SPIFFE_SOURCE_TIMEOUT, and the trust roots
// SPIKE_TRUST_ROOT and SPIKE_TRUST_ROOT_NEXUS. Options override them.
//
// The client covers every Nexus operation: SPIKE v0.8's (secrets,
// policies, the cipher service, operator recover and restore) and spike's
// extensions (check-and-set writes, patch and rollback, destroy,
// removing a path, per-path settings, secret history, the audit log and
// its proofs, restore points, bootstrap and system status). Every method
// takes a [context.Context] and is safe for concurrent use.
//
// # Errors
//
// Every failed call returns an [*Error] naming the operation and the path
// (never a secret value). It matches one of [ErrNotFound],
// [ErrUnauthorized], [ErrNotReady], [ErrBadRequest] or [ErrConflict] with
// errors.Is when Nexus gave that answer, and the [api.ErrorCode] it
// carries. When Nexus said why (an [api.Problem]), the error's Reason,
// Message and CurrentVersion hold it: which refusal it was (cas_mismatch,
// cas_required, too_large, deleted, destroyed, …), in words, and the
// version a check-and-set should expect. An answer the client cannot
// read matches [ErrBadAnswer]; a connection failure wraps the network
// error instead. Arguments are checked before anything is sent: bad
// input fails with [ErrBadRequest] without a round trip. New fails with
// an error matching [ErrConfig] when its options or the environment are
// wrong, and with another when it gets no SVID.
//
// # Command lines
//
// A program with a command line can embed [Flags] in its kong grammar:
// the Nexus URL, the SVID's source and its timeout, spelled and read from
// the environment as spike's own commands do.
//
// # Retries
//
// While Nexus answers 503 (sealed, or still starting) the client retries
// with capped exponential backoff, for reads and writes alike, since a 503
// means Nexus did nothing; it also retries while the connection is
// refused, for at most [WithRefusedWait] (by default the whole retry
// wait): nothing listening may be a Nexus restarting, or one that is not
// running at all. It gives up when the context ends or after the wait set
// with [WithRetry] (30 s by default), returning the last answer.
// [WithWaitNotice] hears of each call's first wait, for a program that
// should say what it is waiting for.
package sdk
