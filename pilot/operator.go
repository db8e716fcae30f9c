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
	"github.com/spikeledger/spike/sdk"
)

type recoverCmd struct {
	RecoveryDir string `name:"recovery-dir" env:"SPIKE_PILOT_RECOVERY_DIR" type:"path" help:"Where to write the recovery files (default ~/.spike/recover)."`
}

// Run asks Nexus for every shard and writes one file per shard,
// spike.recovery.<id>.txt, mode 0600, after removing older ones.
func (r *recoverCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	shards, err := client.Recover(e.ctx)
	if err != nil {
		return err
	}
	defer func() {
		for _, s := range shards {
			if s != nil {
				s.Wipe()
			}
		}
	}()
	if len(shards) == 0 {
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
	ids := make([]int, 0, len(shards))
	for id := range shards {
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
		s := shards[id]
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
	doc := recoveredDoc{Directory: dir, Files: []string{}}
	written := map[string]bool{}
	for _, id := range ids {
		f := filepath.Join(dir, fmt.Sprintf("spike.recovery.%d.txt", id))
		written[f] = true
		doc.Files = append(doc.Files, f)
	}
	for _, f := range old {
		if !written[f] {
			os.Remove(f)
		}
	}
	return e.print(doc, okLine(fmt.Sprintf("%d recovery shards written to %s (mode 0600). Keep them apart and offline: enough of them rebuild the root key.",
		len(ids), dir)))
}

// recoveredDoc is the JSON document of `spike operator recover`: where
// the recovery files are (never what they hold).
type recoveredDoc struct {
	Directory string   `json:"directory"`
	Files     []string `json:"files"`
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

type operatorRestoreCmd struct {
	Files []string `arg:"" optional:"" type:"existingfile" help:"Recovery files; without any, one shard is read from standard input."`
}

// Run sends each shard to Nexus and reports how many remain: after each
// shard in human form, once at the end as a document.
func (r *operatorRestoreCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	var last restoreDoc
	send := func(text []byte) error {
		defer clear(text)
		p, err := restoreOne(e, client, string(text))
		if err != nil {
			return err
		}
		last = restoreDoc{Collected: p.Collected, Remaining: p.Remaining, Restored: p.Restored}
		if e.format == formatHuman {
			return e.print(last, last.human)
		}
		return nil
	}
	if len(r.Files) == 0 {
		b, err := io.ReadAll(io.LimitReader(bufio.NewReader(e.in), shamir.MaxRecoveryFile+1))
		if err != nil {
			return fmt.Errorf("read shard: %w", err)
		}
		if err := send(b); err != nil {
			return err
		}
	}
	for _, f := range r.Files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read %s: %w", f, err)
		}
		if err := send(b); err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(f), err)
		}
		if last.Restored {
			break // restored: the remaining files are not needed
		}
	}
	if e.format == formatHuman {
		return nil
	}
	return e.print(last, nil)
}

// restoreDoc is the JSON document of `spike operator restore`: where the
// restore stands after the last shard given.
type restoreDoc struct {
	Collected int  `json:"collected"`
	Remaining int  `json:"remaining"`
	Restored  bool `json:"restored"`
}

func (d restoreDoc) human(w io.Writer) error {
	if d.Restored {
		_, err := fmt.Fprintln(w, "SPIKE is now restored and ready to use.")
		return err
	}
	_, err := fmt.Fprintf(w, "Shards collected: %d\nShards remaining: %d\n", d.Collected, d.Remaining)
	return err
}

// restoreOne sends one shard and returns where the restore stands.
func restoreOne(e *env, client *sdk.Client, text string) (*sdk.RestoreProgress, error) {
	s, err := shamir.ParseRecovery(text)
	if err != nil {
		return nil, err
	}
	defer s.Zero()
	shard := api.Shard(s.Value)
	defer shard.Wipe()
	return client.RestoreShard(e.ctx, s.ID, &shard)
}
