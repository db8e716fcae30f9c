package seal

import (
	"errors"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// LockedKey is a KeySize-byte key in its own page of memory, locked
// against swap where the OS allows (a failure to lock is reported by
// NewLockedKey's second result, not an error: a warning for the caller),
// and zeroed and unmapped by Destroy. The garbage collector never moves
// or copies it.
type LockedKey struct {
	mu     sync.RWMutex
	mem    []byte // the mapped page, nil once destroyed
	locked bool
}

// NewLockedKey maps a page for a key. lockErr reports why the page could
// not be locked (RLIMIT_MEMLOCK, say); the key is usable either way.
func NewLockedKey() (k *LockedKey, lockErr error, err error) {
	mem, err := unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, nil, fmt.Errorf("seal: map key page: %w", err)
	}
	k = &LockedKey{mem: mem}
	if lockErr = unix.Mlock(mem); lockErr == nil {
		k.locked = true
	} else {
		lockErr = fmt.Errorf("seal: lock key page in memory: %w", lockErr)
	}
	// Keep the page out of core dumps too, where supported.
	unix.Madvise(mem, unix.MADV_DONTDUMP)
	return k, lockErr, nil
}

// ErrDestroyed is returned by a destroyed LockedKey.
var ErrDestroyed = errors.New("seal: key destroyed")

// Set copies key in (and the caller should zero its copy).
func (k *LockedKey) Set(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("seal: key is %d bytes, want %d", len(key), KeySize)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mem == nil {
		return ErrDestroyed
	}
	copy(k.mem[:KeySize], key)
	return nil
}

// Use calls f with the key. f must not retain the slice.
func (k *LockedKey) Use(f func(key []byte) error) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.mem == nil {
		return ErrDestroyed
	}
	return f(k.mem[:KeySize])
}

// Locked reports whether the page is locked against swap.
func (k *LockedKey) Locked() bool { return k.locked }

// Destroy zeroes, unlocks and unmaps the page.
func (k *LockedKey) Destroy() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.mem == nil {
		return
	}
	Zero(k.mem)
	if k.locked {
		unix.Munlock(k.mem)
	}
	unix.Munmap(k.mem)
	k.mem = nil
}
