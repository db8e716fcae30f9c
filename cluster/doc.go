// Package cluster replicates Nexus on Raft (issue 16). A single-node
// Nexus never touches it: only a Nexus configured with peers builds a
// cluster.
//
// So far it holds the wire between replicas: a StreamLayer that carries
// hashicorp/raft's NetworkTransport over mutual TLS, where both ends
// prove with their X.509-SVIDs that they are spike/nexus of an accepted
// trust root and every other peer is refused (and logged) at the
// handshake, and NewTransport, which builds the NetworkTransport on it
// with raft's logging sent to slog. The replicated state machine (sealed
// event batches appended to each replica's eventlog), its snapshots,
// membership and leader forwarding come later.
package cluster
