// Package nexus is the secret service. This part of it is custody of the
// root key: Nexus starts sealed, answering every route but the
// break-glass operator ones with 503 state_not_ready; it gathers shards
// from the Keepers (checking each against the Feldman commitment recorded
// in the log at bootstrap, so a wrong shard is left out), rebuilds the
// root key, unlocks the event log, brings the projections up to date, and
// only then reports ready. While ready it re-sends every Keeper its shard
// on a schedule, recording each run in the log.
//
// The root key lives in one locked page of memory (seal.LockedKey);
// shards are zeroed as soon as the key is rebuilt.
package nexus
