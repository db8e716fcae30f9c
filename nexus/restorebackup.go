package nexus

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/projections"
)

// RestoreBackup (spike-nexus restore-backup) installs a backup file, as
// spike operator backup writes it, as the event log of an empty data
// directory, offline. The file's copy is verified against the checkpoint
// its header names: every event, tree hash and checkpoint up to it, and
// that the copy ends there. Nexus, started on the directory, recovers
// the root key from the keepers as usual and rebuilds its projections
// from the log.
//
// Trust: the checkpoint is verified with --key when given (a verifier
// key the operator got from a trusted place, such as spike audit
// checkpoint of the running Nexus), else with the key the file names,
// which proves only that the file is whole. Either way the copy must
// record as its own the key it was verified with, and Nexus, when it
// unseals, proves that recorded key against the root key (the signing
// key is derived from it and kept sealed under it): a copy that another
// key signed never unseals.

// RestoreBackupConfig configures a restore.
type RestoreBackupConfig struct {
	// From is the backup file.
	From string
	// DataDir is the data directory to restore into; it must hold no
	// log (an empty one, as a Nexus that never unsealed leaves, is
	// replaced) and no cluster state.
	DataDir string
	// Key, if set, is the trusted verifier key the file must verify
	// with; else the file's own is used.
	Key string
}

// RestoreBackupResult is what a restore installed.
type RestoreBackupResult struct {
	Header api.BackupHeader
	SHA256 [sha256.Size]byte
	// Pinned is set when the copy was verified with the key given.
	Pinned bool
	// Removed lists the stale files removed: an empty log, and a
	// projection, which describes another log than the one installed.
	Removed []string
}

// RestoreBackup installs cfg.From into cfg.DataDir. On any failure the
// data directory is as it was.
func RestoreBackup(ctx context.Context, cfg RestoreBackupConfig, logger *slog.Logger) (RestoreBackupResult, error) {
	if cfg.Key != "" {
		if _, err := note.NewVerifier(cfg.Key); err != nil {
			return RestoreBackupResult{}, fmt.Errorf("restore-backup: --key: not a note verifier key: %w", err)
		}
	}
	f, err := openBackupFile(cfg.From)
	if err != nil {
		return RestoreBackupResult{}, err
	}
	defer f.Close()
	path := filepath.Join(cfg.DataDir, "events.db")
	emptyLog, err := checkRestoreDir(ctx, cfg.DataDir, path, logger)
	if err != nil {
		return RestoreBackupResult{}, err
	}
	br, err := api.NewBackupReader(f)
	if err != nil {
		return RestoreBackupResult{}, fmt.Errorf("restore-backup: %s: %w", cfg.From, err)
	}
	h := br.Header()
	res := RestoreBackupResult{Header: h, Pinned: cfg.Key != ""}
	vkey := h.VerifierKey
	if cfg.Key != "" {
		if cfg.Key != h.VerifierKey {
			return res, fmt.Errorf("restore-backup: %s names verifier key %s, not the one --key gives: it is not a backup of that log", cfg.From, h.VerifierKey)
		}
		vkey = cfg.Key
	}
	// An empty log steps aside for the install, and comes back if it
	// fails: the directory is then as it was.
	aside, err := moveAside(emptyLog)
	if err != nil {
		return res, err
	}
	want := eventlog.BackupInfo{Size: h.Events, Checkpoint: []byte(h.Checkpoint), Bytes: h.Bytes}
	if _, err := eventlog.InstallBackup(ctx, br, path, vkey, want); err != nil {
		aside.restore()
		return res, fmt.Errorf("restore-backup: %s: %w", cfg.From, err)
	}
	res.Removed = append(res.Removed, aside.remove()...)
	res.SHA256, _ = br.SHA256()
	// The projection, if any, was built from another log: Nexus would
	// find it does not match and rebuild anyway, but one that matched a
	// prefix by chance must not survive either.
	for _, p := range projections.Files(filepath.Join(cfg.DataDir, "projections.db")) {
		if err := os.Remove(p); err == nil {
			res.Removed = append(res.Removed, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("restore-backup: installed, but the stale projection stays: %w; remove it before starting Nexus", err)
		}
	}
	logger.Info("backup restored", "from", cfg.From, "data_dir", cfg.DataDir, "events", h.Events, "bytes", h.Bytes, "pinned_key", res.Pinned)
	return res, nil
}

// openBackupFile opens a regular file.
func openBackupFile(name string) (*os.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("restore-backup: --from: %w", err)
	}
	if fi, err := f.Stat(); err != nil {
		f.Close()
		return nil, fmt.Errorf("restore-backup: --from: %w", err)
	} else if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("restore-backup: --from %s: not a file", name)
	}
	return f, nil
}

// checkRestoreDir refuses a data directory that holds a log with events
// (or one a root key has unlocked) or a cluster's state. It returns the
// files of an empty log, to be replaced.
func checkRestoreDir(ctx context.Context, dir, path string, logger *slog.Logger) ([]string, error) {
	if _, err := os.Stat(filepath.Join(dir, "raft")); err == nil {
		return nil, fmt.Errorf("restore-backup: %s holds a cluster replica's Raft state: a restored cluster starts a new Raft history, so restore the same backup into a new, empty data directory for every replica, then start them all", dir)
	}
	journal := path + ".journal"
	_, errLog := os.Stat(path)
	_, errJournal := os.Stat(journal)
	switch {
	case errors.Is(errLog, os.ErrNotExist) && errors.Is(errJournal, os.ErrNotExist):
		return nil, nil
	case errors.Is(errLog, os.ErrNotExist):
		return nil, fmt.Errorf("restore-backup: %s exists without its log: a restore needs a data directory without a log", journal)
	case errLog != nil:
		return nil, fmt.Errorf("restore-backup: %w", errLog)
	}
	log, err := eventlog.Open(ctx, path, eventlog.Options{Logger: logger, LockTimeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("restore-backup: %w", err)
	}
	n := log.Size()
	used, err := log.Initialized(ctx)
	if cerr := log.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("restore-backup: %w", err)
	}
	if n > 0 || used {
		return nil, fmt.Errorf("restore-backup: %s already holds a log (%d events): a restore never replaces one; give a new --data-dir, or move the directory away", path, n)
	}
	return []string{path, journal}, nil
}

// asideFiles are files moved out of the way, by their original names.
type asideFiles map[string]string

// moveAside renames each existing file of names to a name beside it.
func moveAside(names []string) (asideFiles, error) {
	a := asideFiles{}
	for _, p := range names {
		to := p + ".replaced"
		if err := os.Rename(p, to); errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			a.restore()
			return nil, fmt.Errorf("restore-backup: move the empty log aside: %w", err)
		}
		a[p] = to
	}
	return a, nil
}

// restore moves the files back.
func (a asideFiles) restore() {
	for p, to := range a {
		os.Rename(to, p)
	}
}

// remove deletes the files moved aside and returns their original names.
func (a asideFiles) remove() []string {
	var gone []string
	for p, to := range a {
		if os.Remove(to) == nil {
			gone = append(gone, p)
		}
	}
	return gone
}
