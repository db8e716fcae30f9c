package api

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on input from outside. The first four and the character sets
// below are SPIKE v0.8's (its SDK's validation package); the others are
// spike's.
const (
	MaxPathLength        = 500 // secret paths
	MaxPathPatternLength = 500 // policy path patterns
	MaxNameLength        = 250 // policy names and secret value keys
	MaxCipherPayload     = 65536

	// MaxSPIFFEIDLength bounds SPIFFE IDs and SPIFFE-ID patterns (the
	// SPIFFE standard's limit for an ID; SPIKE has none for patterns).
	MaxSPIFFEIDLength = 2048
	// MaxVersion is the largest secret version number accepted.
	MaxVersion = 1<<31 - 1
	// MaxPageSize bounds the limit of a listing request (extensions).
	MaxPageSize = 1000
	// MaxVersionsListed bounds the versions one delete, undelete or
	// destroy may list: far more than a path keeps (10 by default),
	// few enough that no request makes a large event.
	MaxVersionsListed = 1000

	// MaxPathPatternProgram and MaxSPIFFEIDPatternProgram bound the
	// compiled size of a policy's patterns, in RE2 instructions. RE2
	// matches in time linear in the subject, but proportional to the
	// program too, and counted repetitions multiply: (a*a*a*a*){1000}b is
	// 25 bytes and 18,000 instructions, tens of milliseconds per match
	// against every caller's path. The bounds admit any literal pattern
	// of the longest allowed length, and ordinary wildcards many times
	// over.
	MaxPathPatternProgram     = 1024
	MaxSPIFFEIDPatternProgram = 2560

	// Custom metadata bounds (extension), as in Vault's KV v2.
	MaxCustomMetadataKeys        = 64
	MaxCustomMetadataKeyLength   = 128
	MaxCustomMetadataValueLength = 512
)

// The shape rules. Compiled once; a *regexp.Regexp is safe for concurrent
// use and never changes.
var (
	// A secret path: letters, digits and ._-/()?+*|[]{}\ — no ^ $ : @ or
	// space.
	secretPathRE = regexp.MustCompile(`^[a-zA-Z0-9._\-/()?+*|[\]{}\\]+$`)
	// A policy name or a secret value key.
	nameRE = regexp.MustCompile(`^[a-zA-Z0-9_\- ]+$`)
	// A policy path pattern: the secret path characters plus ^ and $.
	pathPatternRE = regexp.MustCompile(`^[a-zA-Z0-9._\-/^$()?+*|[\]{}\\]+$`)
	// A policy SPIFFE-ID pattern must describe spiffe:// IDs: an optional
	// ^, "spiffe://", a trust domain part, path segments, an optional $.
	spiffeIDPatternRE = regexp.MustCompile(`^\^?spiffe://[\\a-zA-Z0-9.\-*()+?\[\]]+(/[\\/a-zA-Z0-9._\-*()+?\[\]]+)*\$?$`)
	// A SPIFFE ID.
	spiffeIDRE = regexp.MustCompile(`^spiffe://[a-zA-Z0-9.-]+(/[a-zA-Z0-9._-]+)*$`)
	// An event type name (extension filters).
	eventTypeRE = regexp.MustCompile(`^[a-z0-9._-]{1,64}$`)
)

func checkLength(field string, s string, maxLen int) error {
	if s == "" {
		return invalid(field, "empty")
	}
	if len(s) > maxLen {
		return invalid(field, fmt.Sprintf("%d bytes, longer than %d", len(s), maxLen))
	}
	return nil
}

// ValidateSecretPath checks a secret path: 1–500 bytes of letters, digits
// and ._-/()?+*|[]{}\, made of non-empty segments: a path that starts or
// ends with '/' or holds "//" is refused, not normalised (see the package
// documentation, "Secret paths"). The error suggests the path meant.
func ValidateSecretPath(path string) error { return validateSecretPath("path", path) }

func validateSecretPath(field, path string) error {
	if err := validateStoredPath(field, path); err != nil {
		return err
	}
	return CheckSegments(field, path)
}

// ValidateStoredSecretPath checks a path that names a secret already
// stored, as a read, delete or restore does: the rules of
// [ValidateSecretPath] but the one on empty segments, which Nexus applies
// only when nothing is stored at the path, so that a legacy path stays
// reachable (see [StoredPathsRequest]).
func ValidateStoredSecretPath(path string) error { return validateStoredPath("path", path) }

func validateStoredPath(field, path string) error {
	if err := checkLength(field, path, MaxPathLength); err != nil {
		return err
	}
	if !secretPathRE.MatchString(path) {
		return invalid(field, `only letters, digits and ._-/()?+*|[]{}\ are allowed`)
	}
	return nil
}

// StoredPathsRequest is a request that only reaches what is, or was,
// stored at the secret paths it names: a read, delete, undelete,
// destroy, metadata read or removal, history, or restore. Its Validate
// accepts a legacy path (one with an empty segment, stored before spike
// refused them); Nexus refuses it, as [CheckSegments] does, when nothing
// was ever stored there. Writes of a new version are not such requests:
// a legacy path takes none.
type StoredPathsRequest interface {
	Request
	// StoredPaths returns the JSON field that names the paths, and
	// the paths ("" left out).
	StoredPaths() (field string, paths []string)
}

// validatePathPrefix checks the start of a secret path, as a filter
// gives it: the rules of a path, except that it may end with '/' ("a/"
// keeps a/b but not ab).
func validatePathPrefix(field, prefix string) error {
	if err := checkLength(field, prefix, MaxPathLength); err != nil {
		return err
	}
	if !secretPathRE.MatchString(prefix) {
		return invalid(field, `only letters, digits and ._-/()?+*|[]{}\ are allowed`)
	}
	if trimmed, ok := strings.CutSuffix(prefix, "/"); ok && trimmed != "" {
		prefix = trimmed
	}
	return CheckSegments(field, prefix)
}

// CheckSegments refuses an empty segment in field's path: a leading,
// trailing or doubled '/'. The error wraps [ErrEmptySegment], and its
// message quotes the cleaned path, which is safe to show: a path is a
// name, never a secret, and it has passed the character rule.
func CheckSegments(field, path string) error {
	where := segmentRule(path)
	if where == "" {
		return nil
	}
	clean := CleanSecretPath(path)
	if clean == "" {
		return &FieldError{Field: field, Reason: where + ": a path needs at least one name between slashes", Rule: ErrEmptySegment}
	}
	return &FieldError{Field: field, Reason: fmt.Sprintf("%s (did you mean %q?)", where, clean), Rule: ErrEmptySegment}
}

// segmentRule says which part of the segment rule path breaks, "" if
// none.
func segmentRule(path string) string {
	switch {
	case strings.HasPrefix(path, "/"):
		return "must not start with '/'"
	case strings.HasSuffix(path, "/"):
		return "must not end with '/'"
	case strings.Contains(path, "//"):
		return `must not hold "//"`
	}
	return ""
}

// LegacyPathError refuses a new version at path, a legacy path: one with
// an empty segment that holds a secret stored before spike refused such
// paths. Suggesting the cleaned path, as [CheckSegments] does, would
// mislead here: it names a different secret (cleanStored says whether it
// holds one). The message says how to move the secret instead.
func LegacyPathError(field, path string, cleanStored bool) error {
	clean := CleanSecretPath(path)
	reason := fmt.Sprintf("%s; %q is a legacy path, stored before that rule: it can still be read, deleted and restored, "+
		"but takes no new versions. Move it: copy its data to a path without empty segments", segmentRule(path), path)
	switch {
	case clean == "":
	case cleanStored:
		reason += fmt.Sprintf(" (%q is a different secret, which exists)", clean)
	default:
		reason += fmt.Sprintf(" such as %q", clean)
	}
	reason += `, then remove the legacy path with metadata delete (see "Legacy paths" in docs/operator.md)`
	return &FieldError{Field: field, Reason: reason, Rule: ErrEmptySegment}
}

// CleanSecretPath returns path without leading, trailing or doubled
// slashes: the path [ValidateSecretPath] suggests for one it refuses.
func CleanSecretPath(path string) string {
	segs := strings.FieldsFunc(path, func(r rune) bool { return r == '/' })
	return strings.Join(segs, "/")
}

// ValidateValueKey checks the key of one value of a secret: 1–250 bytes of
// letters, digits, '-', '_' and space (so "db.host" is not a key).
func ValidateValueKey(key string) error {
	switch {
	case key == "":
		return invalid("values", "empty key")
	case len(key) > MaxNameLength:
		return invalid("values", fmt.Sprintf("key of %d bytes, longer than %d", len(key), MaxNameLength))
	case !nameRE.MatchString(key):
		return invalid("values", "keys may hold only letters, digits, '-', '_' and space")
	}
	return nil
}

// ValidateValues checks every key of a secret's values. Values themselves
// are unrestricted, and so is their number; an empty or nil map is a
// valid (empty) secret.
func ValidateValues(values map[string]string) error {
	for k := range values {
		if err := ValidateValueKey(k); err != nil {
			return err
		}
	}
	return nil
}

// ValidateVersion checks a version number in a request: 0 means the
// current version, otherwise 1 to MaxVersion.
func ValidateVersion(v int) error { return validateVersion("version", v) }

func validateVersion(field string, v int) error {
	if v < 0 || v > MaxVersion {
		return invalid(field, "must be between 0 and "+strconv.Itoa(MaxVersion))
	}
	return nil
}

// ValidateVersions checks a list of versions: at most
// [MaxVersionsListed] of them, each as for [ValidateVersion] (0 means the
// current version). An empty or nil list is valid.
func ValidateVersions(vs []int) error {
	if err := checkVersionsListed(vs); err != nil {
		return err
	}
	for _, v := range vs {
		if err := validateVersion("versions", v); err != nil {
			return err
		}
	}
	return nil
}

func checkVersionsListed(vs []int) error {
	if len(vs) > MaxVersionsListed {
		return invalid("versions", fmt.Sprintf("%d listed, more than %d", len(vs), MaxVersionsListed))
	}
	return nil
}

// ValidatePolicyName checks a policy name: 1–250 bytes of letters,
// digits, '-', '_' and space.
func ValidatePolicyName(name string) error { return validatePolicyName("name", name) }

func validatePolicyName(field, name string) error {
	if err := checkLength(field, name, MaxNameLength); err != nil {
		return err
	}
	if !nameRE.MatchString(name) {
		return invalid(field, "only letters, digits, '-', '_' and space are allowed")
	}
	return nil
}

// ValidateSPIFFEID checks a SPIFFE ID as SPIKE does:
// spiffe://trust-domain/path with letters, digits, '.' and '-' in the
// trust domain and letters, digits and ._- in each path segment, at most
// 2048 bytes.
func ValidateSPIFFEID(id string) error { return validateSPIFFEID("spiffeid", id) }

func validateSPIFFEID(field, id string) error {
	if err := checkLength(field, id, MaxSPIFFEIDLength); err != nil {
		return err
	}
	if !spiffeIDRE.MatchString(id) {
		return invalid(field, "not a SPIFFE ID (spiffe://trust-domain/path)")
	}
	return nil
}

// ValidateSPIFFEIDPattern checks a policy's SPIFFE-ID pattern: at most
// 2048 bytes, of SPIKE's shape (an optional ^, "spiffe://", then letters,
// digits and .-*()+?[]\ with '/'-separated segments that may also hold
// '_', and an optional $ — so a bare ".*" is refused; "^spiffe://.*$"
// matches every ID), and a valid RE2 expression. Matching is unanchored,
// so ^ and $ are the policy author's job.
func ValidateSPIFFEIDPattern(pattern string) error {
	const field = "spiffeidPattern"
	if err := checkLength(field, pattern, MaxSPIFFEIDLength); err != nil {
		return err
	}
	if !spiffeIDPatternRE.MatchString(pattern) {
		return invalid(field, "must be a pattern of spiffe:// IDs")
	}
	return checkProgram(field, pattern, MaxSPIFFEIDPatternProgram)
}

// ValidatePathPattern checks a policy's path pattern: 1–500 bytes of
// letters, digits and ._-/^$()?+*|[]{}\, and a valid RE2 expression.
func ValidatePathPattern(pattern string) error {
	const field = "pathPattern"
	if err := checkLength(field, pattern, MaxPathPatternLength); err != nil {
		return err
	}
	if !pathPatternRE.MatchString(pattern) {
		return invalid(field, `only letters, digits and ._-/^$()?+*|[]{}\ are allowed`)
	}
	return checkProgram(field, pattern, MaxPathPatternProgram)
}

// checkProgram checks that pattern is a valid RE2 expression whose
// compiled program has at most limit instructions. It parses and
// simplifies as regexp.Compile does, so the count is that of the
// program matching runs.
func checkProgram(field, pattern string, limit int) error {
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return invalid(field, regexpProblem(err))
	}
	prog, err := syntax.Compile(tree.Simplify())
	if err != nil {
		return invalid(field, regexpProblem(err))
	}
	if n := len(prog.Inst); n > limit {
		return invalid(field, fmt.Sprintf("too costly to match: it compiles to %d RE2 instructions, more than %d; "+
			"nested or counted repetitions ({n}) multiply, so write them more simply", n, limit))
	}
	return nil
}

// regexpProblem says what is wrong in a pattern that does not compile,
// as RE2 reports it ("missing closing ): `(a`"). Patterns are not
// secrets: the part of the pattern at fault is quoted.
func regexpProblem(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("not a valid regular expression: %s: `%s`", se.Code, se.Expr)
	}
	return "not a valid regular expression: " + strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}

// ValidatePermissions checks a policy's permissions: at least one, each
// one of read, write, list, execute, super, or admin (extension).
// Repeats are allowed.
func ValidatePermissions(perms []Permission) error {
	if len(perms) == 0 {
		return invalid("permissions", "none given")
	}
	for _, p := range perms {
		if !p.Valid() {
			return invalid("permissions", "unknown permission (want read, write, list, execute, super or admin)")
		}
	}
	return nil
}

// ValidatePlaintext checks the size of a plaintext to encrypt: at most
// MaxCipherPayload bytes. (SPIKE applies its ciphertext limit here.)
func ValidatePlaintext(p []byte) error { return validatePayload("plaintext", len(p)) }

// ValidateCiphertext checks the size of a ciphertext (with its tag) to
// decrypt: at most MaxCipherPayload bytes.
func ValidateCiphertext(c []byte) error { return validatePayload("ciphertext", len(c)) }

func validatePayload(field string, n int) error {
	if n > MaxCipherPayload {
		return invalid(field, fmt.Sprintf("%d bytes, more than %d", n, MaxCipherPayload))
	}
	return nil
}

// ValidateNonce checks an AES-GCM nonce: exactly NonceSize bytes.
func ValidateNonce(nonce []byte) error {
	if len(nonce) != NonceSize {
		return invalid("nonce", fmt.Sprintf("%d bytes, want %d", len(nonce), NonceSize))
	}
	return nil
}

// ValidateCipherVersion checks the version of a cipher envelope: only
// CipherVersion exists.
func ValidateCipherVersion(v byte) error {
	if v != CipherVersion {
		return invalid("version", fmt.Sprintf("unsupported, want %d", CipherVersion))
	}
	return nil
}

// ValidateShard checks a shard in a request: present and not all zeros.
func ValidateShard(s *Shard) error {
	if s == nil {
		return invalid("shard", "missing")
	}
	if s.IsZero() {
		return invalid("shard", "all zeros")
	}
	return nil
}

// ValidateShardID checks a shard's ID (its Shamir x-coordinate): 1 to
// MaxShardID.
func ValidateShardID(id int) error {
	if id < 1 || id > MaxShardID {
		return invalid("id", "must be between 1 and "+strconv.Itoa(MaxShardID))
	}
	return nil
}

// ValidateCustomMetadata checks a path's custom metadata (extension): at
// most 64 entries, keys 1–128 bytes and values at most 512 bytes of
// printable UTF-8. Nil and empty are valid.
func ValidateCustomMetadata(m map[string]string) error {
	const field = "customMetadata"
	if len(m) > MaxCustomMetadataKeys {
		return invalid(field, fmt.Sprintf("%d entries, more than %d", len(m), MaxCustomMetadataKeys))
	}
	for k, v := range m {
		if k == "" || len(k) > MaxCustomMetadataKeyLength || !printable(k) {
			return invalid(field, fmt.Sprintf("keys must be 1-%d bytes of printable text", MaxCustomMetadataKeyLength))
		}
		if len(v) > MaxCustomMetadataValueLength || !printable(v) {
			return invalid(field, fmt.Sprintf("values must be at most %d bytes of printable text", MaxCustomMetadataValueLength))
		}
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// validatePage checks the paging fields shared by listing extensions.
func validatePage(limit int, since, until *time.Time) error {
	if limit < 0 || limit > MaxPageSize {
		return invalid("limit", "must be between 0 and "+strconv.Itoa(MaxPageSize))
	}
	if since != nil && until != nil && until.Before(*since) {
		return invalid("until", "before since")
	}
	return nil
}
