package api

import "time"

// SecretDestroyRequest destroys versions of a secret for good
// (OpSecretDestroy, extension): their data's keys are deleted, so the
// data cannot be read again, while the versions' metadata and history
// stay. Versions must be listed explicitly, at most [MaxVersionsListed];
// there is no "current" shorthand for an irreversible operation.
type SecretDestroyRequest struct {
	Path     string `json:"path"`
	Versions []int  `json:"versions"`
}

// SecretDestroyResponse answers OpSecretDestroy: {} on success, 404 if the
// path does not exist.
type SecretDestroyResponse struct {
	// Versions are the versions this request destroyed, ascending.
	Versions []int `json:"versions,omitempty"`
	// CurrentVersion is the path's current version afterwards.
	CurrentVersion *int      `json:"currentVersion,omitempty"`
	Err            ErrorCode `json:"err,omitempty"`
}

// SecretSettingsPutRequest changes a secret path's settings
// (OpSecretSettingsPut, extension). An absent field is left as it is.
type SecretSettingsPutRequest struct {
	Path string `json:"path"`
	// MaxVersions is how many versions the path keeps; 0 means the
	// server's default (SPIKE_NEXUS_MAX_SECRET_VERSIONS).
	MaxVersions *int `json:"maxVersions,omitempty"`
	// CASRequired makes every write to the path carry "cas".
	CASRequired *bool `json:"casRequired,omitempty"`
	// DeleteVersionAfter, a Go duration such as "720h", soft-deletes each
	// version that long after it was written; "0s" turns it off.
	DeleteVersionAfter *string `json:"deleteVersionAfter,omitempty"`
	// CustomMetadata replaces the path's custom metadata; {} clears it.
	CustomMetadata *map[string]string `json:"customMetadata,omitempty"`
}

// SecretSettingsPutResponse answers OpSecretSettingsPut: {} on success.
type SecretSettingsPutResponse struct {
	Err ErrorCode `json:"err,omitempty"`
}

// SecretSettingsGetRequest reads a secret path's settings
// (OpSecretSettingsGet, extension).
type SecretSettingsGetRequest struct {
	Path string `json:"path"`
}

// SecretSettingsGetResponse answers OpSecretSettingsGet. 404 if the path
// does not exist.
type SecretSettingsGetResponse struct {
	MaxVersions        int               `json:"maxVersions"`
	CASRequired        bool              `json:"casRequired"`
	DeleteVersionAfter string            `json:"deleteVersionAfter,omitempty"`
	CustomMetadata     map[string]string `json:"customMetadata,omitempty"`
	// Destroyed lists the versions whose data is destroyed, ascending.
	Destroyed []int     `json:"destroyed,omitempty"`
	Err       ErrorCode `json:"err,omitempty"`
}

// SecretHistoryRequest lists what happened to one secret path, reads and
// refusals included (OpSecretHistory, extension), oldest first.
type SecretHistoryRequest struct {
	Path string `json:"path"`
	Page
}

// SecretHistoryResponse answers OpSecretHistory.
type SecretHistoryResponse struct {
	Events []AuditEvent `json:"events"`
	// Next, if not 0, is the "after" that asks for the next page.
	Next uint64    `json:"next,omitempty"`
	Err  ErrorCode `json:"err,omitempty"`
}

// Page selects a window of a listing (extensions): entries with sequence
// numbers above After, at or after Since and before Until, at most Limit
// of them (0: the server's default; at most MaxPageSize). The entries of
// one event (a restore listed by path has one per path, all with its
// sequence number) are never split across pages: a page may hold fewer
// than Limit entries, and an event with more than Limit comes whole.
type Page struct {
	After uint64     `json:"after,omitempty"`
	Limit int        `json:"limit,omitempty"`
	Since *time.Time `json:"since,omitempty"`
	Until *time.Time `json:"until,omitempty"`
}

// Validate checks the limit and that Until is not before Since.
func (p Page) Validate() error { return validatePage(p.Limit, p.Since, p.Until) }

// Op returns OpSecretDestroy.
func (SecretDestroyRequest) Op() Op { return OpSecretDestroy }

// Validate checks the path and that at least one version, at most
// [MaxVersionsListed], each 1 or more, is listed.
func (r SecretDestroyRequest) Validate() error {
	if err := ValidateStoredSecretPath(r.Path); err != nil {
		return err
	}
	if len(r.Versions) == 0 {
		return invalid("versions", "none given")
	}
	if err := checkVersionsListed(r.Versions); err != nil {
		return err
	}
	for _, v := range r.Versions {
		if v < 1 || v > MaxVersion {
			return invalid("versions", "each must be a version number, 1 or more")
		}
	}
	return nil
}

// Op returns OpSecretSettingsPut.
func (SecretSettingsPutRequest) Op() Op { return OpSecretSettingsPut }

// Validate checks the path and each field present.
func (r SecretSettingsPutRequest) Validate() error {
	if err := ValidateSecretPath(r.Path); err != nil {
		return err
	}
	if r.MaxVersions != nil {
		if err := validateVersion("maxVersions", *r.MaxVersions); err != nil {
			return err
		}
	}
	if r.DeleteVersionAfter != nil {
		d, err := time.ParseDuration(*r.DeleteVersionAfter)
		if err != nil || d < 0 {
			return invalid("deleteVersionAfter", `want a duration such as "720h", 0 or more`)
		}
	}
	if r.CustomMetadata != nil {
		return ValidateCustomMetadata(*r.CustomMetadata)
	}
	return nil
}

// DeleteAfter returns DeleteVersionAfter as a duration, and whether it is
// set. Call it on a validated request.
func (r SecretSettingsPutRequest) DeleteAfter() (time.Duration, bool) {
	if r.DeleteVersionAfter == nil {
		return 0, false
	}
	d, err := time.ParseDuration(*r.DeleteVersionAfter)
	return d, err == nil
}

// Op returns OpSecretSettingsGet.
func (SecretSettingsGetRequest) Op() Op { return OpSecretSettingsGet }

// Validate checks the path; a legacy path is left to Nexus.
func (r SecretSettingsGetRequest) Validate() error { return ValidateStoredSecretPath(r.Path) }

// StoredPaths returns the path: a settings read reaches a legacy path.
func (r SecretSettingsGetRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// StoredPaths returns the path: a destroy reaches a legacy path.
func (r SecretDestroyRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// StoredPaths returns the path: its history reaches a legacy path.
func (r SecretHistoryRequest) StoredPaths() (string, []string) { return "path", []string{r.Path} }

// Op returns OpSecretHistory.
func (SecretHistoryRequest) Op() Op { return OpSecretHistory }

// Validate checks the path and the page.
func (r SecretHistoryRequest) Validate() error {
	if err := ValidateStoredSecretPath(r.Path); err != nil {
		return err
	}
	return r.Page.Validate()
}
