//go:build linux

// Package faults holds end-to-end tests of how Nexus gets its root key
// back when keepers misbehave, and of the system under restarts and SVID
// rotation, with the real binaries under a real SPIRE (test/e2e/system).
//
// The keeper fault table restarts Nexus with keepers that are down
// (stopped), slow (behind a TCP proxy that holds their answers past
// Nexus's keeper client timeout, TLS passing through untouched) or lying
// (holding a valid-looking shard of another key, contributed under the
// bootstrap identity), for 3/2 and 5/3, and checks that Nexus ends ready
// or sealed exactly as designed, never with a wrong root key. The
// restart tests start a fresh system in every order of keepers, Nexus
// and bootstrap, and restart a bootstrapped one in several orders. The
// rotation test keeps SDK clients busy against Nexus while SPIRE rotates
// every SVID several times.
//
// Every test needs SPIRE and the built binaries, and skips under -short,
// except the proxy's own test.
package faults
