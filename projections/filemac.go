package projections

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spikeledger/spike/internal/seal"
)

// A cleanly closed projection file is sealed with an HMAC of its bytes
// under a key derived from the projection key, kept beside it in
// "<file>.mac". At the next open the file is trusted only if the MAC
// matches: SQLite's own checks see broken page structure, not a changed
// byte inside a row, and a projection must rebuild rather than serve a
// wrong answer. After an unclean stop there is no MAC; the structural
// check and the (seq, leaf) check against the log still apply.

const labelFileMAC seal.Label = "spike/projections/file-mac/v1"

func macPath(path string) string { return path + ".mac" }

// Files lists the files a projection at path consists of: the SQLite
// database, its write-ahead log and shared memory, a rollback journal,
// and the MAC written at close. Whoever removes a projection (so that
// Nexus rebuilds it) removes all of them.
func Files(path string) []string {
	return []string{path, path + "-wal", path + "-shm", path + "-journal", macPath(path)}
}

// fileMAC returns the HMAC-SHA256 of the file at path.
func fileMAC(key []byte, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := hmac.New(sha256.New, key)
	if _, err := io.Copy(m, f); err != nil {
		return nil, err
	}
	return m.Sum(nil), nil
}

// checkFileMAC reports why the file at path cannot be trusted, "" if it
// can (or if there is no MAC to check), and consumes the MAC: the file is
// about to change.
func checkFileMAC(key []byte, path string) (reason string, err error) {
	want, err := os.ReadFile(macPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("projection: read %s: %w", macPath(path), err)
	}
	if err := os.Remove(macPath(path)); err != nil {
		return "", fmt.Errorf("projection: %w", err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return "the file was written after it was closed (non-empty WAL)", nil
	}
	got, err := fileMAC(key, path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("projection: %w", err)
	}
	if !hmac.Equal(got, want) {
		return "the file changed since it was closed (MAC mismatch)", nil
	}
	return "", nil
}

// writeFileMAC seals the closed file at path.
func writeFileMAC(key []byte, path string) error {
	sum, err := fileMAC(key, path)
	if err != nil {
		return fmt.Errorf("projection: seal file: %w", err)
	}
	tmp := macPath(path) + ".tmp"
	if err := os.WriteFile(tmp, sum, 0o600); err != nil {
		return fmt.Errorf("projection: seal file: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, macPath(path)); err != nil {
		return fmt.Errorf("projection: seal file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}
