//go:build linux

// Package keeper holds the end-to-end tests of spike-keeper: the real
// binary under a real SPIRE server and agent, called by Nexus, Bootstrap
// and a workload, each its own process with its own SPIFFE ID.
package keeper
