package pilot

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"syscall"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// Exit codes: one rule for every command, stated in `spike --help`
// (description) and the package documentation. SPIKE v0.8 exits 0 when
// Nexus refuses; spike does not.
const (
	exitOK     = 0
	exitFailed = 1 // the operation was tried and failed: refused, not found, unreachable, unverified, cancelled
	exitUsage  = 2 // the command line was wrong, a file it names included; nothing was done
)

// usageError is a mistake in the command line found after parsing: a bad
// KEY=VALUE pair, a missing --yes, a file it names that cannot be read.
// It exits 2, like a parse error.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// identityError: the command could not get its own SVID, so it never
// reached Nexus.
type identityError struct{ err error }

func (i *identityError) Error() string {
	return fmt.Sprintf("no identity to call Nexus with (%v): point --svid-dir (SPIKE_SVID_DIR) at spiffe-helper's files, or SPIFFE_ENDPOINT_SOCKET at a SPIRE agent", strings.TrimPrefix(i.err.Error(), "sdk: "))
}

func (i *identityError) Unwrap() error { return i.err }

// newClientError is why the command got no client: a configuration the
// SDK cannot use (a flag or environment variable: a usage error, exit 2),
// or no identity.
func newClientError(err error) error {
	if errors.Is(err, sdk.ErrConfig) {
		return &usageError{msg: strings.TrimPrefix(err.Error(), "sdk: ")}
	}
	return &identityError{err: err}
}

// exitCodeOf is the exit code for a command's error: 2 for a usage error
// (including arguments the SDK refused before sending anything), 1 for
// everything else.
func exitCodeOf(err error) int {
	var u *usageError
	var ie *identityError
	var se *sdk.Error
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &u):
		return exitUsage
	case errors.As(err, &ie):
		return exitFailed // the SVID is the environment's, not the command line's
	case namedFileError(err):
		return exitUsage
	case errors.As(err, &se) && localRefusal(se):
		return exitUsage
	}
	return exitFailed
}

// namedFileError reports an error opening, reading or writing a file a
// command was given (an input, a key, a checkpoint, an output and its
// directory): missing, a directory, or not ours to read or write. Every
// such error carries the file's path (an *fs.PathError), so the message
// names it. Other file errors (a full disk) are failures of the
// operation.
func namedFileError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && (errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) ||
		errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTDIR))
}

// localRefusal: the SDK checked the arguments and sent nothing.
func localRefusal(se *sdk.Error) bool {
	return se.Status == 0 && se.Code == api.CodeBadRequest
}

// explain turns a command's error into one line that says what happened
// and what to do next. Nothing in it comes from a secret value: the SDK's
// errors name operations and paths only.
func (e *env) explain(err error) string {
	var se *sdk.Error
	if errors.As(err, &se) {
		return e.explainCall(se)
	}
	return err.Error()
}

func (e *env) explainCall(se *sdk.Error) string {
	op, target := se.Op, se.Path
	switch {
	case localRefusal(se):
		return fmt.Sprintf("%s (see '%s --help')", invalidText(se.Err), e.command)
	case errors.Is(se, sdk.ErrBadAnswer):
		return fmt.Sprintf("Nexus sent an answer this client cannot read: %s: is --nexus-url (SPIKE_NEXUS_URL) a Nexus of this version of spike?",
			badAnswerText(se.Err))
	case se.Status == 0 && errors.Is(se, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing is listening at %s: is Nexus running? (start one with spike dev, or point --nexus-url or SPIKE_NEXUS_URL at it)", e.g.NexusURL)
	case se.Status == 0:
		return fmt.Sprintf("cannot reach Nexus at %s: %v: check --nexus-url (SPIKE_NEXUS_URL) and that Nexus is running",
			e.g.NexusURL, strings.TrimPrefix(fmt.Sprint(se.Err), "transport: "))
	case se.Reason != "":
		if text := reasonText(se); text != "" {
			return text
		}
	}
	switch {
	case errors.Is(se, sdk.ErrNotFound):
		return notFoundText(op, target)
	case errors.Is(se, sdk.ErrUnauthorized):
		return e.unauthorizedText(op, target)
	case errors.Is(se, sdk.ErrNotReady):
		if op == api.OpOperatorRecover {
			return fmt.Sprintf("Nexus %s: it has no root key to give (restore it first with spike operator restore)", notReady(se))
		}
		waited := ""
		if e.g.RetryWait > 0 {
			waited = fmt.Sprintf(" after --retry-wait %s", e.g.RetryWait)
		}
		return fmt.Sprintf("Nexus at %s %s%s: wait for it, or unseal it with spike operator restore", e.g.NexusURL, notReady(se), waited)
	case errors.Is(se, sdk.ErrConflict):
		return conflictText(op, target)
	case errors.Is(se, api.CodeDecryptionFailed), op == api.OpCipherDecrypt && se.Status == http.StatusInternalServerError:
		return "the ciphertext does not decrypt under Nexus's key: it was altered, truncated, or made by another Nexus"
	case errors.Is(se, sdk.ErrBadRequest):
		return badRequestText(op, se)
	}
	return fmt.Sprintf("Nexus failed (%d %s): see its log", se.Status, se.Code)
}

// invalidText is an argument the SDK refused, without the api package's
// prefix: "invalid argument: path: must not start with '/' (did you mean
// "a/b"?)".
func invalidText(err error) string {
	var fe *api.FieldError
	if errors.As(err, &fe) {
		return fmt.Sprintf("invalid argument: %s: %s", fe.Field, fe.Reason)
	}
	return "invalid argument: " + strings.TrimPrefix(fmt.Sprint(err), "api: ")
}

// reasonText explains a refusal Nexus gave a reason for (an api.Problem),
// with its message and the current version where the reason has them;
// "" leaves it to the explanation by operation and status.
func reasonText(se *sdk.Error) string {
	target, msg := se.Path, oneLine(se.Message)
	current := func(format string) string {
		if se.CurrentVersion == nil {
			return ""
		}
		return fmt.Sprintf(format, *se.CurrentVersion)
	}
	switch se.Reason {
	case api.ReasonCASMismatch:
		if msg == "" {
			msg = "the current version is not the one --cas named"
			if se.CurrentVersion != nil {
				msg = fmt.Sprintf("the current version is %d, not the one --cas named", *se.CurrentVersion)
			}
		}
		return fmt.Sprintf("check-and-set refused at %s: %s; read it (spike secret get %s) and, if your change still applies, retry%s",
			target, msg, target, current(" with --cas %d"))
	case api.ReasonCASRequired:
		next := "pass --cas with its current version"
		if se.CurrentVersion != nil {
			next = fmt.Sprintf("pass --cas %d (its current version) after reading it", *se.CurrentVersion)
		}
		return fmt.Sprintf("%s requires check-and-set: %s", target, next)
	case api.ReasonTooLarge:
		if msg == "" {
			msg = "the keys and values are larger than Nexus accepts in a version (1 MiB unless its --max-secret-size says otherwise)"
		}
		return fmt.Sprintf("Nexus refused the write to %s: %s", target, msg)
	}
	if msg == "" {
		return ""
	}
	switch se.Reason {
	case api.ReasonInvalid:
		return fmt.Sprintf("Nexus refused the request: %s", msg)
	case api.ReasonDestroyed:
		return withTarget(target, msg) + "; destroyed data cannot come back"
	case api.ReasonDeleted:
		return fmt.Sprintf("%s; see spike secret metadata get %s, then spike secret undelete %s --versions N", withTarget(target, msg), target, target)
	}
	return withTarget(target, msg)
}

// withTarget is Nexus's message, led by the path or policy it is about
// unless it names it already.
func withTarget(target, msg string) string {
	if target != "" && !strings.Contains(msg, target) {
		return target + ": " + msg
	}
	return msg
}

// badAnswerText is what was wrong with an answer, without the layers'
// prefixes.
func badAnswerText(err error) string {
	msg := strings.NewReplacer("sdk: ", "", "transport: ", "").Replace(fmt.Sprint(err))
	return strings.TrimPrefix(msg, sdk.ErrBadAnswer.Error()+": ")
}

func notFoundText(op api.Op, target string) string {
	switch op {
	case api.OpSecretGet, api.OpSecretSettingsGet:
		return fmt.Sprintf("no secret at %s, or that version is deleted or destroyed (spike secret list shows the paths)", target)
	case api.OpSecretMetadataGet, api.OpSecretPatch, api.OpSecretMetadataDelete:
		return fmt.Sprintf("no secret at %s (spike secret list shows the paths)", target)
	case api.OpSecretRollback:
		return fmt.Sprintf("no secret at %s, or that version is not readable (spike secret metadata get %s shows them)", target, target)
	case api.OpSecretDelete, api.OpSecretDestroy:
		return fmt.Sprintf("no secret at %s, or none of those versions exists (spike secret metadata get %s shows them)", target, target)
	case api.OpSecretUndelete:
		return fmt.Sprintf("nothing to undelete at %s: no such path, or those versions are not deleted (spike secret metadata get %s shows them)", target, target)
	case api.OpPolicyGet, api.OpPolicyDelete:
		return fmt.Sprintf("no policy named %q (spike policy list shows them)", target)
	case api.OpAuditCheckpoint:
		return "the log has no signed checkpoint yet: try again in a second"
	case api.OpAuditProof, api.OpAuditConsistency:
		return "the log has no such event or size yet (spike audit checkpoint shows its size)"
	case api.OpRestorePointApply, api.OpRestorePlan:
		return "no such point in the log: it is beyond the log's end or before its first event (spike restore list shows the points)"
	}
	if target != "" {
		return fmt.Sprintf("%s: not found", target)
	}
	return "not found"
}

// unauthorizedText names who was refused and what would grant it.
func (e *env) unauthorizedText(op api.Op, target string) string {
	who := "this identity"
	if e.client != nil {
		if id, err := e.client.SPIFFEID(); err == nil {
			who = id.String()
		}
	}
	var need string
	switch op {
	case api.OpOperatorRecover:
		return fmt.Sprintf("Nexus refused %s: recover needs the spike/pilot/role/recover identity", who)
	case api.OpOperatorRestore:
		return fmt.Sprintf("Nexus refused %s: restore needs the spike/pilot/role/restore identity", who)
	case api.OpSecretPut, api.OpSecretPatch, api.OpSecretRollback, api.OpSecretDelete, api.OpSecretUndelete, api.OpSecretDestroy,
		api.OpSecretSettingsPut, api.OpSecretMetadataDelete:
		need = "write on " + target
	case api.OpSecretGet, api.OpSecretMetadataGet, api.OpSecretSettingsGet:
		need = "read on " + target
	case api.OpSecretList:
		need = "list on " + api.SystemPathSecret
	case api.OpPolicyPut, api.OpPolicyDelete:
		need = "write on " + api.SystemPathACL
	case api.OpPolicyGet:
		need = "read on " + api.SystemPathACL
	case api.OpPolicyList:
		need = "list on " + api.SystemPathACL
	case api.OpCipherEncrypt, api.OpCipherDecrypt:
		need = "execute on " + api.SystemPathCipher
	case api.OpSecretHistory, api.OpAuditList, api.OpAuditCheckpoint, api.OpAuditProof, api.OpAuditConsistency,
		api.OpRestorePointList:
		need = "read on " + api.SystemPathAudit + " (the auditor role)"
	case api.OpRestorePointApply:
		need = "write on every path restored (super on " + api.SystemPathSecret + " to restore every path)"
	case api.OpRestorePlan:
		need = "read on " + api.SystemPathAudit + " (the auditor role), or write on every path restored (super on " + api.SystemPathSecret + " for every path)"
	default:
		return fmt.Sprintf("Nexus refused %s", who)
	}
	return fmt.Sprintf("Nexus refused %s: no policy grants it %s; ask an admin for one (spike policy create)", who, need)
}

func conflictText(op api.Op, target string) string {
	switch op {
	case api.OpOperatorRestore:
		return "Nexus is already unsealed: nothing to restore"
	case api.OpRestorePointApply:
		return "Nexus refused the restore: data it would bring back has been destroyed since that point; restore to a later point or leave those paths out"
	case api.OpSecretPut, api.OpSecretPatch, api.OpSecretRollback:
		return fmt.Sprintf("check-and-set refused: the current version of %s is not the one --cas named, or the path requires --cas; read it and retry", target)
	}
	return fmt.Sprintf("Nexus refused the change to %s as a conflict: read the current state and retry", target)
}

func badRequestText(op api.Op, se *sdk.Error) string {
	switch op {
	case api.OpOperatorRestore:
		return "Nexus refused the shard: see its log (a shard that matches no recorded commitment, or shards that rebuild a key that does not open the log, are refused)"
	case api.OpSecretPut, api.OpSecretPatch, api.OpSecretRollback:
		return fmt.Sprintf("Nexus refused the write to %s: the path requires check-and-set (pass --cas with its current version), or the keys and values are larger than Nexus accepts in a version (1 MiB unless its --max-secret-size says otherwise)", se.Path)
	case api.OpPolicyPut:
		return "Nexus refused the policy: check the patterns (RE2; a policy reaching spike/system/* needs a SPIFFE ID pattern anchored with ^ and $) and the permissions"
	}
	return fmt.Sprintf("Nexus refused the request as invalid (%s): check the arguments (see --help)", se.Code)
}

// flatten makes an error message one line: a multi-line message (a
// joined error, say) is folded with "; ".
func flatten(msg string) string {
	lines := strings.FieldsFunc(msg, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
