package eventlog

import (
	"os"
	"syscall"
)

// fdatasync makes f's data durable without its timestamps: the journal is
// preallocated, so no block allocation or size change is left to record.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
