package pilot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// readAtMost reads all of r, which may hold at most limit bytes: more,
// or a failure to read (a directory given for a file), is a usage error.
// what names the input in errors ("the policy file
// p.yaml"); the errors never quote what was read, nor, since what already
// says where it came from, the path an *fs.PathError carries (for a
// value read from KEY=@FILE, the path may be a value itself).
func readAtMost(r io.Reader, limit int64, what string) ([]byte, error) {
	if r == nil {
		return nil, usagef("%s: there is none to read", what)
	}
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		clear(b)
		return nil, usagef("cannot read %s: %v", what, pathless(err))
	}
	if int64(len(b)) > limit {
		clear(b)
		return nil, usagef("%s is larger than %s, the most it can be", what, sizeText(limit))
	}
	return b, nil
}

// sizeText is a size as people read it: "4 MiB (4194304 bytes)".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB (%d bytes)", n>>20, n)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB (%d bytes)", n>>10, n)
	}
	return fmt.Sprintf("%d bytes", n)
}

// pathless is err without the path an *fs.PathError names.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
