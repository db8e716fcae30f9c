package api

import "time"

// Permission is a right a policy grants on the paths it matches.
type Permission string

// The permissions. SPIKE v0.8 knows the first five; super grants every
// other. PermAdmin is an extension (the design's policy administration
// right, between super and write).
const (
	PermRead    Permission = "read"
	PermWrite   Permission = "write"
	PermList    Permission = "list"    // meaningful on spike/system/secret and spike/system/acl
	PermExecute Permission = "execute" // meaningful on spike/system/cipher/exec
	PermSuper   Permission = "super"
	PermAdmin   Permission = "admin" // extension
)

// Valid reports whether p is one of the known permissions.
func (p Permission) Valid() bool {
	switch p {
	case PermRead, PermWrite, PermList, PermExecute, PermSuper, PermAdmin:
		return true
	}
	return false
}

// The authorisation pseudo-paths: policies grant access to the
// corresponding operations by matching these paths. Nothing stops a
// secret from being stored at one of them.
const (
	SystemPathACL    = "spike/system/acl"         // policy management
	SystemPathSecret = "spike/system/secret"      // listing secrets
	SystemPathCipher = "spike/system/cipher/exec" // the cipher service
	// SystemPathAudit (extension) guards the event history: read on it
	// lets a caller search every event and read the log's proofs. The
	// pilot auditor role holds it.
	SystemPathAudit = "spike/system/audit"
)

// PolicyPutRequest creates a policy, or replaces the one with the same
// name (OpPolicyPut). The patterns are RE2 expressions matched
// unanchored against the caller's SPIFFE ID and the secret path.
//
// The request's key is "spiffeidPattern"; responses spell it
// "spiffiedPattern" (see [Policy]).
type PolicyPutRequest struct {
	Name            string       `json:"name"`
	SPIFFEIDPattern string       `json:"spiffeidPattern"`
	PathPattern     string       `json:"pathPattern"`
	Permissions     []Permission `json:"permissions"`
}

// PolicyPutResponse answers OpPolicyPut: {} on success. SPIKE v0.8 never
// sets ID any more; it is kept for its older clients.
type PolicyPutResponse struct {
	ID  string    `json:"id,omitempty"`
	Err ErrorCode `json:"err,omitempty"`
}

// PolicyGetRequest reads a policy (OpPolicyGet). The field is called "id"
// but carries the policy's name (SPIKE issue #250).
type PolicyGetRequest struct {
	ID string `json:"id"`

	// Name (extension) may carry the name instead of ID, for clients
	// written after the rename. If both are set they must be equal.
	Name string `json:"name,omitempty"`
}

// PolicyGetResponse answers OpPolicyGet with the policy. A missing name
// is 404. (SPIKE v0.8 answers 500 there, a bug its CLI works around by
// listing first; no client depends on it.)
type PolicyGetResponse struct {
	Policy
	Err ErrorCode `json:"err,omitempty"`
}

// Policy is a stored policy as responses show it.
type Policy struct {
	// ID is always "" in SPIKE v0.8: the name is the identifier.
	ID   string `json:"id"`
	Name string `json:"name"`
	// SPIFFEIDPattern's key is misspelt "spiffiedPattern" in SPIKE's
	// responses, and SPIKE's clients decode that spelling.
	SPIFFEIDPattern string       `json:"spiffiedPattern"`
	PathPattern     string       `json:"pathPattern"`
	Permissions     []Permission `json:"permissions"`
	CreatedAt       time.Time    `json:"createdAt"`
	UpdatedAt       time.Time    `json:"updatedAt"`
}

// PolicyDeleteRequest removes a policy (OpPolicyDelete). As for
// PolicyGetRequest, "id" carries the name.
type PolicyDeleteRequest struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"` // extension, as in PolicyGetRequest
}

// PolicyDeleteResponse answers OpPolicyDelete: {} on success, 404 for a
// missing name (SPIKE v0.8: 500).
type PolicyDeleteResponse struct {
	Err ErrorCode `json:"err,omitempty"`
}

// PolicyListRequest lists policies (OpPolicyList). If SPIFFEIDPattern is
// not empty, only policies whose pattern is that exact string are listed;
// otherwise, if PathPattern is not empty, likewise for path patterns;
// otherwise all. These are string comparisons, not regex matches. SPIKE's
// SDK sends both keys, usually empty.
type PolicyListRequest struct {
	SPIFFEIDPattern string `json:"spiffeidPattern"`
	PathPattern     string `json:"pathPattern"`
}

// PolicyListResponse answers OpPolicyList. Servers send [] rather than
// null when there are none.
type PolicyListResponse struct {
	Policies []PolicyListItem `json:"policies"`
	Err      ErrorCode        `json:"err,omitempty"`
}

// PolicyListItem is one listed policy. ID is "" as in [Policy].
type PolicyListItem struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Op returns OpPolicyPut.
func (PolicyPutRequest) Op() Op { return OpPolicyPut }

// Validate checks the name, both patterns and the permissions.
func (r PolicyPutRequest) Validate() error {
	if err := ValidatePolicyName(r.Name); err != nil {
		return err
	}
	if err := ValidateSPIFFEIDPattern(r.SPIFFEIDPattern); err != nil {
		return err
	}
	if err := ValidatePathPattern(r.PathPattern); err != nil {
		return err
	}
	return ValidatePermissions(r.Permissions)
}

// Op returns OpPolicyGet.
func (PolicyGetRequest) Op() Op { return OpPolicyGet }

// PolicyName returns the name of the policy asked for.
func (r PolicyGetRequest) PolicyName() string { return policyName(r.ID, r.Name) }

// Validate checks the name.
func (r PolicyGetRequest) Validate() error { return validatePolicyRef(r.ID, r.Name) }

// Op returns OpPolicyDelete.
func (PolicyDeleteRequest) Op() Op { return OpPolicyDelete }

// PolicyName returns the name of the policy to delete.
func (r PolicyDeleteRequest) PolicyName() string { return policyName(r.ID, r.Name) }

// Validate checks the name.
func (r PolicyDeleteRequest) Validate() error { return validatePolicyRef(r.ID, r.Name) }

// Op returns OpPolicyList.
func (PolicyListRequest) Op() Op { return OpPolicyList }

// Validate checks only the filters' lengths: a filter is compared, not
// compiled, and one longer than any stored pattern could only match
// nothing.
func (r PolicyListRequest) Validate() error {
	if len(r.SPIFFEIDPattern) > MaxSPIFFEIDLength {
		return invalid("spiffeidPattern", "too long")
	}
	if len(r.PathPattern) > MaxPathPatternLength {
		return invalid("pathPattern", "too long")
	}
	return nil
}

func policyName(id, name string) string {
	if name != "" {
		return name
	}
	return id
}

func validatePolicyRef(id, name string) error {
	switch {
	case name == "":
		return validatePolicyName("id", id)
	case id != "" && id != name:
		return invalid("name", `differs from "id"`)
	}
	return validatePolicyName("name", name)
}
