package pilot

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/securefile"
	"github.com/spikeledger/spike/sdk"
)

// exportCmd is spike export: the state at an instant as a file.
type exportCmd struct {
	Out        string `name:"out" short:"o" required:"" placeholder:"FILE" help:"The file to write (mode 0600; it must not exist). For --as json, - writes to standard output."`
	As         string `name:"as" enum:"spike-db,projection,json" default:"spike-db" help:"spike-db: SPIKE v0.8's spike.db, which a SPIKE v0.8 Nexus with the same root key serves; projection: spike's own SQLite projection; json: a JSON document, without values unless --with-values."`
	Seq        uint64 `name:"seq" help:"The state after this sequence number of the log (default: now)."`
	Time       string `name:"time" placeholder:"TIME" help:"The state at this instant instead of --seq: an RFC 3339 time, a date (midnight UTC) or a duration ago (2h, 3d)."`
	WithValues bool   `name:"with-values" help:"Put the values, in clear, in a --as json export. spike-db and projection exports always hold them, sealed."`
}

// Help is the long help: what each format holds and who can read it.
func (c *exportCmd) Help() string {
	return `Superuser only; every export is recorded in the log (system.exported) before it is built. ` +
		`A spike-db or projection export holds every value, sealed: under the root key itself (spike-db, SPIKE's format, so a SPIKE v0.8 Nexus serves it) ` +
		`or under a key derived from it (projection). Whoever holds the file and the root key (or a threshold of recovery files) reads every secret: keep it like the recovery files. ` +
		`A spike-db export leaves out destroyed versions and spike's own settings (check-and-set, custom metadata, delete-after), which SPIKE's format has no place for. ` +
		`A json export lists every path, version, key and policy; values only with --with-values, in clear.`
}

// exportedDoc is the JSON document of spike export (what was written,
// not the export itself).
type exportedDoc struct {
	File     string    `json:"file"`
	Format   string    `json:"format"`
	AsOfSeq  uint64    `json:"asOfSeq"`
	AsOfTime time.Time `json:"asOfTime"`
	Bytes    int64     `json:"bytes"`
	Secrets  int       `json:"secrets"`
	Versions int       `json:"versions"`
	Policies int       `json:"policies"`
}

func (c *exportCmd) Run(e *env) error {
	if c.Seq != 0 && c.Time != "" {
		return usagef("give at most one of --seq and --time")
	}
	if c.WithValues && c.As != api.ExportJSON {
		return usagef("--with-values is for --as json: a %s export always holds the values, sealed", c.As)
	}
	toStdout := c.Out == "-"
	if toStdout && c.As != api.ExportJSON {
		return usagef("--out -: only a json export goes to standard output; name a file for a %s export", c.As)
	}
	req := sdk.ExportRequest{Format: c.As, AsOfSeq: c.Seq, WithValues: c.WithValues}
	if c.Time != "" {
		t, err := parsePastTime("--time", c.Time, time.Now())
		if err != nil {
			return err
		}
		req.AsOfTime = t
	}
	if !toStdout {
		if err := checkNewFile(c.Out); err != nil {
			return err
		}
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	bar := newProgress(e.errOut, e.terminal(e.errOut), "export")
	progress := func(done, total int64) {
		if total > 0 {
			bar.update(uint64(done), uint64(total))
		}
	}
	var res *sdk.ExportResult
	if toStdout {
		res, err = client.Export(e.ctx, req, e.out, nil)
		return err
	}
	err = writeNewFile(c.Out, func(w io.Writer) error {
		var err error
		res, err = client.Export(e.ctx, req, w, progress)
		return err
	})
	bar.done()
	if err != nil {
		return err
	}
	doc := exportedDoc{File: c.Out, Format: c.As, AsOfSeq: res.AsOfSeq, AsOfTime: res.AsOfTime, Bytes: res.Size,
		Secrets: res.Secrets, Versions: res.Versions, Policies: res.Policies}
	return e.print(doc, func(w io.Writer) error {
		fmt.Fprintf(w, "Exported %d secret%s (%d version%s) and %d polic%s at seq %d (%s) to %s (%s, %s).\n",
			doc.Secrets, plural(doc.Secrets), doc.Versions, plural(doc.Versions), doc.Policies, policyPlural(doc.Policies),
			doc.AsOfSeq, humanTime(doc.AsOfTime), doc.File, doc.Format, humanBytes(doc.Bytes))
		var err error
		switch doc.Format {
		case api.ExportSpikeDB:
			_, err = fmt.Fprintln(w, "Every value is in it, sealed under the root key: keep it like the recovery files.")
		case api.ExportProjection:
			_, err = fmt.Fprintln(w, "Every value is in it, sealed under a key derived from the root key: keep it like the recovery files.")
		case api.ExportJSON:
			if c.WithValues {
				_, err = fmt.Fprintln(w, "Every value is in it in clear: keep it safe, and delete it when done.")
			}
		}
		return err
	})
}

func policyPlural(n int) string {
	if n == 1 {
		return "y"
	}
	return "ies"
}

// checkNewFile refuses, before Nexus does any work, an output that exists
// or whose directory does not.
func checkNewFile(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return usagef("--out %s: no directory %s to write it in", path, dir)
	}
	if _, err := os.Lstat(path); err == nil {
		return usagef("--out %s exists: an export never replaces a file; name a new one", path)
	}
	return nil
}

// writeNewFile writes a new file at path, mode 0600, through fill: to a
// temporary file beside it first, which is linked into place only once
// whole and synced, so a failed export leaves nothing at path, and a
// file that appeared there meanwhile is never replaced.
func writeNewFile(path string, fill func(io.Writer) error) error {
	return writeFile(path, false, fill)
}

// writeFile is writeNewFile, except that with replace the whole, synced
// file is renamed over whatever is at path.
func writeFile(path string, replace bool, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the link, only the temporary name goes
	err = f.Chmod(0o600)
	if err == nil {
		err = fill(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("output: %w", cerr)
	}
	if err != nil {
		return err
	}
	if replace {
		err = os.Rename(tmp, path)
	} else {
		err = os.Link(tmp, path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("output: %s appeared while writing it: not replaced; what was written is discarded", path)
		}
		return fmt.Errorf("output: %w", err)
	}
	return securefile.SyncDir(dir)
}
