//go:build unix

package keeper

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// lockedPage is one page of anonymous memory outside the Go heap, where
// neither the garbage collector nor append can leave copies of what it
// holds.
type lockedPage struct {
	b      []byte
	locked bool
}

// newLockedPage maps a page and locks it against swap. When the page
// cannot be locked (RLIMIT_MEMLOCK, no privilege) it is still returned,
// with the reason in warn; err is set only when nothing could be mapped.
func newLockedPage() (p *lockedPage, warn, err error) {
	b, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("keeper: map shard memory: %w", err)
	}
	p = &lockedPage{b: b}
	if err := unix.Mlock(b); err != nil {
		warn = fmt.Errorf("mlock: %w", err)
	} else {
		p.locked = true
	}
	if err := excludeFromCoreDump(b); err != nil && warn == nil {
		warn = err
	}
	return p, warn, nil
}

// free zeroes the page, unlocks and unmaps it. The page must not be used
// afterwards.
func (p *lockedPage) free() error {
	clear(p.b)
	if p.locked {
		// Unmapping unlocks too; this only makes the order explicit.
		_ = unix.Munlock(p.b)
	}
	if err := unix.Munmap(p.b); err != nil {
		return fmt.Errorf("keeper: unmap shard memory: %w", err)
	}
	p.b = nil
	return nil
}
