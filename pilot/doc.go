// Package pilot is the spike command line: the operator's tool. This
// build carries the break-glass commands, `spike operator recover` and
// `spike operator restore`, which move the root key's shards between
// Nexus and recovery files in SPIKE's format.
//
// Every command exits non-zero when it fails (SPIKE v0.8 exits 0 on API
// errors), and says why in one line.
package pilot
