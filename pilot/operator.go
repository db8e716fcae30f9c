package pilot

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/shamir"
)

type recoverCmd struct {
	RecoveryDir string `name:"recovery-dir" env:"SPIKE_PILOT_RECOVERY_DIR" type:"path" help:"Where to write the recovery files (default ~/.spike/recover)."`
}

// Run asks Nexus for every shard and writes one file per shard,
// spike.recovery.<id>.txt, mode 0600, replacing an older set: files of
// that set that the new one does not replace are removed, any other file
// in the directory is left alone.
func (r *recoverCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	shards, err := client.Recover(e.ctx)
	defer func() {
		for _, s := range shards {
			if s != nil {
				s.Wipe()
			}
		}
	}()
	if err != nil {
		return err
	}
	if len(shards) == 0 {
		return errors.New("Nexus returned no shards")
	}
	dir := r.RecoveryDir
	if dir == "" {
		if dir, err = defaultRecoveryDir(); err != nil {
			return err
		}
	}
	shares := make([]shamir.Share, 0, len(shards))
	defer func() {
		for i := range shares {
			shares[i].Zero()
		}
	}()
	for id, s := range shards {
		if s == nil || s.IsZero() {
			return fmt.Errorf("Nexus returned an empty shard %d", id)
		}
		shares = append(shares, shamir.Share{ID: id, Value: *s})
	}
	files, err := shamir.WriteRecoveryDir(dir, shares)
	if err != nil {
		return err
	}
	doc := recoveredDoc{Directory: dir, Files: files}
	return e.print(doc, okLine(fmt.Sprintf("%d recovery shards written to %s (mode 0600). Keep them apart and offline: enough of them rebuild the root key.",
		len(files), dir)))
}

// recoveredDoc is the JSON document of `spike operator recover`: where
// the recovery files are (never what they hold).
type recoveredDoc struct {
	Directory string   `json:"directory"`
	Files     []string `json:"files"`
}

type operatorRestoreCmd struct {
	Files []string `arg:"" optional:"" type:"existingfile" help:"Recovery files, - for standard input (one shard); without any, one shard is read from standard input."`
}

// Run reads every shard first (a file that is missing or not a recovery
// file is a usage error, and nothing is sent), then sends each to Nexus
// and reports how many remain: after each shard in human form, once at
// the end as a document.
func (r *operatorRestoreCmd) Run(e *env) error {
	files := r.Files
	if len(files) == 0 {
		files = []string{"-"}
	}
	if stdin := slices.Index(files, "-"); stdin >= 0 && slices.Contains(files[stdin+1:], "-") {
		return usagef("standard input holds one shard: give - once")
	}
	shards := make([]namedShard, 0, len(files))
	defer func() {
		for i := range shards {
			shards[i].share.Zero()
		}
	}()
	for _, f := range files {
		s, err := readShard(e, f)
		if err != nil {
			return err
		}
		shards = append(shards, s)
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	var last restoreDoc
	for _, s := range shards {
		p, err := client.RestoreShard(e.ctx, s.share.ID, (*api.Shard)(&s.share.Value))
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		last = restoreDoc{Collected: p.Collected, Remaining: p.Remaining, Restored: p.Restored}
		if e.format == formatHuman {
			if err := e.print(last, last.human); err != nil {
				return err
			}
		}
		if last.Restored {
			break // restored: the remaining shards are not needed
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

// namedShard is a shard and where it came from, for messages.
type namedShard struct {
	name  string
	share shamir.Share
}

// readShard reads the shard in the recovery file name ("-": standard
// input). A file that cannot be read, or holds no shard, is a usage
// error naming it.
func readShard(e *env, name string) (namedShard, error) {
	var s shamir.Share
	var err error
	if name == "-" {
		if e.in == nil {
			return namedShard{}, usagef("no standard input to read a shard from")
		}
		name = "standard input"
		s, err = shamir.ReadRecovery(e.in)
	} else {
		s, err = shamir.ReadRecoveryFile(name)
	}
	if err != nil {
		s.Zero()
		return namedShard{}, usagef("%s: %v", name, err)
	}
	return namedShard{name: name, share: s}, nil
}
