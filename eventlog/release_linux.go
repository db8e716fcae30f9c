package eventlog

import (
	"syscall"

	bolt "go.etcd.io/bbolt"
)

// releaseMapped drops the process's mappings of the log file's pages
// (MADV_DONTNEED on bbolt's read-only shared mapping). The pages stay in
// the kernel's page cache, and the next read simply maps them again, but
// they no longer count as this process's resident memory: without this,
// resident size grows with the file, because bbolt reads every page it
// ever touches through its mmap. It runs inside a read transaction, which
// holds bbolt's mmap lock, so the mapping cannot move underneath it, and
// covers only pages below the high-water mark, which are always mapped.
func releaseMapped(db *bolt.DB) {
	db.View(func(tx *bolt.Tx) error {
		syscall.Syscall(syscall.SYS_MADVISE, db.Info().Data, uintptr(tx.Size()), syscall.MADV_DONTNEED)
		return nil
	})
}
