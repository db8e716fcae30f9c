package api

import (
	"errors"
	"net/http"
)

// ErrorCode is a code SPIKE puts in a response: in the "err" field of a
// JSON body, or as the text of a stream-mode cipher error. It implements
// error, so a code can be wrapped and found with errors.Is and [CodeOf].
type ErrorCode string

// Codes in the "err" field of JSON responses. SPIKE v0.8 emits exactly
// the first five.
const (
	CodeBadRequest   ErrorCode = "api_bad_request"     // 400
	CodeUnauthorized ErrorCode = "access_unauthorized" // 401
	CodeNotFound     ErrorCode = "api_not_found"       // 404
	CodeInternal     ErrorCode = "api_internal_error"  // 500
	CodeNotReady     ErrorCode = "state_not_ready"     // 503

	// CodeConflict is an extension: a check-and-set write whose expected
	// version is not the current one (409). SPIKE v0.8 clients never
	// send check-and-set fields, so they never see it.
	CodeConflict ErrorCode = "api_conflict"

	// CodeBusy is an extension: the server is doing as much of this kind
	// of work as it allows at once (a restore running, too many audit
	// followers for one caller), so it refuses rather than queue without
	// bound (429). The caller may try again later.
	CodeBusy ErrorCode = "api_busy"
)

// Codes sent as plain text (text/plain) by stream-mode cipher routes.
const (
	CodeCipherNotAvailable    ErrorCode = "crypto_cipher_not_available"    // 500
	CodeFailedToReadVersion   ErrorCode = "crypto_failed_to_read_version"  // 400
	CodeUnsupportedVersion    ErrorCode = "crypto_unsupported_version"     // 400
	CodeFailedToReadNonce     ErrorCode = "crypto_failed_to_read_nonce"    // 400
	CodeDataReadFailure       ErrorCode = "data_read_failure"              // 400
	CodeDecryptionFailed      ErrorCode = "decryption failed"              // 400 (sic: no underscore)
	CodeNonceGenerationFailed ErrorCode = "crypto_nonce_generation_failed" // 500
)

// Codes SPIKE's SDK reports on the client side; no server sends them.
const (
	// CodePeerConnection: a status other than 200, 400, 401, 404, 503.
	CodePeerConnection ErrorCode = "net_peer_connection"
	// CodeGeneralFailure: a 200 body whose "err" is a code the SDK does
	// not know.
	CodeGeneralFailure ErrorCode = "gen_general_failure"
)

// Error returns the code itself.
func (c ErrorCode) Error() string { return string(c) }

// Status returns the HTTP status a response carrying the code has. An
// unknown code is an internal error.
func (c ErrorCode) Status() int {
	switch c {
	case CodeBadRequest, CodeFailedToReadVersion, CodeUnsupportedVersion,
		CodeFailedToReadNonce, CodeDataReadFailure, CodeDecryptionFailed:
		return http.StatusBadRequest
	case CodeUnauthorized:
		return http.StatusUnauthorized
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeBusy:
		return http.StatusTooManyRequests
	case CodeNotReady:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// CodeForStatus returns the code SPIKE's SDK reports for a non-200 status,
// whose body it does not read: 400, 401, 404 and 503 have their own code,
// every other status is a connection failure.
func CodeForStatus(status int) ErrorCode {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusServiceUnavailable:
		return CodeNotReady
	}
	return CodePeerConnection
}

// Decoding and validation failures. All of them are client errors
// ([CodeBadRequest]).
var (
	// ErrTooLarge: the body is longer than the limit.
	ErrTooLarge = errors.New("api: request body too large")
	// ErrMalformed: the body is not one JSON value of the expected shape
	// (empty, syntax error, wrong types, trailing data).
	ErrMalformed = errors.New("api: malformed request body")
	// ErrInvalid: the body decoded, but a field breaks a rule. The error
	// is a *FieldError.
	ErrInvalid = errors.New("api: invalid request")
	// ErrEmptySegment: a secret path starts or ends with '/' or holds
	// "//". It is an ErrInvalid too (see "Secret paths" in the package
	// documentation).
	ErrEmptySegment = errors.New("api: secret path with an empty segment")
)

// FieldError reports a field that breaks a validation rule. Its message
// names the field and the rule, never the field's value, which may be
// secret.
type FieldError struct {
	Field  string // JSON name of the field, e.g. "path" or "values"
	Reason string // what is wrong, without the value
	// Rule, if set, is the sentinel of the rule broken, such as
	// ErrEmptySegment, for callers that treat it apart.
	Rule error
}

func (e *FieldError) Error() string { return "api: invalid " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalid, and Rule when it is set.
func (e *FieldError) Unwrap() []error {
	if e.Rule != nil {
		return []error{ErrInvalid, e.Rule}
	}
	return []error{ErrInvalid}
}

func invalid(field, reason string) error { return &FieldError{Field: field, Reason: reason} }

// CodeOf returns the code to answer err with: the ErrorCode it wraps, if
// any; CodeBadRequest for decoding and validation failures; otherwise
// CodeInternal.
func CodeOf(err error) ErrorCode {
	var c ErrorCode
	switch {
	case err == nil:
		return ""
	case errors.As(err, &c):
		return c
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrMalformed), errors.Is(err, ErrInvalid):
		return CodeBadRequest
	}
	return CodeInternal
}

// ErrorResponse is the smallest error body: {"err":"<code>"}. SPIKE sends
// it for unknown routes, wrong methods, and every route whose response
// has no other fields.
type ErrorResponse struct {
	Err ErrorCode `json:"err,omitempty"`
}

// NewErrorResponse returns the error body for code.
func NewErrorResponse(code ErrorCode) ErrorResponse { return ErrorResponse{Err: code} }

// ErrorResponseFor returns the body SPIKE sends when op fails with code:
// the operation's response with every other field zero, e.g.
// {"data":null,"err":"api_not_found"} for a secret read. For an unknown
// op it returns [NewErrorResponse](code).
func ErrorResponseFor(op Op, code ErrorCode) any {
	switch op {
	case OpSecretPut:
		return SecretPutResponse{Err: code}
	case OpSecretGet:
		return SecretGetResponse{Err: code}
	case OpSecretDelete:
		return SecretDeleteResponse{Err: code}
	case OpSecretUndelete:
		return SecretUndeleteResponse{Err: code}
	case OpSecretList:
		return SecretListResponse{Err: code}
	case OpSecretMetadataGet:
		return SecretMetadataGetResponse{Err: code}
	case OpPolicyPut:
		return PolicyPutResponse{Err: code}
	case OpPolicyGet:
		return PolicyGetResponse{Err: code}
	case OpPolicyDelete:
		return PolicyDeleteResponse{Err: code}
	case OpPolicyList:
		return PolicyListResponse{Err: code}
	case OpCipherEncrypt:
		return CipherEncryptResponse{Err: code}
	case OpCipherDecrypt:
		return CipherDecryptResponse{Err: code}
	case OpBootstrapVerify:
		return BootstrapVerifyResponse{Err: code}
	case OpOperatorRecover:
		return RecoverResponse{Err: code}
	case OpOperatorRestore:
		return RestoreResponse{Err: code}
	case OpShardContribute:
		return ShardContributeResponse{Err: code}
	case OpShardGet:
		return ShardGetResponse{Err: code}
	case OpSecretDestroy:
		return SecretDestroyResponse{Err: code}
	case OpSecretSettingsPut:
		return SecretSettingsPutResponse{Err: code}
	case OpSecretSettingsGet:
		return SecretSettingsGetResponse{Err: code}
	case OpSecretHistory:
		return SecretHistoryResponse{Err: code}
	case OpAuditList:
		return AuditListResponse{Err: code}
	case OpAuditCheckpoint:
		return AuditCheckpointResponse{Err: code}
	case OpAuditProof:
		return AuditProofResponse{Err: code}
	case OpAuditConsistency:
		return AuditConsistencyResponse{Err: code}
	case OpRestorePointApply:
		return RestorePointApplyResponse{Err: code}
	case OpRestorePointList:
		return RestorePointListResponse{Err: code}
	case OpBootstrapStatus:
		return BootstrapStatusResponse{Err: code}
	case OpSecretPatch:
		return SecretPatchResponse{Err: code}
	case OpSecretRollback:
		return SecretRollbackResponse{Err: code}
	case OpSecretMetadataDelete:
		return SecretMetadataDeleteResponse{Err: code}
	case OpSystemStatus:
		return SystemStatusResponse{Err: code}
	case OpExportStart:
		return ExportStartResponse{Err: code}
	case OpExportGet:
		return ExportGetResponse{Err: code}
	case OpAuditTail:
		return AuditTailLine{Err: code}
	case OpRestorePlan:
		return RestorePlanResponse{Err: code}
	case OpClusterList:
		return ClusterListResponse{Err: code}
	case OpClusterAdd:
		return ClusterAddResponse{Err: code}
	case OpClusterRemove:
		return ClusterRemoveResponse{Err: code}
	case OpOperatorBackup:
		return BackupRefusal{Err: code}
	}
	return NewErrorResponse(code)
}
