package shamir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spikeledger/spike/internal/securefile"
)

// Recovery files are named as SPIKE names them: spike.recovery.<id>.txt.
const (
	recoveryPrefix = "spike.recovery."
	recoverySuffix = ".txt"
	// stagingPrefix names the directory a new set of recovery files is
	// written to before it is moved into place.
	stagingPrefix = ".spike.recovery.new-"
)

// RecoveryFileName is the name of the recovery file of share id.
func RecoveryFileName(id int) string {
	return recoveryPrefix + strconv.Itoa(id) + recoverySuffix
}

// recoveryFileID returns the share id a recovery file's name holds. Only
// a name exactly RecoveryFileName(id), for an id from 1 to MaxShares,
// is one: spike.recovery-old.txt or spike.recovery.01.txt, which an
// operator may keep beside the set, is not.
func recoveryFileID(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, recoveryPrefix)
	if !ok {
		return 0, false
	}
	if digits, ok = strings.CutSuffix(digits, recoverySuffix); !ok {
		return 0, false
	}
	return parseID([]byte(digits))
}

// RecoveryFiles lists the recovery files in dir, in order of share id.
// A directory that does not exist holds none.
func RecoveryFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recovery files: %w", err)
	}
	type file struct {
		id   int
		path string
	}
	var files []file
	for _, e := range entries {
		if id, ok := recoveryFileID(e.Name()); ok && !e.IsDir() {
			files = append(files, file{id, filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return a.id - b.id })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out, nil
}

// WriteRecoveryDir writes one recovery file per share into dir (made,
// 0700, if missing), each mode 0600, and removes the recovery files of
// an older set that the new one does not replace; other files are left
// alone. It returns the files' paths in order of share id.
//
// The whole set is written to a directory beside the files first and
// moved into place only once every file is on disk, so that a failure
// while writing leaves the previous set whole.
func WriteRecoveryDir(dir string, shares []Share) ([]string, error) {
	if err := checkRecoverySet(shares); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recovery directory: %w", err)
	}
	if err := removeStaging(dir); err != nil {
		return nil, err
	}
	staging, err := os.MkdirTemp(dir, stagingPrefix)
	if err != nil {
		return nil, fmt.Errorf("recovery directory: %w", err)
	}
	defer os.RemoveAll(staging)
	sorted := slices.Clone(shares)
	defer zeroAll(sorted)
	slices.SortFunc(sorted, func(a, b Share) int { return a.ID - b.ID })
	for _, s := range sorted {
		text := appendRecovery(nil, s)
		err := securefile.WriteFile(filepath.Join(staging, RecoveryFileName(s.ID)), text, 0o600)
		clear(text)
		if err != nil {
			return nil, fmt.Errorf("recovery file: %w", err)
		}
	}
	written := make([]string, len(sorted))
	for i, s := range sorted {
		written[i] = filepath.Join(dir, RecoveryFileName(s.ID))
		if err := os.Rename(filepath.Join(staging, RecoveryFileName(s.ID)), written[i]); err != nil {
			return nil, fmt.Errorf("recovery file: %w", err)
		}
	}
	if err := securefile.SyncDir(dir); err != nil {
		return nil, err
	}
	return written, removeStale(dir, written)
}

// checkRecoverySet refuses a set that would not make a directory of
// recovery files: none, an id out of range or given twice, a zero share.
func checkRecoverySet(shares []Share) error {
	if len(shares) == 0 {
		return errors.New("recovery files: no shares to write")
	}
	seen := map[int]bool{}
	for _, s := range shares {
		switch {
		case s.ID < 1 || s.ID > MaxShares:
			return fmt.Errorf("recovery files: share id %d is not from 1 to %d", s.ID, MaxShares)
		case seen[s.ID]:
			return fmt.Errorf("recovery files: share %d given twice", s.ID)
		case isZero(s.Value[:]):
			return fmt.Errorf("recovery files: share %d is empty", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}

// removeStaging removes what an interrupted WriteRecoveryDir left: a
// staging directory holds shards.
func removeStaging(dir string) error {
	left, err := filepath.Glob(filepath.Join(dir, stagingPrefix+"*"))
	if err != nil {
		return fmt.Errorf("recovery directory: %w", err)
	}
	for _, d := range left {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("recovery directory: remove an interrupted write: %w", err)
		}
	}
	return nil
}

// removeStale removes the recovery files in dir that are not in keep.
func removeStale(dir string, keep []string) error {
	files, err := RecoveryFiles(dir)
	if err != nil {
		return err
	}
	removed := false
	for _, f := range files {
		if !slices.Contains(keep, f) {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("recovery files: remove an older shard: %w", err)
			}
			removed = true
		}
	}
	if removed {
		return securefile.SyncDir(dir)
	}
	return nil
}
