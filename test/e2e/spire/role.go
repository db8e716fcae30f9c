//go:build linux

package spire

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// RoleBinary makes dir/name a hardlink of the running executable (a copy
// where a hardlink is not possible) and returns its absolute path. Each
// such path gets its own identity through a "unix:path:" selector, which
// is how one test binary runs several roles: re-exec the path with an
// environment variable that TestMain dispatches on. Symlinks would not
// work: the agent sees the target's path.
func RoleBinary(t testing.TB, dir, name string) string {
	t.Helper()
	path, err := roleBinary(dir, name)
	if err != nil {
		t.Fatalf("role binary %s: %v", name, err)
	}
	return path
}

// roleBinary does the work of RoleBinary.
func roleBinary(dir, name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find executable: %w", err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", fmt.Errorf("resolve executable: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", fmt.Errorf("role dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("role dir: %w", err)
	}
	dst := filepath.Join(dir, name)
	linkErr := os.Link(exe, dst)
	switch {
	case linkErr == nil:
		return dst, nil
	case errors.Is(linkErr, os.ErrExist):
		return "", fmt.Errorf("link: %w", linkErr)
	}
	if err := copyFile(exe, dst); err != nil {
		return "", fmt.Errorf("copy after failed link (%v): %w", linkErr, err)
	}
	return dst, nil
}

// copyFile copies an executable to a new file.
func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}
