//go:build linux

// Package transport holds the end-to-end tests of spike's SPIFFE mTLS
// transport: real SPIRE server and agent, real Workload API, one process
// per role, each with its own SPIFFE ID by binary path.
package transport
