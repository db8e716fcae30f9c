// Package nexus wires SPIKE Nexus together: it opens the event log,
// holds the root key's custody, and once the key is back builds the
// secret service over the log and a projection, serving both on one mTLS
// listener (New, Serve, Close; Run does all three on cfg's addresses).
//
// # Layout
//
// The parts live in internal packages, one job each:
//
//	nexus/                  wiring (nexus.go), flags, custody (custody.go,
//	                        recovery.go, distribute.go, breakglass.go,
//	                        status.go), the routes served while sealed
//	                        (routes.go), scrape-time gauges (metrics.go),
//	                        the offline import (import.go)
//	internal/commit         the one way Nexus writes its log: Committer,
//	                        and Local, over the bbolt log
//	internal/service        the command loop and every route served once
//	                        unsealed (secrets, policies, cipher, audit,
//	                        export, restore points, tails)
//	internal/authz          roles and policies compiled to an Authorizer
//	internal/cipher         the cipher service's envelope and answers
//	internal/metrics        the metrics the parts count into
//
// Custody and the command loop both write through one commit.Committer,
// built once in New: custody directly while the loop does not yet run
// (before unseal), through the loop after. A replicated log replaces
// commit.Local in that one place.
//
// Which requests become events is stated in package service's comment
// and in docs/auditor.md, "What is an event".
//
// # Custody
//
// Nexus starts sealed, answering every route but the break-glass operator
// ones with 503 state_not_ready; it gathers shards from the Keepers
// (checking each against the Feldman commitment recorded in the log at
// bootstrap, so a wrong shard is left out), rebuilds the root key, unlocks
// the event log, brings the projections up to date, and only then reports
// ready. While ready it re-sends every Keeper its shard on a schedule,
// recording each run in the log.
//
// The root key lives in one locked page of memory (seal.LockedKey);
// shards are zeroed as soon as the key is rebuilt.
package nexus
