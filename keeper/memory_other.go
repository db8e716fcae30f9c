//go:build !unix

package keeper

import "errors"

// lockedPage is, on systems without mmap and mlock, ordinary memory.
type lockedPage struct {
	b      []byte
	locked bool
}

// newLockedPage allocates the shard buffer on the heap and says, in
// warn, that it is not locked.
func newLockedPage() (p *lockedPage, warn, err error) {
	return &lockedPage{b: make([]byte, 4096)}, errors.New("memory locking is not supported on this system"), nil
}

// free zeroes the buffer.
func (p *lockedPage) free() error {
	clear(p.b)
	p.b = nil
	return nil
}
