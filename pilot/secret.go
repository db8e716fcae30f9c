package pilot

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spikeledger/spike/sdk"
)

type secretCmd struct {
	Put      secretPutCmd      `cmd:"" help:"Write a new version of a secret (KEY=@FILE and KEY=- keep values out of shell history)."`
	Get      secretGetCmd      `cmd:"" help:"Print a secret's values, or one value (-f json or yaml: with its version and time)."`
	List     secretListCmd     `cmd:"" help:"List secret paths."`
	Delete   secretDeleteCmd   `cmd:"" help:"Soft-delete versions of a secret (undelete brings them back)."`
	Undelete secretUndeleteCmd `cmd:"" help:"Restore soft-deleted versions of a secret."`
	Destroy  secretDestroyCmd  `cmd:"" help:"Destroy versions of a secret for good: their data cannot be read again."`
	Patch    secretPatchCmd    `cmd:"" help:"Write a new version of a secret: the current one with keys set or removed."`
	Rollback secretRollbackCmd `cmd:"" help:"Write an earlier version's data as a new version (nothing is rewritten)."`
	Metadata secretMetadataCmd `cmd:"" help:"Read or change a secret's metadata and settings, or remove the secret."`
	History  secretHistoryCmd  `cmd:"" help:"Show what happened to a secret: writes, deletes, reads and refusals."`
}

type secretMetadataCmd struct {
	Get    secretMetadataGetCmd    `cmd:"" help:"Print a secret's versions, metadata and settings, deleted versions included."`
	Put    secretMetadataPutCmd    `cmd:"" help:"Change a secret path's settings: retention, check-and-set, expiry, custom metadata."`
	Delete secretMetadataDeleteCmd `cmd:"" help:"Remove a secret: destroy every version for good and forget its settings (its history stays)."`
}

// secretChange is the JSON document of delete, undelete and destroy: the
// path, the versions the command changed ([] only when it changed none,
// every one named being as asked already) and the path's current version
// afterwards (0: none is readable; left out when Nexus does not say, as
// SPIKE v0.8 does not).
type secretChange struct {
	Path           string `json:"path"`
	Versions       []int  `json:"versions"`
	CurrentVersion *int   `json:"currentVersion,omitempty"`
}

func newSecretChange(path string, ch *sdk.VersionChange) secretChange {
	return secretChange{Path: path, Versions: nonNilInts(ch.Versions), CurrentVersion: ch.CurrentVersion}
}

// secretWritten is the JSON document of `spike secret put`. Version is the
// version written when Nexus reports it (it does for --cas writes).
type secretWritten struct {
	Path    string `json:"path"`
	Version int    `json:"version,omitempty"`
}

func nonNilInts(vs []int) []int {
	if vs == nil {
		return []int{}
	}
	return vs
}

type secretPutCmd struct {
	Path   string   `arg:"" help:"Secret path, such as tenants/demo/db/creds."`
	Values []string `arg:"" name:"KEY=VALUE" help:"Values: KEY=VALUE, KEY=@FILE (the file's bytes), KEY=- (standard input), KEY=@@TEXT (a value starting with @)."`
	CAS    *int     `name:"cas" help:"Write only if the current version is this one (0: only if the path has no readable version)."`
}

func (c *secretPutCmd) Run(e *env) error {
	values, err := parsePairs(c.Values, e.in)
	if err != nil {
		return err
	}
	defer clear(values)
	client, err := e.nexus()
	if err != nil {
		return err
	}
	v, err := client.PutSecret(e.ctx, c.Path, values, casOption(c.CAS)...)
	if err != nil {
		return err
	}
	msg := "OK"
	if v > 0 {
		msg = fmt.Sprintf("OK (version %d)", v)
	}
	return e.print(secretWritten{Path: c.Path, Version: v}, okLine(msg))
}

type secretGetCmd struct {
	Path    string `arg:"" help:"Secret path."`
	Key     string `arg:"" optional:"" help:"Print only this value."`
	Version int    `name:"version" short:"v" help:"Version to read (0: the current one)."`
}

// Run prints the values: KEY=VALUE lines, sorted, or one value alone.
// This is the one command whose output is secret: it is what was asked
// for. In the lines, a value that holds a control character (a PEM
// key's newlines, say) is shown quoted and escaped (showValue), so each
// line is one key and nothing can drive the terminal; one value alone is
// shown so on a terminal, and written as it is stored (and a newline)
// otherwise, for `spike secret get P KEY > file`.
func (c *secretGetCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	s, err := client.GetSecret(e.ctx, c.Path, c.Version)
	if err != nil {
		return err
	}
	defer clear(s.Data)
	if c.Key != "" {
		v, ok := s.Data[c.Key]
		if !ok {
			return &missingKeyError{path: c.Path, key: c.Key, keys: sortedKeys(s.Data)}
		}
		return e.print(v, func(w io.Writer) error {
			shown := v
			if e.terminal(e.out) {
				shown = showValue(v)
			}
			_, err := fmt.Fprintln(w, shown)
			return err
		})
	}
	doc := secretDoc{Path: c.Path, Version: s.Version, Data: s.Data}
	if !s.Created.IsZero() {
		doc.CreatedTime = &s.Created
	}
	return e.print(doc, func(w io.Writer) error {
		keys := sortedKeys(s.Data)
		for _, k := range keys {
			if _, err := fmt.Fprintf(w, "%s=%s\n", oneLine(k), showValue(s.Data[k])); err != nil {
				return err
			}
		}
		return nil
	})
}

// secretDoc is the JSON document of `spike secret get PATH`: the version
// read, when it was written, and its data. Version is 0 and CreatedTime
// null when Nexus does not say (SPIKE v0.8). The data is a field of its
// own, not the document, so that no key of a secret can collide with
// these names.
type secretDoc struct {
	Path        string            `json:"path"`
	Version     int               `json:"version"`
	CreatedTime *time.Time        `json:"createdTime"`
	Data        map[string]string `json:"data"`
}

// missingKeyError: the secret exists but has no such key. Its message
// names the keys there are (keys are not secret), never a value.
type missingKeyError struct {
	path, key string
	keys      []string
}

func (m *missingKeyError) Error() string {
	quoted := make([]string, len(m.keys))
	for i, k := range m.keys {
		quoted[i] = strconv.Quote(k)
	}
	return fmt.Sprintf("%s has no key %q; its keys are %s", m.path, m.key, strings.Join(quoted, ", "))
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type secretListCmd struct {
	Prefix string `name:"prefix" help:"Only paths that start with this."`
	After  string `name:"after" help:"Only paths after this one (the last path of the previous page)."`
	Limit  int    `name:"limit" help:"Print one page of at most this many paths (0: every path; at most 1000)."`
}

// listPage is the page size the CLI asks for when it fetches every page.
const listPage = 1000

// Run lists the paths, sorted: every page, or with --limit one page,
// which --after the last path printed continues (the human form says
// so when more follow).
func (c *secretListCmd) Run(e *env) error {
	if c.Limit < 0 || c.Limit > listPage {
		return usagef("--limit must be 0 to %d", listPage)
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	size := listPage
	if c.Limit > 0 {
		size = c.Limit
	}
	paths, next, err := collect(c.After, c.Limit > 0, func(after string) ([]string, string, error) {
		return client.ListSecrets(e.ctx, sdk.ListOptions{Prefix: c.Prefix, After: after, Limit: size})
	})
	if err != nil {
		return err
	}
	return e.print(paths, func(w io.Writer) error {
		if len(paths) == 0 {
			_, err := fmt.Fprintln(w, "No secrets found.")
			return err
		}
		for _, p := range paths {
			if _, err := fmt.Fprintln(w, oneLine(p)); err != nil {
				return err
			}
		}
		if next != "" {
			_, err := fmt.Fprintf(w, "More paths: --after %s\n", oneLine(next))
			return err
		}
		return nil
	})
}

type secretDeleteCmd struct {
	Path     string `arg:"" help:"Secret path."`
	Versions []int  `name:"versions" short:"v" sep:"," help:"Versions to delete, comma-separated (none or 0: the current one)."`
}

func (c *secretDeleteCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	ch, err := client.DeleteVersions(e.ctx, c.Path, c.Versions...)
	if err != nil {
		return err
	}
	return e.print(newSecretChange(c.Path, ch), okLine(deletedText(c.Path, c.Versions, ch)))
}

type secretUndeleteCmd struct {
	Path     string `arg:"" help:"Secret path."`
	Versions []int  `name:"versions" short:"v" sep:"," help:"Versions to restore, comma-separated (none: the most recently deleted one)."`
}

func (c *secretUndeleteCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	ch, err := client.UndeleteVersions(e.ctx, c.Path, c.Versions...)
	if err != nil {
		return err
	}
	return e.print(newSecretChange(c.Path, ch), okLine(undeletedText(c.Path, c.Versions, ch)))
}

type secretDestroyCmd struct {
	Path     string `arg:"" help:"Secret path."`
	Versions []int  `name:"versions" short:"v" sep:"," required:"" help:"Versions to destroy, comma-separated; each must be named."`
	Yes      bool   `name:"yes" short:"y" help:"Do not ask for confirmation."`
}

func (c *secretDestroyCmd) Run(e *env) error {
	for _, v := range c.Versions {
		if v < 1 {
			return usagef("--versions: %d is not a version number (destroy needs each version named, 1 or more)", v)
		}
	}
	q := fmt.Sprintf("Destroy version%s %s of %s for good? Their data cannot be recovered.", plural(len(c.Versions)), joinInts(c.Versions), c.Path)
	if err := e.confirm(q, c.Yes); err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	ch, err := client.DestroyVersions(e.ctx, c.Path, c.Versions...)
	if err != nil {
		return err
	}
	return e.print(newSecretChange(c.Path, ch), okLine(destroyedText(c.Path, c.Versions, ch)))
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func joinInts(vs []int) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}
