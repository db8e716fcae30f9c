// Package cluster replicates Nexus on Raft (issue 16). A single-node
// Nexus never touches it: only a Nexus configured with peers builds a
// cluster.
//
// A Node is one replica's membership in the group. The replicated state
// is the event log itself: the leader's writer seals each batch into an
// eventlog change (the exact records its file would gain) and commits it
// with Replicate; every replica's state machine applies committed
// changes to its own log with eventlog.Log.ApplyChange, so all replicas
// hold the same events, Merkle tree and signed checkpoints. A snapshot
// is a consistent copy of the log's file; a new or far-behind replica
// receives one and brings its log up to it (eventlog.Log.Restore).
//
// The wire between replicas is a StreamLayer carrying hashicorp/raft's
// NetworkTransport over mutual TLS, where both ends prove with their
// X.509-SVIDs that they are spike/nexus of an accepted trust root; every
// other peer is refused (and logged) at the handshake.
package cluster
