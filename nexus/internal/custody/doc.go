// Package custody holds Nexus's root key, or knows why it does not yet.
//
// Nexus starts sealed, answering every route but the break-glass operator
// ones with 503 state_not_ready (Routes); custody gathers shards from the
// Keepers (checking each against the Feldman commitment recorded in the
// log at bootstrap, so a wrong shard is left out), rebuilds the root key,
// unlocks the event log, runs its OnUnseal (which brings the projections
// up to date and starts the service), and only then reports unsealed.
// While unsealed it re-sends every Keeper its shard on a schedule,
// recording each run in the log.
//
// What custody records goes through the commit.Committer it is given
// until the service runs, and through the service's command loop (which
// commits through the same Committer) after.
//
// The root key lives in one locked page of memory (seal.LockedKey);
// shards are zeroed as soon as the key is rebuilt.
package custody
