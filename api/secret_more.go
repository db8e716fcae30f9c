package api

import "time"

// SecretPatchRequest (extension, OpSecretPatch) writes a new version whose
// data is the current version's with Values merged in (a key given
// replaces the key of that name) and the keys in Remove dropped, in one
// step of the command loop: no other write comes between the read and
// the write. A path with no readable current version is 404. CAS works
// as for [SecretPutRequest].
type SecretPatchRequest struct {
	Path   string            `json:"path"`
	Values map[string]string `json:"values,omitempty"`
	Remove []string          `json:"remove,omitempty"`
	CAS    *int              `json:"cas,omitempty"`
}

// SecretPatchResponse answers OpSecretPatch with the version written.
type SecretPatchResponse struct {
	Version int       `json:"version,omitempty"`
	Err     ErrorCode `json:"err,omitempty"`
}

// SecretRollbackRequest (extension, OpSecretRollback) writes the data of
// Version as a new version, which becomes the current one. Nothing is
// rewritten: the versions in between stay, and the rollback is itself
// undone by another. Version must be readable (not deleted, not
// destroyed, not pruned). CAS works as for [SecretPutRequest].
type SecretRollbackRequest struct {
	Path    string `json:"path"`
	Version int    `json:"version"`
	CAS     *int   `json:"cas,omitempty"`
}

// SecretRollbackResponse answers OpSecretRollback with the version
// written.
type SecretRollbackResponse struct {
	Version int       `json:"version,omitempty"`
	Err     ErrorCode `json:"err,omitempty"`
}

// SecretMetadataDeleteRequest (extension, OpSecretMetadataDelete) removes
// a path: every version's data is destroyed (its key shredded) and the
// path no longer lists. Its history stays in the log, and version
// numbers are never reused: a later write to the path continues after
// the highest version it ever had.
type SecretMetadataDeleteRequest struct {
	Path string `json:"path"`
}

// SecretMetadataDeleteResponse answers OpSecretMetadataDelete with the
// versions that were destroyed (ascending; those already destroyed are
// not listed). 404 if there is no such path.
type SecretMetadataDeleteResponse struct {
	Versions []int     `json:"versions,omitempty"`
	Err      ErrorCode `json:"err,omitempty"`
}

// SystemStatusRequest (extension, OpSystemStatus) asks Nexus how it is:
// sealed or ready, its keepers, its log. Its body is {}. Like
// [BootstrapStatusRequest] it is answered while sealed; the caller must be
// the superuser or the auditor role.
type SystemStatusRequest struct{}

// The states of a [SystemStatusResponse].
const (
	SystemReady  = "ready"  // unsealed: serving
	SystemSealed = "sealed" // no root key yet (or still opening the log): 503 on all but custody routes
)

// SystemStatusResponse answers OpSystemStatus.
type SystemStatusResponse struct {
	// State is SystemReady or SystemSealed; Reason says why when sealed.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Node is this Nexus's SPIFFE ID; Leader the node that commits
	// (itself, on a single node).
	Node   string `json:"node"`
	Leader string `json:"leader,omitempty"`
	// Bootstrapped reports that the log records a bootstrap.
	Bootstrapped bool `json:"bootstrapped"`
	// UnsealedAt is when the root key came back (nil while sealed).
	UnsealedAt *time.Time `json:"unsealedAt,omitempty"`
	// Keepers is each configured keeper as last probed.
	Keepers          []KeeperStatus `json:"keepers"`
	KeepersReachable int            `json:"keepersReachable"`
	Shares           int            `json:"shares"`
	Threshold        int            `json:"threshold"`
	// LogEvents and LogBytes are the event log's size.
	LogEvents uint64 `json:"logEvents"`
	LogBytes  int64  `json:"logBytes"`
	// Checkpoint is the latest signed checkpoint (nil before the first).
	Checkpoint *CheckpointStatus `json:"checkpoint,omitempty"`
	Err        ErrorCode         `json:"err,omitempty"`
}

// KeeperStatus is one keeper as Nexus last saw it: at its last health
// probe or shard exchange, whichever came later.
type KeeperStatus struct {
	URL string `json:"url"`
	// Reachable reports that the last contact got through (a keeper that
	// answered with an error is reachable; Error says what it answered).
	Reachable bool `json:"reachable"`
	// LastSeen is the last contact that got through (nil: none since
	// Nexus started).
	LastSeen *time.Time `json:"lastSeen,omitempty"`
	// LastChecked is the last contact tried (nil: none yet, so Reachable
	// says nothing).
	LastChecked *time.Time `json:"lastChecked,omitempty"`
	// Error is what went wrong at the last contact, if anything.
	Error string `json:"error,omitempty"`
}

// CheckpointStatus is a signed checkpoint's size and time: the time the
// log recorded the last event it covers (a checkpoint is signed within a
// second or so of it).
type CheckpointStatus struct {
	Size uint64    `json:"size"`
	Time time.Time `json:"time"`
}

// Op returns OpSecretPatch.
func (SecretPatchRequest) Op() Op { return OpSecretPatch }

// Validate checks the path, the keys, that there is something to do, and
// the CAS version.
func (r SecretPatchRequest) Validate() error {
	if err := ValidateSecretPath(r.Path); err != nil {
		return err
	}
	if len(r.Values) == 0 && len(r.Remove) == 0 {
		return invalid("values", "nothing to merge or remove")
	}
	if err := ValidateValues(r.Values); err != nil {
		return err
	}
	for _, k := range r.Remove {
		if err := ValidateValueKey(k); err != nil {
			return invalid("remove", err.(*FieldError).Reason)
		}
		if _, ok := r.Values[k]; ok {
			return invalid("remove", "a key is both set and removed")
		}
	}
	return validateCAS(r.CAS)
}

func validateCAS(cas *int) error {
	if cas == nil {
		return nil
	}
	return validateVersion("cas", *cas)
}

// Op returns OpSecretRollback.
func (SecretRollbackRequest) Op() Op { return OpSecretRollback }

// Validate checks the path, the version and the CAS version.
func (r SecretRollbackRequest) Validate() error {
	if err := ValidateSecretPath(r.Path); err != nil {
		return err
	}
	if r.Version < 1 || r.Version > MaxVersion {
		return invalid("version", "must be a version number, 1 or more")
	}
	return validateCAS(r.CAS)
}

// Op returns OpSecretMetadataDelete.
func (SecretMetadataDeleteRequest) Op() Op { return OpSecretMetadataDelete }

// Validate checks the path; a legacy path is left to Nexus.
func (r SecretMetadataDeleteRequest) Validate() error { return ValidateStoredSecretPath(r.Path) }

// StoredPaths returns the path: removing a legacy path is how it moves.
func (r SecretMetadataDeleteRequest) StoredPaths() (string, []string) {
	return "path", []string{r.Path}
}

// Op returns OpSystemStatus.
func (SystemStatusRequest) Op() Op { return OpSystemStatus }

// Validate accepts every status request.
func (SystemStatusRequest) Validate() error { return nil }
