// Package identity gives every spike process its SPIFFE identity and tells
// it who its peers are.
//
// A process gets its own X.509-SVID, and the bundles that authenticate its
// peers, from a [Source]: the SPIRE Workload API ([NewWorkloadSource]), the
// files spiffe-helper writes ([NewFileSource], reloaded when they change),
// or, in tests, a [StaticSource] fed by a development CA ([NewDevCA]).
// Every Source plugs straight into go-spiffe's tlsconfig:
//
//	tlsconfig.MTLSServerConfig(src, src, identity.AuthorizeRoles(roles.IsNexus))
//
// [Roles] knows SPIKE's SPIFFE IDs (spike/nexus, spike/keeper/<id>,
// spike/pilot/role/superuser, …) and the trust roots each may come from,
// read from SPIKE_TRUST_ROOT and its per-role variants. Matching is
// SPIKE v0.8's: a role's ID, exactly or followed by "/" and more segments
// (spike/nexus/instance-0 is Nexus, spike/keeper/1/x is Keeper "1"), but
// spike/nexus-evil is not Nexus.
//
// Private keys never appear in logs or errors.
package identity
