package securefile

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteFile(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// before prepares dir and returns the path to write.
		before func(t *testing.T, dir string) string
		perm   fs.FileMode
	}{
		{name: "new file", perm: 0o600, before: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "new")
		}},
		{name: "other mode", perm: 0o640, before: func(t *testing.T, dir string) string {
			return filepath.Join(dir, "new")
		}},
		// A file that was world-readable comes back private: the mode is
		// the one asked for, not the old file's.
		{name: "replaces a readable file", perm: 0o600, before: func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "old")
			if err := os.WriteFile(path, []byte("a much longer old content"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o644); err != nil {
				t.Fatal(err)
			}
			return path
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := tc.before(t, dir)
			if err := WriteFile(path, []byte("secret"), tc.perm); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "secret" {
				t.Fatalf("content %q, %v", b, err)
			}
			fi, err := os.Stat(path)
			if err != nil || fi.Mode().Perm() != tc.perm {
				t.Fatalf("mode %v, %v; want %v", fi.Mode(), err, tc.perm)
			}
			onlyFiles(t, dir, filepath.Base(path))
		})
	}
}

// A link at the path is replaced by the file: what it pointed to is
// untouched.
func TestWriteFileReplacesLinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep" {
		t.Errorf("link target now %q, %v", b, err)
	}
	fi, err := os.Lstat(link)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
		t.Errorf("link is now %v, %v; want a regular 0600 file", fi.Mode(), err)
	}
	onlyFiles(t, dir, "link", "target")
}

// A write that fails leaves the old file whole and no temporary file.
func TestWriteFileFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// A directory in the way: the rename fails after the data was
	// written to the temporary file.
	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(busy, "child"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(busy, []byte("secret"), 0o600); err == nil {
		t.Fatal("wrote over a directory")
	}
	onlyFiles(t, dir, "busy")
	if err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("secret"), 0o600); err == nil {
		t.Fatal("wrote into a missing directory")
	}
	onlyFiles(t, dir, "busy")
}

// Only a regular file, or a link to one, is replaced: not a device that a
// link such as /dev/stdout names.
func TestWriteFileRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	link := filepath.Join(dir, "stdout")
	if err := os.Symlink(os.DevNull, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("secret"), 0o600); err == nil {
		t.Fatal("replaced a link to a device")
	}
	if err := WriteFile(os.DevNull, []byte("secret"), 0o600); err == nil {
		t.Fatal("replaced a device")
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("link is now %v, %v", fi.Mode(), err)
	}
	onlyFiles(t, dir, "stdout")
	// A dangling link is replaced like any other.
	dangling := filepath.Join(dir, "dangling")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), dangling); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(dangling, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	onlyFiles(t, dir, "dangling", "stdout")
}

// onlyFiles fails unless dir holds exactly names: no temporary file is
// left behind.
func onlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := slices.Sorted(slices.Values(names)); !slices.Equal(got, want) {
		t.Errorf("directory holds %v, want %v", got, want)
	}
}
