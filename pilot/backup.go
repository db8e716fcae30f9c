package pilot

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spikeledger/spike/sdk"
)

// operatorBackupCmd is spike operator backup: a hot copy of the log.
type operatorBackupCmd struct {
	Out   string `name:"out" short:"o" required:"" placeholder:"FILE" help:"The backup file to write (mode 0600). It must not exist, unless --force."`
	Force bool   `name:"force" help:"Replace FILE if it exists (only once the new backup has arrived whole)."`
}

// Help is the long help: what the file holds and how it comes back.
func (c *operatorBackupCmd) Help() string {
	return `Superuser only; every backup is recorded in the log (system.backed_up). ` +
		`Nexus copies its event log in one read transaction while it goes on serving, and the copy ends exactly at a signed checkpoint: ` +
		`every event acknowledged before the command began is in it. The file is written beside FILE and moved into place only once it arrived whole and its SHA-256 matched. ` +
		`It holds every value, sealed under keys derived from the root key: keep it apart from the recovery files. ` +
		`Restore it offline with spike-nexus restore-backup --from FILE (see docs/backup.md).`
}

// backupDoc is the JSON document of spike operator backup.
type backupDoc struct {
	File         string    `json:"file"`
	Events       uint64    `json:"events"`
	Checkpoint   string    `json:"checkpoint"`
	Bytes        int64     `json:"bytes"`
	FileBytes    int64     `json:"fileBytes"`
	SHA256       string    `json:"sha256"`
	VerifierKey  string    `json:"verifierKey"`
	Created      time.Time `json:"created"`
	NexusVersion string    `json:"nexusVersion"`
}

func (c *operatorBackupCmd) Run(e *env) error {
	if c.Out == "-" {
		return usagef("--out -: a backup goes to a file, checked before it is kept; name one")
	}
	dir := filepath.Dir(c.Out)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usagef("--out %s: no directory %s to write it in", c.Out, dir)
	}
	if fi, err := os.Lstat(c.Out); err == nil {
		if !c.Force {
			return usagef("--out %s exists: give --force to replace it", c.Out)
		}
		if !fi.Mode().IsRegular() {
			return usagef("--out %s is not a regular file: not replaced", c.Out)
		}
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	var res *sdk.BackupResult
	err = writeFile(c.Out, c.Force, func(w io.Writer) error {
		var err error
		res, err = client.Backup(e.ctx, w)
		return err
	})
	if err != nil {
		return err
	}
	doc := backupDoc{File: c.Out, Events: res.Events, Checkpoint: res.Checkpoint, Bytes: res.CopyBytes, FileBytes: res.FileBytes,
		SHA256: hex.EncodeToString(res.SHA256[:]), VerifierKey: res.VerifierKey, Created: res.Created, NexusVersion: res.NexusVersion}
	return e.print(doc, func(w io.Writer) error {
		origin, _, _ := strings.Cut(doc.Checkpoint, "\n")
		_, err := fmt.Fprintf(w, "Backed up %d event%s to %s (%s of log, %s file).\nCheckpoint: %s at %d events.\nSHA-256:    %s\nVerifier key (as the log records it): %s\n",
			doc.Events, plural(int(doc.Events)), doc.File, humanBytes(doc.Bytes), humanBytes(doc.FileBytes), origin, doc.Events, doc.SHA256, doc.VerifierKey)
		return err
	})
}
