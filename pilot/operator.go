package pilot

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/internal/transport"
)

type recoverCmd struct {
	RecoveryDir string `name:"recovery-dir" env:"SPIKE_PILOT_RECOVERY_DIR" type:"path" help:"Where to write the recovery files (default ~/.spike/recover)."`
}

// Run asks Nexus for every shard and writes one file per shard,
// spike.recovery.<id>.txt, mode 0600, after removing older ones.
func (r *recoverCmd) Run(e *env) error {
	var resp api.RecoverResponse
	if err := e.client.Do(e.ctx, transport.Call{BaseURL: e.nexus, Path: api.PathOperatorRecover, Request: api.RecoverRequest{}, Response: &resp}); err != nil {
		return explain(err)
	}
	if len(resp.Shards) == 0 {
		return errors.New("Nexus returned no shards")
	}
	dir := r.RecoveryDir
	if dir == "" {
		var err error
		if dir, err = defaultRecoveryDir(); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("recovery directory: %w", err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "spike.recovery*.txt"))
	ids := make([]int, 0, len(resp.Shards))
	for id := range resp.Shards {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	// Write every new file beside the old ones first, then move them into
	// place, then drop old ones not replaced: a failure part-way leaves the
	// previous set whole.
	staged := map[string]string{}
	defer func() {
		for tmp := range staged {
			os.Remove(tmp)
		}
	}()
	for _, id := range ids {
		s := resp.Shards[id]
		if s == nil || s.IsZero() {
			return fmt.Errorf("Nexus returned an empty shard %d", id)
		}
		text := []byte(shamir.FormatRecovery(shamir.Share{ID: id, Value: *s}))
		s.Wipe()
		path := filepath.Join(dir, fmt.Sprintf("spike.recovery.%d.txt", id))
		tmp := path + ".new"
		err := writeExclusive(tmp, text)
		clear(text)
		if err != nil {
			return fmt.Errorf("write %s: %w", tmp, err)
		}
		staged[tmp] = path
	}
	for tmp, path := range staged {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("move %s into place: %w", path, err)
		}
		delete(staged, tmp)
	}
	written := map[string]bool{}
	for _, id := range ids {
		written[filepath.Join(dir, fmt.Sprintf("spike.recovery.%d.txt", id))] = true
	}
	for _, f := range old {
		if !written[f] {
			os.Remove(f)
		}
	}
	fmt.Fprintf(e.out, "%d recovery shards written to %s (mode 0600). Keep them apart and offline: enough of them rebuild the root key.\n",
		len(ids), dir)
	return nil
}

// writeExclusive creates path (which must not exist, and is never
// followed if it is a link) with mode 0600, writes data and syncs.
func writeExclusive(path string, data []byte) error {
	os.Remove(path) // a stale leftover of an interrupted run
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type restoreCmd struct {
	Files []string `arg:"" optional:"" type:"existingfile" help:"Recovery files; without any, one shard is read from standard input."`
}

// Run sends each shard to Nexus and reports how many remain.
func (r *restoreCmd) Run(e *env) error {
	if len(r.Files) == 0 {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.in), shamir.MaxRecoveryFile+1))
		if err != nil {
			return fmt.Errorf("read shard: %w", err)
		}
		_, err = restoreOne(e, string(b))
		return err
	}
	for _, f := range r.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		done, err := restoreOne(e, string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if done {
			return nil // restored: the remaining files are not needed
		}
	}
	return nil
}

// restoreOne sends one shard and reports whether Nexus is now restored.
func restoreOne(e *env, text string) (bool, error) {
	s, err := shamir.ParseRecovery(text)
	if err != nil {
		return false, err
	}
	defer s.Zero()
	shard := api.Shard(s.Value)
	defer shard.Wipe()
	var resp api.RestoreResponse
	err = e.client.Do(e.ctx, transport.Call{BaseURL: e.nexus, Path: api.PathOperatorRestore, Request: api.RestoreRequest{ID: s.ID, Shard: &shard}, Response: &resp})
	if err != nil {
		return false, explain(err)
	}
	if resp.Restored {
		fmt.Fprintln(e.out, "SPIKE is now restored and ready to use.")
		return true, nil
	}
	fmt.Fprintf(e.out, "Shards collected: %d\nShards remaining: %d\n", resp.Collected, resp.Remaining)
	return false, nil
}

// explain turns an API failure into words an operator can act on.
func explain(err error) error {
	var se *transport.StatusError
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case api.CodeUnauthorized:
		return fmt.Errorf("Nexus refused this identity (%s): recover needs spike/pilot/role/recover, restore spike/pilot/role/restore", se.Code)
	case api.CodeConflict:
		return errors.New("Nexus is already unsealed: nothing to restore")
	case api.CodeNotReady:
		return errors.New("Nexus is sealed: it has no root key to give (restore it first)")
	case api.CodeBadRequest:
		return errors.New("Nexus refused the request: see its log (a shard that matches no recorded commitment, or shards that rebuild a key that does not open the log, are refused)")
	}
	return fmt.Errorf("%w", err)
}
