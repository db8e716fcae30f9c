package pilot

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spikeledger/spike/sdk"
)

// Patch and rollback write a new version made from one the path holds;
// Nexus reads that version and writes the new one in one step, so no
// other write comes between. Like put, they never show a value.

type secretPatchCmd struct {
	Path   string   `arg:"" help:"Secret path; it must have a readable current version."`
	Values []string `arg:"" optional:"" name:"KEY=VALUE" help:"Values to set, as secret put reads them: KEY=VALUE, KEY=@FILE, KEY=- (standard input), KEY=@@TEXT. Other keys keep their values."`
	Remove []string `name:"remove" sep:"," placeholder:"KEY" help:"Keys to remove, comma-separated or repeated."`
	CAS    *int     `name:"cas" help:"Write only if the current version is this one."`
}

// secretPatched is the JSON document of `spike secret patch`: the path
// and the version written.
type secretPatched struct {
	Path    string `json:"path"`
	Version int    `json:"version"`
}

func (c *secretPatchCmd) Run(e *env) error {
	if len(c.Values) == 0 && len(c.Remove) == 0 {
		return usagef("nothing to change: give KEY=VALUE pairs to set, or --remove KEY")
	}
	values, err := parsePairs(c.Values, e.in)
	if err != nil {
		return err
	}
	defer clear(values)
	for _, k := range c.Remove {
		if _, ok := values[k]; ok {
			return usagef("key %q is both set and removed", k)
		}
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	v, err := client.PatchSecret(e.ctx, c.Path, values, c.Remove, casOption(c.CAS)...)
	if err != nil {
		return err
	}
	var did []string
	if len(values) > 0 {
		did = append(did, "set "+keyList(sortedKeys(values)))
	}
	if len(c.Remove) > 0 {
		did = append(did, "removed "+keyList(c.Remove))
	}
	msg := fmt.Sprintf("Patched %s: version %d (%s).", oneLine(c.Path), v, strings.Join(did, "; "))
	return e.print(secretPatched{Path: c.Path, Version: v}, okLine(msg))
}

// keyList names keys (not secret, unlike values), one line.
func keyList(keys []string) string {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	return oneLine(strings.Join(slices.Compact(keys), ", "))
}

func casOption(cas *int) []sdk.PutOption {
	if cas == nil {
		return nil
	}
	return []sdk.PutOption{sdk.CAS(*cas)}
}

type secretRollbackCmd struct {
	Path string `arg:"" help:"Secret path."`
	To   int    `name:"to" required:"" placeholder:"N" help:"The version whose data to write again; it must be readable (not deleted, destroyed or pruned)."`
	CAS  *int   `name:"cas" help:"Write only if the current version is this one."`
}

// secretRolledBack is the JSON document of `spike secret rollback`: the
// path, the version written and the version whose data it holds.
type secretRolledBack struct {
	Path    string `json:"path"`
	Version int    `json:"version"`
	From    int    `json:"from"`
}

func (c *secretRollbackCmd) Run(e *env) error {
	if c.To < 1 {
		return usagef("--to: %d is not a version number (1 or more)", c.To)
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	v, err := client.RollbackSecret(e.ctx, c.Path, c.To, casOption(c.CAS)...)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Rolled %s back to version %d: version %d holds its data and is now current.", oneLine(c.Path), c.To, v)
	return e.print(secretRolledBack{Path: c.Path, Version: v, From: c.To}, okLine(msg))
}
