package api

import (
	"fmt"
	"time"
)

// SecretPutRequest writes a new version of the secret at Path
// (OpSecretPut). An empty or missing Values map writes an empty version.
type SecretPutRequest struct {
	Path   string            `json:"path"`
	Values map[string]string `json:"values"`

	// CAS (extension) makes the write conditional: it succeeds only if the
	// path's current version is *CAS, with 0 meaning the path must not
	// have a readable version yet. A mismatch is answered with
	// CodeConflict. Absent (nil): unconditional, as in SPIKE.
	CAS *int `json:"cas,omitempty"`
}

// SecretPutResponse answers OpSecretPut: {"version":N} on success.
type SecretPutResponse struct {
	// Version (extension) is the version written: an added field, which
	// v0.8 clients ignore (SPIKE's own SDK decodes it without complaint;
	// sdk_test.go checks).
	Version int       `json:"version,omitempty"`
	Err     ErrorCode `json:"err,omitempty"`
}

// SecretGetRequest reads one version of a secret (OpSecretGet). Version 0
// (or absent) is the current version.
type SecretGetRequest struct {
	Path    string `json:"path"`
	Version int    `json:"version,omitempty"`
}

// SecretGetResponse answers OpSecretGet with the version's values. A
// missing path, a missing or deleted version, or a path whose versions
// are all deleted is 404: {"data":null,"err":"api_not_found"}.
type SecretGetResponse struct {
	Data map[string]string `json:"data"`
	// Version (extension) is the version served: the one asked for, or
	// the current one. An added field, which v0.8 clients ignore.
	Version int `json:"version,omitempty"`
	// CreatedTime (extension) is when the version served was written.
	CreatedTime *time.Time `json:"createdTime,omitempty"`
	Err         ErrorCode  `json:"err,omitempty"`
}

// SecretDeleteRequest soft-deletes versions of a secret (OpSecretDelete).
// An empty or null Versions means the current version, and so does a 0
// in the list. SPIKE's SDK sends [] for "current". At most
// [MaxVersionsListed] versions may be listed (SPIKE has no limit);
// repeats count once.
type SecretDeleteRequest struct {
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
}

// SecretDeleteResponse answers OpSecretDelete: {} on success, 404 if the
// path does not exist. The fields are extensions, which v0.8 clients
// ignore.
type SecretDeleteResponse struct {
	// Versions are the versions this request deleted, ascending (none
	// when every one named was already deleted or destroyed).
	Versions []int `json:"versions,omitempty"`
	// CurrentVersion is the path's current version afterwards: deleting
	// the current version makes the highest readable one current, and 0
	// means none is left. Nil only in a v0.8-shaped answer.
	CurrentVersion *int      `json:"currentVersion,omitempty"`
	Err            ErrorCode `json:"err,omitempty"`
}

// SecretUndeleteRequest restores soft-deleted versions (OpSecretUndelete).
// An empty or null Versions means the current version or, if every
// version is deleted, the highest deleted one; 0 in the list means the
// current version. At most [MaxVersionsListed] versions may be listed;
// repeats count once.
type SecretUndeleteRequest struct {
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
}

// SecretUndeleteResponse answers OpSecretUndelete: {} on success, 404 if
// the path does not exist or nothing was undeleted. The fields are
// extensions, as for [SecretDeleteResponse].
type SecretUndeleteResponse struct {
	// Versions are the versions this request undeleted, ascending.
	Versions []int `json:"versions,omitempty"`
	// CurrentVersion is the path's current version afterwards.
	CurrentVersion *int      `json:"currentVersion,omitempty"`
	Err            ErrorCode `json:"err,omitempty"`
}

// SecretListRequest lists secret paths (OpSecretList). SPIKE v0.8 sends
// {} and gets every path; the fields are extensions, all optional.
type SecretListRequest struct {
	// Prefix keeps only paths that start with it.
	Prefix string `json:"prefix,omitempty"`
	// After is the cursor: only paths sorting after it (the previous
	// page's Next).
	After string `json:"after,omitempty"`
	// Limit is the page size (0: no paging, as v0.8 expects).
	Limit int `json:"limit,omitempty"`
}

// SecretListResponse answers OpSecretList with every path, sorted,
// including paths whose versions are all deleted. Servers send [] rather
// than null when there are none.
type SecretListResponse struct {
	Keys []string `json:"keys"`
	// Next (extension) is the cursor for the next page, when Limit cut
	// the list short.
	Next string    `json:"next,omitempty"`
	Err  ErrorCode `json:"err,omitempty"`
}

// SecretMetadataGetRequest reads a secret's metadata
// (OpSecretMetadataGet). Version only selects which version must exist
// (0 or absent: the current one); the response covers every version.
type SecretMetadataGetRequest struct {
	Path    string `json:"path"`
	Version int    `json:"version,omitempty"`
	// IncludeDeleted (extension) answers for a path whose selected
	// version is deleted or destroyed, or whose every version is, instead
	// of 404 (SPIKE's rule): an operator sees what there is to undelete.
	IncludeDeleted bool `json:"includeDeleted,omitempty"`
}

// SecretMetadataGetResponse answers OpSecretMetadataGet: every version,
// keyed by its number ({"1":{…},"2":{…}}), and the path's metadata. 404 as
// for OpSecretGet.
type SecretMetadataGetResponse struct {
	Versions map[int]SecretVersionInfo `json:"versions,omitempty"`
	Metadata SecretMetadata            `json:"metadata"`
	Err      ErrorCode                 `json:"err,omitempty"`
}

// SecretVersionInfo describes one version of a secret. DeletedTime is
// null unless the version is soft-deleted.
type SecretVersionInfo struct {
	CreatedTime time.Time  `json:"createdTime"`
	Version     int        `json:"version"`
	DeletedTime *time.Time `json:"deletedTime"`
	// Destroyed (extension) marks a version whose data is destroyed.
	Destroyed bool `json:"destroyed,omitempty"`
}

// SecretMetadata describes a secret path. CurrentVersion is 0 when every
// version is deleted; OldestVersion is the lowest version not deleted.
type SecretMetadata struct {
	CurrentVersion int       `json:"currentVersion"`
	OldestVersion  int       `json:"oldestVersion"`
	CreatedTime    time.Time `json:"createdTime"`
	UpdatedTime    time.Time `json:"updatedTime"`
	MaxVersions    int       `json:"maxVersions"`
}

// Op returns OpSecretPut.
func (SecretPutRequest) Op() Op { return OpSecretPut }

// Validate checks the path, the value keys and, if present, CAS.
func (r SecretPutRequest) Validate() error {
	if err := ValidateSecretPath(r.Path); err != nil {
		return err
	}
	if err := ValidateValues(r.Values); err != nil {
		return err
	}
	return validateCAS(r.CAS)
}

// Op returns OpSecretGet.
func (SecretGetRequest) Op() Op { return OpSecretGet }

// Validate checks the path and the version.
func (r SecretGetRequest) Validate() error { return validatePathVersion(r.Path, r.Version) }

// Op returns OpSecretDelete.
func (SecretDeleteRequest) Op() Op { return OpSecretDelete }

// Validate checks the path and the versions.
func (r SecretDeleteRequest) Validate() error { return validatePathVersions(r.Path, r.Versions) }

// Op returns OpSecretUndelete.
func (SecretUndeleteRequest) Op() Op { return OpSecretUndelete }

// Validate checks the path and the versions.
func (r SecretUndeleteRequest) Validate() error { return validatePathVersions(r.Path, r.Versions) }

// Op returns OpSecretList.
func (SecretListRequest) Op() Op { return OpSecretList }

// Validate accepts every list request.
func (r SecretListRequest) Validate() error {
	if r.Limit < 0 || r.Limit > MaxListPage {
		return &FieldError{Field: "limit", Reason: fmt.Sprintf("must be 0 to %d", MaxListPage)}
	}
	if len(r.Prefix) > 500 || len(r.After) > 500 {
		return &FieldError{Field: "prefix", Reason: "longer than a path can be"}
	}
	return nil
}

// MaxListPage bounds a page of a secret list (extension).
const MaxListPage = 1000

// Op returns OpSecretMetadataGet.
func (SecretMetadataGetRequest) Op() Op { return OpSecretMetadataGet }

// Validate checks the path and the version.
func (r SecretMetadataGetRequest) Validate() error { return validatePathVersion(r.Path, r.Version) }

// StoredPaths returns the path: a get reaches a legacy path.
func (r SecretGetRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// StoredPaths returns the path: a delete reaches a legacy path.
func (r SecretDeleteRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// StoredPaths returns the path: an undelete reaches a legacy path.
func (r SecretUndeleteRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// StoredPaths returns the path: a metadata read reaches a legacy path.
func (r SecretMetadataGetRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// validatePathVersion checks the requests that read what a path stores:
// a legacy path is left to Nexus ([StoredPathsRequest]).
func validatePathVersion(path string, version int) error {
	if err := ValidateStoredSecretPath(path); err != nil {
		return err
	}
	return ValidateVersion(version)
}

// validatePathVersions checks the requests that delete or undelete what
// a path stores: a legacy path is left to Nexus ([StoredPathsRequest]).
func validatePathVersions(path string, versions []int) error {
	if err := ValidateStoredSecretPath(path); err != nil {
		return err
	}
	return ValidateVersions(versions)
}
