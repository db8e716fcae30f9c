//go:build !linux

package eventlog

import bolt "go.etcd.io/bbolt"

// releaseMapped is a no-op where MADV_DONTNEED semantics are not those of
// Linux.
func releaseMapped(db *bolt.DB) {}
