//go:build linux

package system

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// ModuleRoot returns the directory of the go.mod of the module under test.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("cannot find the module root with go env GOMOD: %q, %v", gomod, err)
	}
	return filepath.Dir(gomod), nil
}

// Build compiles the module's commands, ./cmd/<name> for each name, in
// parallel into dir and returns their paths in the order of names.
func Build(ctx context.Context, dir string, names ...string) ([]string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		paths[i] = filepath.Join(dir, name)
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, "go", "build", "-o", paths[i], "./cmd/"+name)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("go build ./cmd/%s (in %s): %v\n%s", name, root, err, out)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return paths, nil
}

// Link makes dst a hard link of src, or a copy where a link is not
// possible. Each path is its own SPIFFE identity; a symlink would not be
// one (the agent sees the target's path).
func Link(src, dst string) (err error) {
	linkErr := os.Link(src, dst)
	if linkErr == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return errors.Join(linkErr, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return errors.Join(linkErr, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = io.Copy(out, in)
	return err
}

// testBinary returns the resolved path of the running test binary, the
// source of the links it re-executes itself through.
func testBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the test executable: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", fmt.Errorf("resolve the test executable: %w", err)
	}
	return self, nil
}
