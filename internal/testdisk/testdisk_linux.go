//go:build linux

package testdisk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Small mounts a tmpfs of size bytes on a new test directory and
// returns the directory.
func Small(t testing.TB, size int) string {
	t.Helper()
	dir := t.TempDir()
	Mount(t, dir, "tmpfs", size)
	return dir
}

// Mount mounts a filesystem of size bytes on dir, mode 0700: fs is
// "tmpfs", or "ext4" in an image file on a loop device (no blocks
// reserved for root, who runs the test). It skips where that cannot be
// done. The unmount is registered now, so it runs after the cleanups of
// anything the test opens inside later, and before the removal of a
// TempDir made earlier.
func Mount(t testing.TB, dir, fs string, size int) {
	t.Helper()
	var err error
	switch fs {
	case "tmpfs":
		err = syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size))
	case "ext4":
		err = mountImage(t, dir, size)
	default:
		t.Fatalf("testdisk: filesystem %q: want tmpfs or ext4", fs)
	}
	if err != nil {
		t.Skipf("skipped: cannot mount a small %s here (%v); the disk-full tests need root and a kernel that allows mounts", fs, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// mountImage makes an ext4 image of size bytes and mounts it on dir
// through a loop device, which the kernel frees at the unmount.
func mountImage(t testing.TB, dir string, size int) error {
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		return err
	}
	if err := os.Truncate(img, int64(size)); err != nil {
		return err
	}
	for _, c := range [][]string{{"mkfs.ext4", "-q", "-F", "-m", "0", img}, {"mount", "-o", "loop", img, dir}} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", c[0], err, bytes.TrimSpace(out))
		}
	}
	return os.Chmod(dir, 0o700)
}

// Fill writes a file in dir until the filesystem has not one byte of
// room left, and returns its path: removing it frees the space.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Large writes while they fit, then ever smaller ones for the last
	// blocks.
	chunk := make([]byte, 1<<20)
	for n := len(chunk); n > 0; {
		if _, err := f.Write(chunk[:n]); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			n /= 2
		}
	}
	return path
}

// Usage says how full the filesystem at dir is, for test logs.
func Usage(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err.Error()
	}
	total, free := st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
	return fmt.Sprintf("%d of %d KiB free", free>>10, total>>10)
}
