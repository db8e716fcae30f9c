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
	e := &env{command: "spike secret get", g: &globals{Flags: sdk.Flags{NexusURL: "https://nexus:8553"}}}
	call := func(op api.Op, path string, status int, code api.ErrorCode, err error) error {
		return fmt.Errorf("wrapped: %w", &sdk.Error{Op: op, Path: path, Status: status, Code: code, Err: err})
	}
	for _, tc := range []struct {
		err  error
		exit int
		want string
	}{
		{call(api.OpSecretGet, "a/b", 404, api.CodeNotFound, nil), 1, "no secret at a/b"},
		{call(api.OpPolicyDelete, "p", 404, api.CodeNotFound, nil), 1, `no policy named "p" (spike policy list shows them)`},
		{call(api.OpSecretUndelete, "a/b", 404, api.CodeNotFound, nil), 1, "nothing to undelete at a/b: no such path, or those versions are not deleted (spike secret history a/b shows them)"},
		// secret metadata get fails once the current version is deleted:
		// the hints name a command that still shows the versions.
		{call(api.OpSecretDelete, "a/b", 404, api.CodeNotFound, nil), 1, "(spike secret history a/b shows them)"},
		{call(api.OpSecretDestroy, "a/b", 404, api.CodeNotFound, nil), 1, "(spike secret history a/b shows them)"},
		{call(api.OpSecretPut, "a/b", 401, api.CodeUnauthorized, nil), 1, "Nexus refused this identity: no policy grants it write on a/b"},
		{call(api.OpSecretList, "", 401, api.CodeUnauthorized, nil), 1, "list on spike/system/secret"},
		{call(api.OpPolicyList, "", 401, api.CodeUnauthorized, nil), 1, "list on spike/system/acl"},
		{call(api.OpCipherEncrypt, "", 401, api.CodeUnauthorized, nil), 1, "execute on spike/system/cipher/exec"},
		{call(api.OpAuditList, "", 401, api.CodeUnauthorized, nil), 1, "read on spike/system/audit (the auditor role)"},
		{call(api.OpOperatorRecover, "", 401, api.CodeUnauthorized, nil), 1, "recover needs the spike/pilot/role/recover identity"},
		{call(api.OpOperatorRestore, "", 401, api.CodeUnauthorized, nil), 1, "restore needs the spike/pilot/role/restore identity"},
		{call(api.OpSecretGet, "a/b", 503, api.CodeNotReady, nil), 1, "Nexus is sealed or still starting"},
		{call(api.OpOperatorRecover, "", 503, api.CodeNotReady, nil), 1, "it has no root key to give"},
		{call(api.OpOperatorRestore, "", 409, api.CodeConflict, nil), 1, "already unsealed"},
		{call(api.OpSecretPut, "a/b", 409, api.CodeConflict, nil), 1, "check-and-set refused"},
		{call(api.OpSecretPut, "a/b", 400, api.CodeBadRequest, nil), 1, "requires check-and-set"},
		{call(api.OpOperatorRestore, "", 400, api.CodeBadRequest, nil), 1, "Nexus refused the shard"},
		{call(api.OpCipherDecrypt, "", 400, api.CodeDecryptionFailed, nil), 1, "does not decrypt"},
		{call(api.OpCipherDecrypt, "", 500, api.CodeInternal, nil), 1, "does not decrypt"},
		{call(api.OpSecretGet, "a/b", 500, api.CodeInternal, nil), 1, "Nexus failed (500 api_internal_error): see its log"},
		{call(api.OpSecretGet, "a b", 0, api.CodeBadRequest, errors.New(`path: must match ^[a-zA-Z0-9._\-/]+$`)), 2, "invalid argument: path: must match"},
		{call(api.OpSecretGet, "a/b", 0, "", fmt.Errorf("transport: dial: %w", syscall.ECONNREFUSED)), 1, "cannot reach Nexus at https://nexus:8553: dial: connection refused: check --nexus-url"},
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
		if got := e.explain(tc.err); !strings.Contains(got, tc.want) || strings.Contains(got, "\n") {
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
