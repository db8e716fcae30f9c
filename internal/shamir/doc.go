// Package shamir splits the 32-byte root key into shards and recovers it,
// byte-compatible with SPIKE v0.8: Shamir sharing with circl's
// secretsharing over the scalar field of P-256, the root key as the
// secret (big-endian, as is), shard N for the keeper at position N, and —
// by default — polynomial coefficients drawn from a deterministic stream
// seeded with the root key (SHA-256 of the key, then SHA-256 of each
// block), so the same key always gives the same shards. Keeper fleets and
// recovery files from a SPIKE deployment keep working.
//
// On top of SPIKE, a split also yields Feldman commitments to the
// polynomial: recorded in the event log, they let Nexus check each shard
// it collects and leave a wrong or corrupted one out. A refresh split
// draws the coefficients at random instead, so that shards of an older
// epoch stop combining with the new ones.
//
// Recovery files are SPIKE's: "spike:<id>:<64 lowercase hex digits>".
package shamir
