// Package nexus wires SPIKE Nexus together: it opens the event log,
// builds root-key custody and, once the key is back, the secret service
// over the log and a projection, and serves both on one mTLS listener
// (New, Serve, Close; Run does all three on cfg's addresses), with
// /healthz, /readyz and /metrics on a plain-HTTP operations listener.
//
// # Layout
//
// The parts live in internal packages, one job each; nexus only wires
// them (nexus.go), parses its flags (flags.go) and runs the offline
// import from SPIKE (import.go):
//
//	internal/commit       the one way Nexus writes its log: Committer, and
//	                      Local over the bbolt log
//	internal/custody      the root key: recovery from the Keepers, shard
//	                      distribution and rotation, break glass, the
//	                      routes served while sealed, scrape-time gauges
//	internal/service      the command loop and every route served once
//	                      unsealed (secrets, policies, cipher, audit,
//	                      export, restore points, tails)
//	internal/authz        roles and policies compiled to an Authorizer
//	internal/cipher       the cipher service's envelope and answers
//	internal/metrics      the metrics the parts count into
//	internal/testcluster  keepers under a development CA, for tests
//
// Custody and the command loop both write through one commit.Committer,
// built once in New: custody directly while the loop does not yet run
// (before unseal), through the loop after. A replicated log replaces
// commit.Local in that one place.
//
// How Nexus comes unsealed is described in package custody's comment;
// which requests become events, in package service's and in
// docs/auditor.md, "What is an event".
package nexus
