package pilot

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	e := &env{command: "spike secret get", g: &globals{Flags: sdk.Flags{NexusURL: "https://nexus:8553"}, RetryWait: 10 * time.Second}}
	call := func(op api.Op, path string, status int, code api.ErrorCode, err error) error {
		return fmt.Errorf("wrapped: %w", &sdk.Error{Op: op, Path: path, Status: status, Code: code, Err: err})
	}
	problem := func(op api.Op, path string, status int, code api.ErrorCode, reason api.Reason, msg string, current *int) error {
		return &sdk.Error{Op: op, Path: path, Status: status, Code: code, Reason: reason, Message: msg, CurrentVersion: current}
	}
	four := 4
	for _, tc := range []struct {
		err  error
		exit int
		want string
	}{
		{call(api.OpSecretGet, "a/b", 404, api.CodeNotFound, nil), 1, "no secret at a/b"},
		{call(api.OpPolicyDelete, "p", 404, api.CodeNotFound, nil), 1, `no policy named "p" (spike policy list shows them)`},
		{call(api.OpSecretUndelete, "a/b", 404, api.CodeNotFound, nil), 1, "nothing to undelete at a/b: no such path, or those versions are not deleted (spike secret metadata get a/b shows them)"},
		// secret metadata get shows every version, deleted ones included.
		{call(api.OpSecretDelete, "a/b", 404, api.CodeNotFound, nil), 1, "(spike secret metadata get a/b shows them)"},
		{call(api.OpSecretDestroy, "a/b", 404, api.CodeNotFound, nil), 1, "(spike secret metadata get a/b shows them)"},
		{call(api.OpSecretPatch, "a/b", 404, api.CodeNotFound, nil), 1, "no secret at a/b (spike secret list shows the paths)"},
		{call(api.OpSecretRollback, "a/b", 404, api.CodeNotFound, nil), 1, "no secret at a/b, or that version is not readable"},
		{call(api.OpSecretMetadataDelete, "a/b", 404, api.CodeNotFound, nil), 1, "no secret at a/b (spike secret list shows the paths)"},
		{call(api.OpSecretPatch, "a/b", 401, api.CodeUnauthorized, nil), 1, "no policy grants it write on a/b"},
		{call(api.OpSecretRollback, "a/b", 401, api.CodeUnauthorized, nil), 1, "no policy grants it write on a/b"},
		{call(api.OpSecretMetadataDelete, "a/b", 401, api.CodeUnauthorized, nil), 1, "no policy grants it write on a/b"},
		{call(api.OpSecretRollback, "a/b", 409, api.CodeConflict, nil), 1, "check-and-set refused"},
		{call(api.OpSecretPatch, "a/b", 400, api.CodeBadRequest, nil), 1, "requires check-and-set"},
		{call(api.OpSecretPut, "a/b", 401, api.CodeUnauthorized, nil), 1, "Nexus refused this identity: no policy grants it write on a/b"},
		{call(api.OpSecretList, "", 401, api.CodeUnauthorized, nil), 1, "list on spike/system/secret"},
		{call(api.OpPolicyList, "", 401, api.CodeUnauthorized, nil), 1, "list on spike/system/acl"},
		{call(api.OpCipherEncrypt, "", 401, api.CodeUnauthorized, nil), 1, "execute on spike/system/cipher/exec"},
		{call(api.OpAuditList, "", 401, api.CodeUnauthorized, nil), 1, "read on spike/system/audit (the auditor role)"},
		{call(api.OpOperatorRecover, "", 401, api.CodeUnauthorized, nil), 1, "recover needs the spike/pilot/role/recover identity"},
		{call(api.OpOperatorRestore, "", 401, api.CodeUnauthorized, nil), 1, "restore needs the spike/pilot/role/restore identity"},
		{call(api.OpSecretGet, "a/b", 503, api.CodeNotReady, nil), 1, "Nexus at https://nexus:8553 is sealed or still starting after --retry-wait 10s: wait for it"},
		{problem(api.OpSecretGet, "a/b", 503, api.CodeNotReady, "", "sealed: 1 of 2 shards", nil), 1, "Nexus at https://nexus:8553 is not ready (sealed: 1 of 2 shards) after --retry-wait 10s"},
		{call(api.OpOperatorRecover, "", 503, api.CodeNotReady, nil), 1, "Nexus is sealed or still starting: it has no root key to give"},
		{call(api.OpOperatorRestore, "", 409, api.CodeConflict, nil), 1, "already unsealed"},
		{call(api.OpSecretPut, "a/b", 409, api.CodeConflict, nil), 1, "check-and-set refused"},
		{call(api.OpSecretPut, "a/b", 400, api.CodeBadRequest, nil), 1, "requires check-and-set"},
		{call(api.OpOperatorRestore, "", 400, api.CodeBadRequest, nil), 1, "Nexus refused the shard"},
		{call(api.OpCipherDecrypt, "", 400, api.CodeDecryptionFailed, nil), 1, "does not decrypt"},
		{call(api.OpCipherDecrypt, "", 500, api.CodeInternal, nil), 1, "does not decrypt"},
		{call(api.OpSecretGet, "a/b", 500, api.CodeInternal, nil), 1, "Nexus failed (500 api_internal_error): see its log"},
		{call(api.OpSecretGet, "a b", 0, api.CodeBadRequest, errors.New(`path: must match ^[a-zA-Z0-9._\-/]+$`)), 2, "invalid argument: path: must match"},
		{call(api.OpSecretGet, "/a", 0, api.CodeBadRequest, api.ValidateSecretPath("/a")), 2, `invalid argument: path: must not start with '/' (did you mean "a"?) (see 'spike secret get --help')`},
		{call(api.OpSecretGet, "a/b", 0, "", fmt.Errorf("transport: dial: %w", syscall.ECONNREFUSED)), 1, "nothing is listening at https://nexus:8553: is Nexus running? (start one with spike dev, or point --nexus-url or SPIKE_NEXUS_URL at it)"},
		{call(api.OpSecretGet, "a/b", 0, "", fmt.Errorf("transport: dial: %w", syscall.EHOSTUNREACH)), 1, "cannot reach Nexus at https://nexus:8553: dial: no route to host: check --nexus-url"},

		// Nexus's reasons (api.Problem), with their messages and versions.
		{problem(api.OpSecretPut, "a/b", 409, api.CodeConflict, api.ReasonCASMismatch, "check-and-set: the current version is 4, not 3", &four), 1,
			"check-and-set refused at a/b: check-and-set: the current version is 4, not 3; read it (spike secret get a/b) and, if your change still applies, retry with --cas 4"},
		{problem(api.OpSecretPut, "a/b", 409, api.CodeConflict, api.ReasonCASMismatch, "", &four), 1,
			"check-and-set refused at a/b: the current version is 4, not the one --cas named; read it (spike secret get a/b) and, if your change still applies, retry with --cas 4"},
		{problem(api.OpSecretPut, "a/b", 409, api.CodeConflict, api.ReasonCASMismatch, "", nil), 1,
			"check-and-set refused at a/b: the current version is not the one --cas named; read it (spike secret get a/b) and, if your change still applies, retry\n"},
		{problem(api.OpSecretPut, "a/b", 400, api.CodeBadRequest, api.ReasonCASRequired, "", &four), 1,
			"a/b requires check-and-set: pass --cas 4 (its current version) after reading it"},
		{problem(api.OpSecretPut, "a/b", 400, api.CodeBadRequest, api.ReasonTooLarge, "the values are 2000000 bytes, more than the limit of 1 MiB (1048576 bytes)", nil), 1,
			"Nexus refused the write to a/b: the values are 2000000 bytes, more than the limit of 1 MiB (1048576 bytes)"},
		{problem(api.OpPolicyPut, "p", 400, api.CodeBadRequest, api.ReasonInvalid, "pathPattern: missing closing ): `(a`", nil), 1,
			"Nexus refused the request: pathPattern: missing closing ): `(a`"},
		{problem(api.OpSecretUndelete, "a/b", 404, api.CodeNotFound, api.ReasonDestroyed, "version 2 is destroyed", nil), 1,
			"a/b: version 2 is destroyed; destroyed data cannot come back"},
		{problem(api.OpSecretUndelete, "a/b", 404, api.CodeNotFound, api.ReasonDestroyed, "nothing to undelete at a/b: version 2 is destroyed", nil), 1,
			"\nnothing to undelete at a/b: version 2 is destroyed; destroyed data cannot come back"},
		{problem(api.OpSecretGet, "a/b", 404, api.CodeNotFound, api.ReasonDeleted, "version 3 is deleted", nil), 1,
			"a/b: version 3 is deleted; see spike secret metadata get a/b, then spike secret undelete a/b --versions N"},
		{problem(api.OpSecretGet, "a/b", 404, api.CodeNotFound, api.ReasonNoSuchVersion, "a/b has no version 9", nil), 1, "a/b has no version 9"},
		// A reason without a message falls back on the operation's text;
		// a message never reaches the terminal raw.
		{problem(api.OpSecretGet, "a/b", 404, api.CodeNotFound, api.ReasonNoSuchPath, "", nil), 1, "no secret at a/b"},
		{problem(api.OpSecretGet, "a/b", 404, api.CodeNotFound, api.ReasonNoSuchVersion, "x\x1b[2Jy\nz", nil), 1, `a/b: x\x1b[2Jy\nz`},
		{&identityError{err: errors.New("sdk: SVID files in /x: no such file")}, 1, "no identity to call Nexus with (SVID files in /x: no such file): point --svid-dir"},
		// An answer that does not decode is not a connection failure.
		{call(api.OpSecretGet, "a/b", 0, "", fmt.Errorf("%w: transport: decode response: json: cannot unmarshal number into Go struct field .data of type string", sdk.ErrBadAnswer)), 1,
			"Nexus sent an answer this client cannot read: decode response: json: cannot unmarshal number"},
		{call(api.OpCipherEncrypt, "", 0, "", fmt.Errorf("sdk: %w: more than 65560 bytes", sdk.ErrBadAnswer)), 1,
			"Nexus sent an answer this client cannot read: more than 65560 bytes: is --nexus-url (SPIKE_NEXUS_URL) a Nexus of this version of spike?"},
		{usagef("bad"), 2, "bad"},
		{errDeclined, 1, "cancelled"},
	} {
		if got := exitCodeOf(tc.err); got != tc.exit {
			t.Errorf("%v: exit %d, want %d", tc.err, got, tc.exit)
		}
		// want may start or end with "\n" to pin where the line starts
		// or ends.
		if got := e.explain(tc.err); !strings.Contains("\n"+got+"\n", tc.want) || strings.Contains(got, "\n") {
			t.Errorf("%v:\n%q\ndoes not say %q in one line", tc.err, got, tc.want)
		}
	}
	if exitCodeOf(nil) != 0 {
		t.Error("success is not exit 0")
	}
}

// The SDK's configuration errors are usage errors (exit 2); anything
// else New fails with is a missing identity.
func TestNewClientError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		opts []sdk.Option
		exit int
		want string
	}{
		{[]sdk.Option{sdk.WithTrustDomain("not a trust domain")}, 2, "WithTrustDomain"},
		{[]sdk.Option{sdk.WithNexusURL("https://nexus:1/?token=s3cret")}, 2, "want https://host:port"},
		{[]sdk.Option{sdk.WithSVIDDir(t.TempDir()), sdk.WithSourceTimeout(time.Millisecond)}, 1, "no identity to call Nexus with"},
	} {
		_, err := sdk.New(t.Context(), tc.opts...)
		if err == nil {
			t.Fatalf("%v: no error", tc.opts)
		}
		got := newClientError(err)
		if exitCodeOf(got) != tc.exit || !strings.Contains(got.Error(), tc.want) || strings.Contains(got.Error(), "s3cret") {
			t.Errorf("%v: %v (exit %d), want exit %d and %q", err, got, exitCodeOf(got), tc.exit, tc.want)
		}
	}
}

func TestFlatten(t *testing.T) {
	t.Parallel()
	if got := flatten("first\n  second\r\nthird"); got != "first; second; third" {
		t.Errorf("%q", got)
	}
}

// The notice of a wait on a sealed Nexus: once, with Nexus's reason,
// and none for a refused connection (retried for a moment only).
func TestNoticeWait(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	e := &env{g: &globals{Flags: sdk.Flags{NexusURL: "https://nexus:8553"}}, notices: &notifier{w: &buf, enabled: true}}
	refused := &sdk.Error{Op: api.OpSecretGet, Err: syscall.ECONNREFUSED}
	sealed := &sdk.Error{Op: api.OpSecretGet, Status: 503, Code: api.CodeNotReady, Message: "sealed: 1 of 2 shards"}
	if e.noticeWait(sdk.Wait{Op: api.OpSecretGet, Err: refused, For: time.Second}) || buf.Len() != 0 {
		t.Errorf("a refused connection was noticed: %q", buf.String())
	}
	if !e.noticeWait(sdk.Wait{Op: api.OpSecretGet, Err: sealed, For: 9960 * time.Millisecond}) {
		t.Error("a sealed Nexus was not noticed")
	}
	if want := "Nexus at https://nexus:8553 is not ready (sealed: 1 of 2 shards); retrying for up to 10s (--retry-wait) …\n"; buf.String() != want {
		t.Errorf("notice %q, want %q", buf.String(), want)
	}
	buf.Reset()
	e.notices.enabled = false
	e.noticeWait(sdk.Wait{Op: api.OpSecretGet, Err: sealed, For: time.Second})
	if buf.Len() != 0 {
		t.Errorf("notice without a terminal: %q", buf.String())
	}
}
