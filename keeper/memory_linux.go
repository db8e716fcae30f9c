package keeper

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// excludeFromCoreDump keeps b out of core dumps.
func excludeFromCoreDump(b []byte) error {
	if err := unix.Madvise(b, unix.MADV_DONTDUMP); err != nil {
		return fmt.Errorf("madvise(MADV_DONTDUMP): %w", err)
	}
	return nil
}
