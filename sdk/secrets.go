package sdk

import (
	"context"
	"slices"
	"time"

	"github.com/spikeledger/spike/api"
)

// Secret is one version of a secret.
type Secret struct {
	Path string
	// Version is the version read: the one asked for, or, for the
	// current version, its number when Nexus reports it (0 otherwise:
	// SPIKE v0.8's answer carries only the data).
	Version int
	// Created is when the version was written; zero when Nexus does
	// not say (SPIKE v0.8).
	Created time.Time
	Data    map[string]string
}

// PutOption modifies a write.
type PutOption func(*api.SecretPutRequest)

// CAS makes a write conditional on the path's current version being
// version (0: the path has no readable version yet). On a mismatch
// nothing is written and the error matches ErrConflict.
func CAS(version int) PutOption {
	return func(r *api.SecretPutRequest) { r.CAS = &version }
}

// PutSecret writes values as a new version of the secret at path and
// returns the version written (0 from a SPIKE v0.8 server, whose answer
// carries none). Value keys are letters, digits, '-', '_' and space.
func (c *Client) PutSecret(ctx context.Context, path string, values map[string]string, opts ...PutOption) (int, error) {
	req := api.SecretPutRequest{Path: path, Values: values}
	for _, o := range opts {
		o(&req)
	}
	var resp api.SecretPutResponse
	if err := c.call(ctx, path, req, &resp); err != nil {
		return 0, err
	}
	return resp.Version, nil
}

// GetSecret reads one version of the secret at path; version 0 is the
// current one. A missing path, or a version deleted or destroyed, is
// ErrNotFound. Every read is recorded in the path's history.
func (c *Client) GetSecret(ctx context.Context, path string, version int) (*Secret, error) {
	var resp api.SecretGetResponse
	if err := c.call(ctx, path, api.SecretGetRequest{Path: path, Version: version}, &resp); err != nil {
		return nil, err
	}
	if version == 0 {
		version = resp.Version
	}
	if resp.Data == nil {
		resp.Data = map[string]string{}
	}
	sec := &Secret{Path: path, Version: version, Data: resp.Data}
	if resp.CreatedTime != nil {
		sec.Created = *resp.CreatedTime
	}
	return sec, nil
}

// PatchSecret writes a new version of the secret at path: the current
// version's data with values merged in (a key given replaces the key of
// that name) and the keys in remove dropped, read and written in one step
// on Nexus, so no other write comes between. It returns the version
// written. The path must have a readable current version (else
// ErrNotFound); CAS works as for PutSecret. An extension of spike.
func (c *Client) PatchSecret(ctx context.Context, path string, values map[string]string, remove []string, opts ...PutOption) (int, error) {
	req := api.SecretPatchRequest{Path: path, Values: values, Remove: remove, CAS: casOf(opts)}
	var resp api.SecretPatchResponse
	if err := c.call(ctx, path, req, &resp); err != nil {
		return 0, err
	}
	return resp.Version, nil
}

// RollbackSecret writes the data of version of the secret at path as a
// new version, which becomes the current one, and returns it. Nothing is
// rewritten: the versions in between stay. A version deleted, destroyed
// or pruned is ErrNotFound, and the error's Reason says which; CAS works
// as for PutSecret. An extension of spike.
func (c *Client) RollbackSecret(ctx context.Context, path string, version int, opts ...PutOption) (int, error) {
	req := api.SecretRollbackRequest{Path: path, Version: version, CAS: casOf(opts)}
	var resp api.SecretRollbackResponse
	if err := c.call(ctx, path, req, &resp); err != nil {
		return 0, err
	}
	return resp.Version, nil
}

// casOf is the check-and-set version opts ask for, nil for none.
func casOf(opts []PutOption) *int {
	var put api.SecretPutRequest
	for _, o := range opts {
		o(&put)
	}
	return put.CAS
}

// DeleteSecretMetadata removes the secret at path: every version's data
// is destroyed for good, its settings go, and the path no longer lists.
// Its history stays, and a later write to the path continues after the
// highest version it ever had. It returns the versions whose data it
// destroyed. A missing path is ErrNotFound. An extension of spike.
func (c *Client) DeleteSecretMetadata(ctx context.Context, path string) ([]int, error) {
	var resp api.SecretMetadataDeleteResponse
	if err := c.call(ctx, path, api.SecretMetadataDeleteRequest{Path: path}, &resp); err != nil {
		return nil, err
	}
	return nonNil(resp.Versions), nil
}

// VersionChange is what a delete, undelete or destroy changed.
type VersionChange struct {
	// Versions are the versions changed, ascending; none when every one
	// named already was as asked.
	Versions []int
	// CurrentVersion is the path's current version afterwards (0: none
	// is readable), nil when Nexus does not say (SPIKE v0.8). Deleting
	// or destroying the current version makes the highest readable one
	// current.
	CurrentVersion *int
}

func versionChange(vs []int, current *int) *VersionChange {
	return &VersionChange{Versions: nonNil(vs), CurrentVersion: current}
}

// DeleteSecret soft-deletes versions of the secret at path (none: the
// current one; 0 in the list also means the current one). Deleted
// versions can be restored with UndeleteSecret. A missing path is
// ErrNotFound. DeleteVersions does the same and says what changed.
func (c *Client) DeleteSecret(ctx context.Context, path string, versions ...int) error {
	_, err := c.DeleteVersions(ctx, path, versions...)
	return err
}

// DeleteVersions is DeleteSecret, returning the versions it deleted and
// the current version after.
func (c *Client) DeleteVersions(ctx context.Context, path string, versions ...int) (*VersionChange, error) {
	var resp api.SecretDeleteResponse
	if err := c.call(ctx, path, api.SecretDeleteRequest{Path: path, Versions: nonNil(versions)}, &resp); err != nil {
		return nil, err
	}
	return versionChange(resp.Versions, resp.CurrentVersion), nil
}

// UndeleteSecret restores soft-deleted versions of the secret at path
// (none: the most recently deleted one). If nothing was restored the
// error matches ErrNotFound, and its Reason says why (no_such_path,
// no_such_version, not_deleted, destroyed). UndeleteVersions does the
// same and says what changed.
func (c *Client) UndeleteSecret(ctx context.Context, path string, versions ...int) error {
	_, err := c.UndeleteVersions(ctx, path, versions...)
	return err
}

// UndeleteVersions is UndeleteSecret, returning the versions it restored
// and the current version after.
func (c *Client) UndeleteVersions(ctx context.Context, path string, versions ...int) (*VersionChange, error) {
	var resp api.SecretUndeleteResponse
	if err := c.call(ctx, path, api.SecretUndeleteRequest{Path: path, Versions: nonNil(versions)}, &resp); err != nil {
		return nil, err
	}
	return versionChange(resp.Versions, resp.CurrentVersion), nil
}

// DestroySecret destroys versions of the secret at path for good: their
// data's keys are deleted, so no one can read them again, while their
// metadata and history stay. The versions must be named (there is no
// "current" shorthand for an irreversible operation). DestroyVersions
// does the same and says what changed.
func (c *Client) DestroySecret(ctx context.Context, path string, versions ...int) error {
	_, err := c.DestroyVersions(ctx, path, versions...)
	return err
}

// DestroyVersions is DestroySecret, returning the versions it destroyed
// and the current version after.
func (c *Client) DestroyVersions(ctx context.Context, path string, versions ...int) (*VersionChange, error) {
	var resp api.SecretDestroyResponse
	if err := c.call(ctx, path, api.SecretDestroyRequest{Path: path, Versions: versions}, &resp); err != nil {
		return nil, err
	}
	return versionChange(resp.Versions, resp.CurrentVersion), nil
}

// nonNil sends [] rather than null, as SPIKE's own client does.
func nonNil(vs []int) []int {
	if vs == nil {
		return []int{}
	}
	return vs
}

// ListOptions select a page of secret paths. The zero value lists every
// path the caller may see.
type ListOptions struct {
	// Prefix keeps only paths that start with it.
	Prefix string
	// After is the cursor: only paths sorting after it (the previous
	// page's next).
	After string
	// Limit is the page size, at most 1000; 0 lists everything.
	Limit int
}

// ListSecrets lists secret paths, sorted, with those whose versions are
// all deleted. A caller with the list permission on spike/system/secret
// sees every path; others see the paths they may read. next is the
// cursor for the next page ("" on the last).
func (c *Client) ListSecrets(ctx context.Context, opts ListOptions) (paths []string, next string, err error) {
	var resp api.SecretListResponse
	req := api.SecretListRequest{Prefix: opts.Prefix, After: opts.After, Limit: opts.Limit}
	if err := c.call(ctx, opts.Prefix, req, &resp); err != nil {
		return nil, "", err
	}
	if resp.Keys == nil {
		resp.Keys = []string{}
	}
	return resp.Keys, resp.Next, nil
}

// Metadata describes a secret path and its versions.
type Metadata struct {
	Path string
	// CurrentVersion, OldestVersion, CreatedTime, UpdatedTime and
	// MaxVersions, as Nexus reports them.
	api.SecretMetadata
	// Versions lists every version Nexus keeps, oldest first.
	Versions []api.SecretVersionInfo
}

// A MetadataOption changes what SecretMetadata asks for.
type MetadataOption func(*api.SecretMetadataGetRequest)

// IncludeDeleted makes SecretMetadata answer for a path whose versions
// are all deleted or destroyed, each with its state (an extension of
// spike): what there is to undelete.
func IncludeDeleted() MetadataOption {
	return func(r *api.SecretMetadataGetRequest) { r.IncludeDeleted = true }
}

// SecretMetadata reads the metadata of the secret at path. It is
// ErrNotFound when the path does not exist or, unless IncludeDeleted is
// given, when its current version is deleted.
func (c *Client) SecretMetadata(ctx context.Context, path string, opts ...MetadataOption) (*Metadata, error) {
	req := api.SecretMetadataGetRequest{Path: path}
	for _, o := range opts {
		o(&req)
	}
	var resp api.SecretMetadataGetResponse
	if err := c.call(ctx, path, req, &resp); err != nil {
		return nil, err
	}
	m := &Metadata{Path: path, SecretMetadata: resp.Metadata, Versions: make([]api.SecretVersionInfo, 0, len(resp.Versions))}
	for _, v := range resp.Versions {
		m.Versions = append(m.Versions, v)
	}
	slices.SortFunc(m.Versions, func(a, b api.SecretVersionInfo) int { return a.Version - b.Version })
	return m, nil
}

// Settings are a secret path's settings (an extension of spike).
type Settings struct {
	// MaxVersions is how many versions the path keeps.
	MaxVersions int
	// CASRequired: every write must use CAS.
	CASRequired bool
	// DeleteVersionAfter soft-deletes each version this long after it
	// was written; 0 is never.
	DeleteVersionAfter time.Duration
	// CustomMetadata is free-form, caller-defined text.
	CustomMetadata map[string]string
	// Destroyed lists the versions whose data is destroyed, ascending.
	Destroyed []int
}

// SecretSettings reads the settings of the secret path. A missing path is
// ErrNotFound.
func (c *Client) SecretSettings(ctx context.Context, path string) (*Settings, error) {
	var resp api.SecretSettingsGetResponse
	if err := c.call(ctx, path, api.SecretSettingsGetRequest{Path: path}, &resp); err != nil {
		return nil, err
	}
	s := &Settings{MaxVersions: resp.MaxVersions, CASRequired: resp.CASRequired, CustomMetadata: resp.CustomMetadata, Destroyed: resp.Destroyed}
	if resp.DeleteVersionAfter != "" {
		d, err := time.ParseDuration(resp.DeleteVersionAfter)
		if err != nil {
			return nil, &Error{Op: api.OpSecretSettingsGet, Path: path, Err: errBadAnswer("deleteVersionAfter")}
		}
		s.DeleteVersionAfter = d
	}
	return s, nil
}

// A SettingsOption changes one setting in PutSecretSettings.
type SettingsOption func(*api.SecretSettingsPutRequest)

// SetMaxVersions sets how many versions the path keeps (0: the server's
// default). Lowering it destroys the oldest versions beyond it at once.
func SetMaxVersions(n int) SettingsOption {
	return func(r *api.SecretSettingsPutRequest) { r.MaxVersions = &n }
}

// SetCASRequired sets whether every write to the path must use CAS.
func SetCASRequired(required bool) SettingsOption {
	return func(r *api.SecretSettingsPutRequest) { r.CASRequired = &required }
}

// SetDeleteVersionAfter soft-deletes each version d after it was
// written; 0 turns it off.
func SetDeleteVersionAfter(d time.Duration) SettingsOption {
	return func(r *api.SecretSettingsPutRequest) {
		s := d.String()
		r.DeleteVersionAfter = &s
	}
}

// SetCustomMetadata replaces the path's custom metadata; an empty map
// clears it.
func SetCustomMetadata(m map[string]string) SettingsOption {
	return func(r *api.SecretSettingsPutRequest) {
		if m == nil {
			m = map[string]string{}
		}
		r.CustomMetadata = &m
	}
}

// PutSecretSettings changes the settings opts name, on an existing path
// or ahead of its first write, and leaves the others as they are.
func (c *Client) PutSecretSettings(ctx context.Context, path string, opts ...SettingsOption) error {
	req := api.SecretSettingsPutRequest{Path: path}
	for _, o := range opts {
		o(&req)
	}
	return c.call(ctx, path, req, nil)
}

// Page selects a window of a listing: entries after a sequence number
// (the previous page's next), in a time range, at most Limit of them (0:
// the server's default; at most 1000).
type Page = api.Page

// SecretHistory lists what happened to the secret path, oldest first:
// writes, deletes, reads and refusals, with who did them and when (never
// values). next, when not 0, is the After of the next page.
func (c *Client) SecretHistory(ctx context.Context, path string, page Page) (events []api.AuditEvent, next uint64, err error) {
	var resp api.SecretHistoryResponse
	if err := c.call(ctx, path, api.SecretHistoryRequest{Path: path, Page: page}, &resp); err != nil {
		return nil, 0, err
	}
	return nonNilEvents(resp.Events), resp.Next, nil
}

func nonNilEvents(es []api.AuditEvent) []api.AuditEvent {
	if es == nil {
		return []api.AuditEvent{}
	}
	return es
}
