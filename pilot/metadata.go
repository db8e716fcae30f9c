package pilot

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spikeledger/spike/sdk"
)

type secretMetadataGetCmd struct {
	Path    string `arg:"" help:"Secret path."`
	Version int    `name:"version" short:"v" help:"Fail unless this version exists and is not deleted (0: the current one)."`
}

// metadataDoc is the JSON document of `spike secret metadata get`: SPIKE's
// metadata, spike's settings, and every version oldest first, whatever
// its state. CurrentVersion is 0 when no version is readable (every one
// deleted or destroyed): the versions then say what undelete can bring
// back.
type metadataDoc struct {
	Path               string            `json:"path"`
	CurrentVersion     int               `json:"currentVersion"`
	OldestVersion      int               `json:"oldestVersion"`
	CreatedTime        time.Time         `json:"createdTime"`
	UpdatedTime        time.Time         `json:"updatedTime"`
	MaxVersions        int               `json:"maxVersions"`
	CASRequired        bool              `json:"casRequired"`
	DeleteVersionAfter string            `json:"deleteVersionAfter"`
	CustomMetadata     map[string]string `json:"customMetadata"`
	Versions           []versionDoc      `json:"versions"`
}

type versionDoc struct {
	Version     int        `json:"version"`
	CreatedTime time.Time  `json:"createdTime"`
	DeletedTime *time.Time `json:"deletedTime"`
	Destroyed   bool       `json:"destroyed"`
}

func (c *secretMetadataGetCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	// includeDeleted: a path whose versions are all deleted still has
	// metadata, and it is what the operator needs to see to undelete.
	m, err := client.SecretMetadata(e.ctx, c.Path, sdk.IncludeDeleted())
	if err != nil {
		return err
	}
	s, err := client.SecretSettings(e.ctx, c.Path)
	if err != nil {
		return err
	}
	doc := metadataDoc{
		Path: c.Path, CurrentVersion: m.CurrentVersion, OldestVersion: m.OldestVersion,
		CreatedTime: m.CreatedTime, UpdatedTime: m.UpdatedTime, MaxVersions: m.MaxVersions,
		CASRequired: s.CASRequired, DeleteVersionAfter: s.DeleteVersionAfter.String(),
		CustomMetadata: s.CustomMetadata, Versions: []versionDoc{},
	}
	if s.MaxVersions > 0 {
		doc.MaxVersions = s.MaxVersions
	}
	if doc.CustomMetadata == nil {
		doc.CustomMetadata = map[string]string{}
	}
	for _, v := range m.Versions {
		doc.Versions = append(doc.Versions, versionDoc{Version: v.Version, CreatedTime: v.CreatedTime, DeletedTime: v.DeletedTime,
			Destroyed: v.Destroyed || slices.Contains(s.Destroyed, v.Version)})
	}
	if err := doc.check(c.Version); err != nil {
		return err
	}
	return e.print(doc, doc.human)
}

// check applies SPIKE's -v: the version asked for must be readable.
func (d *metadataDoc) check(version int) error {
	if version == 0 {
		return nil
	}
	for _, v := range d.Versions {
		if v.Version == version && v.DeletedTime == nil && !v.Destroyed {
			return nil
		}
	}
	return fmt.Errorf("%s has no readable version %d (spike secret metadata get %s shows them): %w", d.Path, version, d.Path, sdk.ErrNotFound)
}

// currentText is the current version, or why there is none and what
// brings one back.
func (d *metadataDoc) currentText() string {
	if d.CurrentVersion > 0 || len(d.Versions) == 0 {
		return fmt.Sprint(d.CurrentVersion)
	}
	deleted, destroyed := 0, 0
	for _, v := range d.Versions {
		switch {
		case v.Destroyed:
			destroyed++
		case v.DeletedTime != nil:
			deleted++
		}
	}
	switch {
	case deleted == 0:
		return "none (every version is destroyed)"
	case destroyed == 0:
		return fmt.Sprintf("none (every version is deleted: spike secret undelete %s)", oneLine(d.Path))
	}
	return fmt.Sprintf("none (every version is deleted or destroyed: spike secret undelete %s)", oneLine(d.Path))
}

func (d *metadataDoc) human(w io.Writer) error {
	t := table(w)
	fmt.Fprintf(t, "path\t%s\n", oneLine(d.Path))
	fmt.Fprintf(t, "current version\t%s\n", d.currentText())
	oldest := fmt.Sprint(d.OldestVersion)
	if d.OldestVersion == 0 && len(d.Versions) > 0 {
		oldest = "none"
	}
	fmt.Fprintf(t, "oldest version\t%s\n", oldest)
	fmt.Fprintf(t, "created\t%s\n", humanTime(d.CreatedTime))
	fmt.Fprintf(t, "updated\t%s\n", humanTime(d.UpdatedTime))
	fmt.Fprintf(t, "max versions\t%d\n", d.MaxVersions)
	fmt.Fprintf(t, "cas required\t%t\n", d.CASRequired)
	after := d.DeleteVersionAfter
	if after == "0s" || after == "" {
		after = "never"
	}
	fmt.Fprintf(t, "delete after\t%s\n", after)
	custom := "-"
	if len(d.CustomMetadata) > 0 {
		var kv []string
		for _, k := range sortedKeys(d.CustomMetadata) {
			kv = append(kv, k+"="+d.CustomMetadata[k])
		}
		custom = oneLine(strings.Join(kv, ", "))
	}
	fmt.Fprintf(t, "custom metadata\t%s\n", custom)
	if err := t.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	t = table(w)
	fmt.Fprintln(t, "VERSION\tCREATED\tDELETED\tDESTROYED")
	for _, v := range d.Versions {
		deleted := "-"
		if v.DeletedTime != nil {
			deleted = humanTime(*v.DeletedTime)
		}
		destroyed := "no"
		if v.Destroyed {
			destroyed = "yes"
		}
		fmt.Fprintf(t, "%d\t%s\t%s\t%s\n", v.Version, humanTime(v.CreatedTime), deleted, destroyed)
	}
	return t.Flush()
}

type secretMetadataPutCmd struct {
	Path               string         `arg:"" help:"Secret path (it need not exist yet)."`
	MaxVersions        *int           `name:"max-versions" help:"How many versions to keep (0: Nexus's default); lowering it destroys the oldest at once, after asking."`
	CASRequired        *bool          `name:"cas-required" negatable:"" help:"Require every write to use --cas (--no-cas-required lifts it)."`
	DeleteVersionAfter *time.Duration `name:"delete-version-after" help:"Soft-delete each version this long after it is written, such as 720h (0s: never)."`
	Custom             []string       `name:"custom" sep:"none" placeholder:"KEY=VALUE" help:"Custom metadata (not secret), repeatable; replaces what the path has."`
	ClearCustom        bool           `name:"clear-custom" help:"Remove all custom metadata."`
	Yes                bool           `name:"yes" short:"y" help:"Do not ask before --max-versions destroys versions."`
}

// settingsChange is the JSON document of `spike secret metadata put`: the
// path and the settings the command changed.
type settingsChange struct {
	Path               string             `json:"path"`
	MaxVersions        *int               `json:"maxVersions,omitempty"`
	CASRequired        *bool              `json:"casRequired,omitempty"`
	DeleteVersionAfter *string            `json:"deleteVersionAfter,omitempty"`
	CustomMetadata     *map[string]string `json:"customMetadata,omitempty"`
}

func (c *secretMetadataPutCmd) Run(e *env) error {
	doc := settingsChange{Path: c.Path, MaxVersions: c.MaxVersions, CASRequired: c.CASRequired}
	var opts []sdk.SettingsOption
	if c.MaxVersions != nil {
		if *c.MaxVersions < 0 {
			return usagef("--max-versions must be 0 or more")
		}
		opts = append(opts, sdk.SetMaxVersions(*c.MaxVersions))
	}
	if c.CASRequired != nil {
		opts = append(opts, sdk.SetCASRequired(*c.CASRequired))
	}
	if c.DeleteVersionAfter != nil {
		if *c.DeleteVersionAfter < 0 {
			return usagef("--delete-version-after must be 0s or more")
		}
		s := c.DeleteVersionAfter.String()
		doc.DeleteVersionAfter = &s
		opts = append(opts, sdk.SetDeleteVersionAfter(*c.DeleteVersionAfter))
	}
	switch {
	case c.ClearCustom && len(c.Custom) > 0:
		return usagef("give --custom or --clear-custom, not both")
	case c.ClearCustom || len(c.Custom) > 0:
		m, err := parseLabels(c.Custom)
		if err != nil {
			return err
		}
		doc.CustomMetadata = &m
		opts = append(opts, sdk.SetCustomMetadata(m))
	}
	if len(opts) == 0 {
		return usagef("nothing to change: give --max-versions, --cas-required, --delete-version-after, --custom or --clear-custom")
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	if c.MaxVersions != nil && *c.MaxVersions > 0 && !c.Yes {
		if err := c.confirmPrune(e, client, *c.MaxVersions); err != nil {
			return err
		}
	}
	if err := client.PutSecretSettings(e.ctx, c.Path, opts...); err != nil {
		return err
	}
	return e.print(doc, okLine("OK"))
}

// confirmPrune asks before a retention of keep destroys versions, as
// secret destroy does: Nexus prunes the oldest versions beyond keep at
// once, whatever their state, deleted ones included.
func (c *secretMetadataPutCmd) confirmPrune(e *env, client *sdk.Client, keep int) error {
	m, err := client.SecretMetadata(e.ctx, c.Path, sdk.IncludeDeleted())
	if errors.Is(err, sdk.ErrNotFound) {
		return nil // no such path: a setting put ahead of the first write prunes nothing
	}
	if err != nil {
		return err
	}
	n := len(m.Versions) - keep
	if n <= 0 {
		return nil
	}
	vs := make([]int, n)
	for i, v := range m.Versions[:n] {
		vs[i] = v.Version
	}
	return e.confirm(fmt.Sprintf("Keeping %d version%s of %s destroys the oldest %d (version%s %s) for good. Continue?",
		keep, plural(keep), c.Path, n, plural(n), joinInts(vs)), false)
}

type secretMetadataDeleteCmd struct {
	Path string `arg:"" help:"Secret path."`
	Yes  bool   `name:"yes" short:"y" help:"Do not ask for confirmation."`
}

// secretRemoved is the JSON document of `spike secret metadata delete`:
// the path and the versions whose data it destroyed ([]: every one was
// destroyed already).
type secretRemoved struct {
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
}

// Run removes the path: Nexus destroys every version's data and forgets
// its settings. What happened to it stays in its history, and a later
// write continues after its highest version: numbers are never reused.
func (c *secretMetadataDeleteCmd) Run(e *env) error {
	q := fmt.Sprintf("Remove %s: destroy every version of it for good and forget its settings? Their data cannot be recovered.", c.Path)
	if err := e.confirm(q, c.Yes); err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	vs, err := client.DeleteSecretMetadata(e.ctx, c.Path)
	if err != nil {
		return err
	}
	p := oneLine(c.Path)
	msg := fmt.Sprintf("Removed %s: destroyed %s for good; its history stays (spike secret history %s).", p, versionsText(vs), p)
	if len(vs) == 0 {
		msg = fmt.Sprintf("Removed %s, whose versions were destroyed already; its history stays (spike secret history %s).", p, p)
	}
	return e.print(secretRemoved{Path: c.Path, Versions: nonNilInts(vs)}, okLine(msg))
}
