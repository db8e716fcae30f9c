package api

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestValidators(t *testing.T) {
	t.Parallel()
	type check struct {
		name  string
		fn    func() error
		ok    bool
		field string // expected FieldError.Field when !ok
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	z := Shard{}
	one := Shard{31: 1}
	cases := []check{
		// Secret paths (§7.1).
		{"path/simple", func() error { return ValidateSecretPath("tenants/demo/db/creds") }, true, ""},
		{"path/all allowed chars", func() error { return ValidateSecretPath(`aZ09._-/()?+*|[]{}\`) }, true, ""},
		{"path/leading slash", func() error { return ValidateSecretPath("/a/b") }, false, "path"},
		{"path/trailing slash", func() error { return ValidateSecretPath("a/b/") }, false, "path"},
		{"path/doubled slash", func() error { return ValidateSecretPath("a//b") }, false, "path"},
		{"path/slash alone", func() error { return ValidateSecretPath("/") }, false, "path"},
		{"path/slashes alone", func() error { return ValidateSecretPath("//") }, false, "path"},
		{"path/inner slashes", func() error { return ValidateSecretPath("a/b/c") }, true, ""},
		{"path/500", func() error { return ValidateSecretPath(long(500)) }, true, ""},
		{"path/501", func() error { return ValidateSecretPath(long(501)) }, false, "path"},
		{"path/empty", func() error { return ValidateSecretPath("") }, false, "path"},
		{"path/caret", func() error { return ValidateSecretPath("^a") }, false, "path"},
		{"path/dollar", func() error { return ValidateSecretPath("a$") }, false, "path"},
		{"path/colon", func() error { return ValidateSecretPath("a:b") }, false, "path"},
		{"path/at", func() error { return ValidateSecretPath("a@b") }, false, "path"},
		{"path/space", func() error { return ValidateSecretPath("a b") }, false, "path"},
		{"path/newline", func() error { return ValidateSecretPath("a\n") }, false, "path"},
		{"path/unicode", func() error { return ValidateSecretPath("é") }, false, "path"},

		// Value keys.
		{"key/ok", func() error { return ValidateValueKey("user name_1-x") }, true, ""},
		{"key/dot", func() error { return ValidateValueKey("db.host") }, false, "values"},
		{"key/empty", func() error { return ValidateValueKey("") }, false, "values"},
		{"key/250", func() error { return ValidateValueKey(long(250)) }, true, ""},
		{"key/251", func() error { return ValidateValueKey(long(251)) }, false, "values"},
		{"values/nil", func() error { return ValidateValues(nil) }, true, ""},
		{"values/bad key", func() error { return ValidateValues(map[string]string{"ok": "", "no/slash": "v"}) }, false, "values"},
		{"values/any value", func() error { return ValidateValues(map[string]string{"k": "\x00\n: anything ^$"}) }, true, ""},

		// Versions.
		{"version/0", func() error { return ValidateVersion(0) }, true, ""},
		{"version/max", func() error { return ValidateVersion(MaxVersion) }, true, ""},
		{"version/negative", func() error { return ValidateVersion(-1) }, false, "version"},
		{"version/too big", func() error { return ValidateVersion(MaxVersion + 1) }, false, "version"},
		{"versions/empty", func() error { return ValidateVersions([]int{}) }, true, ""},
		{"versions/0 means current", func() error { return ValidateVersions([]int{0, 3}) }, true, ""},
		{"versions/negative", func() error { return ValidateVersions([]int{1, -2}) }, false, "versions"},
		{"versions/at the cap", func() error { return ValidateVersions(make([]int, MaxVersionsListed)) }, true, ""},
		{"versions/over the cap", func() error { return ValidateVersions(make([]int, MaxVersionsListed+1)) }, false, "versions"},

		// Policy names.
		{"name/ok", func() error { return ValidatePolicyName("workload-can-read") }, true, ""},
		{"name/space", func() error { return ValidatePolicyName("my policy") }, true, ""},
		{"name/dot", func() error { return ValidatePolicyName("a.b") }, false, "name"},
		{"name/empty", func() error { return ValidatePolicyName("") }, false, "name"},
		{"name/251", func() error { return ValidatePolicyName(long(251)) }, false, "name"},

		// SPIFFE IDs.
		{"id/ok", func() error { return ValidateSPIFFEID("spiffe://spike.ist/spike/nexus") }, true, ""},
		{"id/trust domain only", func() error { return ValidateSPIFFEID("spiffe://spike.ist") }, true, ""},
		{"id/underscore in path", func() error { return ValidateSPIFFEID("spiffe://spike.ist/a_b") }, true, ""},
		{"id/trailing slash", func() error { return ValidateSPIFFEID("spiffe://spike.ist/") }, false, "spiffeid"},
		{"id/scheme", func() error { return ValidateSPIFFEID("https://spike.ist/a") }, false, "spiffeid"},
		{"id/too long", func() error { return ValidateSPIFFEID("spiffe://x/" + long(MaxSPIFFEIDLength)) }, false, "spiffeid"},

		// SPIFFE-ID patterns.
		{"idpat/anchored", func() error { return ValidateSPIFFEIDPattern(`^spiffe://spike\.ist/workload/.*$`) }, true, ""},
		{"idpat/catch-all", func() error { return ValidateSPIFFEIDPattern(`^spiffe://.*$`) }, true, ""},
		{"idpat/unanchored", func() error { return ValidateSPIFFEIDPattern(`spiffe://spike.ist/x`) }, true, ""},
		{"idpat/bare dot-star", func() error { return ValidateSPIFFEIDPattern(`.*`) }, false, "spiffeidPattern"},
		{"idpat/alternation", func() error { return ValidateSPIFFEIDPattern(`^spiffe://(a|b)/x$`) }, false, "spiffeidPattern"},
		{"idpat/braces", func() error { return ValidateSPIFFEIDPattern(`^spiffe://a/x{2}$`) }, false, "spiffeidPattern"},
		{"idpat/underscore in trust domain", func() error { return ValidateSPIFFEIDPattern(`^spiffe://a_b/x$`) }, false, "spiffeidPattern"},
		{"idpat/does not compile", func() error { return ValidateSPIFFEIDPattern(`^spiffe://a/(x$`) }, false, "spiffeidPattern"},
		{"idpat/bad class", func() error { return ValidateSPIFFEIDPattern(`^spiffe://a/[z-a]$`) }, false, "spiffeidPattern"},
		{"idpat/empty", func() error { return ValidateSPIFFEIDPattern("") }, false, "spiffeidPattern"},
		{"idpat/too long", func() error { return ValidateSPIFFEIDPattern("spiffe://a/" + long(MaxSPIFFEIDLength)) }, false, "spiffeidPattern"},

		// Path patterns.
		{"pathpat/anchored", func() error { return ValidatePathPattern(`^tenants/demo/db/.*$`) }, true, ""},
		{"pathpat/everything", func() error { return ValidatePathPattern(`.*`) }, true, ""},
		{"pathpat/alternation and repeat", func() error { return ValidatePathPattern(`^(a|b){3}/[x-z]+$`) }, true, ""},
		{"pathpat/nested counted repetition", func() error { return ValidatePathPattern(`(a*a*a*a*a*a*a*a*){1000}b`) }, false, "pathPattern"},
		{"pathpat/counted repetitions multiply", func() error { return ValidatePathPattern(`(((a{1,10}){10}){10})`) }, false, "pathPattern"},
		{"pathpat/longest literal", func() error { return ValidatePathPattern("^" + strings.Repeat("a", MaxPathPatternLength-2) + "$") }, true, ""},
		{"pathpat/many wildcards", func() error { return ValidatePathPattern(strings.Repeat(`[a-z0-9]+/`, 30) + ".*") }, true, ""},
		{"idpat/longest literal", func() error {
			return ValidateSPIFFEIDPattern("^spiffe://" + strings.Repeat("a", MaxSPIFFEIDLength-12) + "$")
		}, true, ""},
		{"idpat/nested repetition", func() error { return ValidateSPIFFEIDPattern(`^spiffe://((a+)+(b*)*(c?)*){100}$`) }, false, "spiffeidPattern"},
		{"pathpat/does not compile", func() error { return ValidatePathPattern(`^(a$`) }, false, "pathPattern"},
		{"pathpat/repeat too big", func() error { return ValidatePathPattern(`a{1001}`) }, false, "pathPattern"},
		{"pathpat/comma", func() error { return ValidatePathPattern(`a{1,3}`) }, false, "pathPattern"},
		{"pathpat/space", func() error { return ValidatePathPattern(`a b`) }, false, "pathPattern"},
		{"pathpat/empty", func() error { return ValidatePathPattern("") }, false, "pathPattern"},
		{"pathpat/501", func() error { return ValidatePathPattern(long(501)) }, false, "pathPattern"},

		// Permissions.
		{"perms/all", func() error {
			return ValidatePermissions([]Permission{PermRead, PermWrite, PermList, PermExecute, PermSuper, PermAdmin})
		}, true, ""},
		{"perms/repeat", func() error { return ValidatePermissions([]Permission{PermRead, PermRead}) }, true, ""},
		{"perms/none", func() error { return ValidatePermissions(nil) }, false, "permissions"},
		{"perms/unknown", func() error { return ValidatePermissions([]Permission{PermRead, "delete"}) }, false, "permissions"},
		{"perms/case", func() error { return ValidatePermissions([]Permission{"Read"}) }, false, "permissions"},

		// Cipher.
		{"plaintext/max", func() error { return ValidatePlaintext(make([]byte, MaxCipherPayload)) }, true, ""},
		{"plaintext/empty", func() error { return ValidatePlaintext(nil) }, true, ""},
		{"plaintext/over", func() error { return ValidatePlaintext(make([]byte, MaxCipherPayload+1)) }, false, "plaintext"},
		{"ciphertext/over", func() error { return ValidateCiphertext(make([]byte, MaxCipherPayload+1)) }, false, "ciphertext"},
		{"nonce/12", func() error { return ValidateNonce(make([]byte, 12)) }, true, ""},
		{"nonce/11", func() error { return ValidateNonce(make([]byte, 11)) }, false, "nonce"},
		{"nonce/nil", func() error { return ValidateNonce(nil) }, false, "nonce"},
		{"cipher version/1", func() error { return ValidateCipherVersion(1) }, true, ""},
		{"cipher version/2", func() error { return ValidateCipherVersion(2) }, false, "version"},

		// Shards.
		{"shard/ok", func() error { return ValidateShard(&one) }, true, ""},
		{"shard/nil", func() error { return ValidateShard(nil) }, false, "shard"},
		{"shard/zero", func() error { return ValidateShard(&z) }, false, "shard"},
		{"shard id/1", func() error { return ValidateShardID(1) }, true, ""},
		{"shard id/1000", func() error { return ValidateShardID(MaxShardID) }, true, ""},
		{"shard id/0", func() error { return ValidateShardID(0) }, false, "id"},
		{"shard id/1001", func() error { return ValidateShardID(MaxShardID + 1) }, false, "id"},

		// Custom metadata (extension).
		{"custom/ok", func() error { return ValidateCustomMetadata(map[string]string{"team": "db", "note": "é ok"}) }, true, ""},
		{"custom/empty value", func() error { return ValidateCustomMetadata(map[string]string{"k": ""}) }, true, ""},
		{"custom/empty key", func() error { return ValidateCustomMetadata(map[string]string{"": "v"}) }, false, "customMetadata"},
		{"custom/key 129", func() error { return ValidateCustomMetadata(map[string]string{long(129): "v"}) }, false, "customMetadata"},
		{"custom/value 513", func() error { return ValidateCustomMetadata(map[string]string{"k": long(513)}) }, false, "customMetadata"},
		{"custom/control char", func() error { return ValidateCustomMetadata(map[string]string{"k": "a\nb"}) }, false, "customMetadata"},
		{"custom/invalid utf-8", func() error { return ValidateCustomMetadata(map[string]string{"k": "\xff"}) }, false, "customMetadata"},
		{"custom/65 keys", func() error {
			m := map[string]string{}
			for i := range 65 {
				m[long(i+1)] = ""
			}
			return ValidateCustomMetadata(m)
		}, false, "customMetadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.fn()
			if tc.ok {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("want a *FieldError wrapping ErrInvalid, got %v", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q", fe.Field, tc.field)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Errorf("message %q does not name the field", err)
			}
			if CodeOf(err) != CodeBadRequest {
				t.Errorf("CodeOf = %q", CodeOf(err))
			}
		})
	}
}

// TestValidationNeverEchoes plants a marker in invalid input and checks
// no error message repeats it.
func TestValidationNeverEchoes(t *testing.T) {
	t.Parallel()
	const m = "S3CRET"
	errs := []error{
		ValidateSecretPath(m + ":"),
		ValidateValueKey(m + "."),
		ValidatePolicyName(m + "."),
		ValidateSPIFFEID(m),
		ValidateSPIFFEIDPattern(m),
		ValidatePathPattern(m + " "),
		ValidatePermissions([]Permission{m}),
		ValidateCustomMetadata(map[string]string{m: m + "\n"}),
		SecretSettingsPutRequest{Path: "a", DeleteVersionAfter: ptr(m)}.Validate(),
		AuditListRequest{Types: []string{m}}.Validate(),
		AuditListRequest{Outcomes: []string{m}}.Validate(),
		AuditListRequest{PathPrefix: m + ":"}.Validate(),
		PolicyGetRequest{ID: "a", Name: m}.Validate(),
	}
	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: no error", i)
			continue
		}
		if strings.Contains(err.Error(), m) {
			t.Errorf("case %d: message %q echoes the input", i, err)
		}
	}
}

// TestPatternErrorSaysWhatIsWrong: a pattern that does not compile is
// refused with RE2's account of the fault (patterns are not secrets).
func TestPatternErrorSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want string
	}{
		{ValidatePathPattern(`^(a$`), "invalid pathPattern: not a valid regular expression: missing closing ): `^(a$`"},
		{ValidatePathPattern(`a**`), "invalid pathPattern: not a valid regular expression: invalid nested repetition operator: `**`"},
		{ValidatePathPattern(`a{1001}`), "invalid pathPattern: not a valid regular expression: invalid repeat count: `{1001}`"},
		{ValidateSPIFFEIDPattern(`^spiffe://x/[a$`), "invalid spiffeidPattern: not a valid regular expression: missing closing ]: `[a$`"},
	} {
		if tc.err == nil || tc.err.Error() != "api: "+tc.want {
			t.Errorf("error %v, want %q", tc.err, "api: "+tc.want)
		}
	}
}

// TestRequestValidate covers the rules each request adds on top of the
// field validators.
func TestRequestValidate(t *testing.T) {
	t.Parallel()
	shard, _ := testShard(0)
	cases := []struct {
		name  string
		req   Request
		field string // "" means valid
	}{
		{"put", SecretPutRequest{Path: "a", Values: map[string]string{"k": "v"}}, ""},
		{"put/no values", SecretPutRequest{Path: "a"}, ""},
		{"put/cas 0", SecretPutRequest{Path: "a", CAS: ptr(0)}, ""},
		{"put/cas negative", SecretPutRequest{Path: "a", CAS: ptr(-1)}, "cas"},
		{"put/bad key", SecretPutRequest{Path: "a", Values: map[string]string{"a.b": "v"}}, "values"},
		{"get/no path", SecretGetRequest{}, "path"},
		{"get/negative", SecretGetRequest{Path: "a", Version: -1}, "version"},
		{"delete/null versions", SecretDeleteRequest{Path: "a"}, ""},
		{"undelete/negative", SecretUndeleteRequest{Path: "a", Versions: []int{-1}}, "versions"},
		{"list", SecretListRequest{}, ""},
		{"metadata", SecretMetadataGetRequest{Path: "a", Version: 3}, ""},
		{"policy put", PolicyPutRequest{Name: "p", SPIFFEIDPattern: "^spiffe://a/b$", PathPattern: "^a$", Permissions: []Permission{PermRead}}, ""},
		{"policy put/no perms", PolicyPutRequest{Name: "p", SPIFFEIDPattern: "^spiffe://a/b$", PathPattern: "^a$"}, "permissions"},
		{"policy put/bad id pattern", PolicyPutRequest{Name: "p", SPIFFEIDPattern: ".*", PathPattern: "^a$", Permissions: []Permission{PermRead}}, "spiffeidPattern"},
		{"policy get", PolicyGetRequest{ID: "p"}, ""},
		{"policy get/by name", PolicyGetRequest{Name: "p"}, ""},
		{"policy get/both equal", PolicyGetRequest{ID: "p", Name: "p"}, ""},
		{"policy get/both differ", PolicyGetRequest{ID: "p", Name: "q"}, "name"},
		{"policy get/none", PolicyGetRequest{}, "id"},
		{"policy delete/bad", PolicyDeleteRequest{ID: "a/b"}, "id"},
		{"policy list/empty", PolicyListRequest{}, ""},
		{"policy list/long", PolicyListRequest{PathPattern: strings.Repeat("a", 501)}, "pathPattern"},
		{"encrypt", CipherEncryptRequest{Plaintext: []byte("x")}, ""},
		{"decrypt", CipherDecryptRequest{Version: 1, Nonce: make([]byte, 12), Ciphertext: []byte{1}}, ""},
		{"decrypt/version 0", CipherDecryptRequest{Nonce: make([]byte, 12)}, "version"},
		{"decrypt/nonce", CipherDecryptRequest{Version: 1, Nonce: make([]byte, 13)}, "nonce"},
		{"verify", BootstrapVerifyRequest{Nonce: make([]byte, 12), Ciphertext: make([]byte, 80)}, ""},
		{"verify/too large", BootstrapVerifyRequest{Nonce: make([]byte, 12), Ciphertext: make([]byte, MaxCipherPayload+1)}, "ciphertext"},
		{"recover", RecoverRequest{}, ""},
		{"restore", RestoreRequest{ID: 1, Shard: shard}, ""},
		{"restore/id 0", RestoreRequest{Shard: shard}, "id"},
		{"restore/no shard", RestoreRequest{ID: 1}, "shard"},
		{"contribute", ShardContributeRequest{Shard: shard}, ""},
		{"contribute/zero", ShardContributeRequest{Shard: &Shard{}}, "shard"},
		{"shard get", ShardGetRequest{}, ""},
		{"destroy", SecretDestroyRequest{Path: "a", Versions: []int{1}}, ""},
		{"destroy/none", SecretDestroyRequest{Path: "a", Versions: []int{}}, "versions"},
		{"destroy/0", SecretDestroyRequest{Path: "a", Versions: []int{0}}, "versions"},
		{"destroy/over the cap", SecretDestroyRequest{Path: "a", Versions: slices.Repeat([]int{1}, MaxVersionsListed+1)}, "versions"},
		{"delete/over the cap", SecretDeleteRequest{Path: "a", Versions: make([]int, MaxVersionsListed+1)}, "versions"},
		{"undelete/over the cap", SecretUndeleteRequest{Path: "a", Versions: make([]int, MaxVersionsListed+1)}, "versions"},
		{"settings put", SecretSettingsPutRequest{Path: "a", MaxVersions: ptr(0), DeleteVersionAfter: ptr("0s")}, ""},
		{"settings put/negative max", SecretSettingsPutRequest{Path: "a", MaxVersions: ptr(-1)}, "maxVersions"},
		{"settings put/negative duration", SecretSettingsPutRequest{Path: "a", DeleteVersionAfter: ptr("-1h")}, "deleteVersionAfter"},
		{"settings put/custom", SecretSettingsPutRequest{Path: "a", CustomMetadata: ptr(map[string]string{"": ""})}, "customMetadata"},
		{"settings get", SecretSettingsGetRequest{Path: "a"}, ""},
		{"history", SecretHistoryRequest{Path: "a", Page: Page{Limit: MaxPageSize}}, ""},
		{"history/limit", SecretHistoryRequest{Path: "a", Page: Page{Limit: MaxPageSize + 1}}, "limit"},
		{"history/window", SecretHistoryRequest{Path: "a", Page: Page{Since: &t2, Until: &t1}}, "until"},
		{"audit", AuditListRequest{Actor: "spiffe://a/b", Path: "a", Types: []string{"secret.read"}}, ""},
		{"audit/actor", AuditListRequest{Actor: "x"}, "actor"},
		{"audit/path", AuditListRequest{Path: "a b"}, "path"},
		{"audit/types", AuditListRequest{Types: make([]string, MaxAuditTypes+1)}, "types"},
		{"audit/filters", AuditListRequest{PathPrefix: "app/", Outcomes: []string{"denied", "conflict"}}, ""},
		{"audit/prefix", AuditListRequest{PathPrefix: "a b"}, "pathPrefix"},
		{"audit/outcome", AuditListRequest{Outcomes: []string{"refused"}}, "outcomes"},
		{"audit/outcomes", AuditListRequest{Outcomes: make([]string, len(AuditOutcomes())+1)}, "outcomes"},
		{"tail", AuditTailRequest{Actor: "spiffe://a/b", PathPrefix: "app/", Types: []string{"secret.read"}, From: 7}, ""},
		{"tail/since", AuditTailRequest{Since: &t1}, ""},
		{"tail/from and since", AuditTailRequest{From: 1, Since: &t1}, "since"},
		{"tail/actor", AuditTailRequest{Actor: "x"}, "actor"},
		{"tail/outcome", AuditTailRequest{Outcomes: []string{"refused"}}, "outcomes"},
		{"checkpoint", AuditCheckpointRequest{}, ""},
		{"proof", AuditProofRequest{Seq: 3, TreeSize: 3}, ""},
		{"proof/seq 0", AuditProofRequest{}, "seq"},
		{"proof/outside", AuditProofRequest{Seq: 4, TreeSize: 3}, "treeSize"},
		{"consistency", AuditConsistencyRequest{OldSize: 1}, ""},
		{"consistency/0", AuditConsistencyRequest{}, "oldSize"},
		{"consistency/shrink", AuditConsistencyRequest{OldSize: 5, NewSize: 4}, "newSize"},
		{"restore point", RestorePointApplyRequest{AsOfSeq: 1}, ""},
		{"restore point/time", RestorePointApplyRequest{AsOfTime: ptr(time.Unix(0, 0)), Paths: []string{"a"}}, ""},
		{"restore point/neither", RestorePointApplyRequest{}, "asOfSeq"},
		{"restore point/both", RestorePointApplyRequest{AsOfSeq: 1, AsOfTime: &t1}, "asOfSeq"},
		{"restore point/bad path", RestorePointApplyRequest{AsOfSeq: 1, Paths: []string{""}}, "paths"},
		{"restore point/point", RestorePointApplyRequest{Point: 3, Prefix: "app/", BaseSeq: 9, Force: true}, ""},
		{"restore point/seq and point", RestorePointApplyRequest{AsOfSeq: 1, Point: 3}, "asOfSeq"},
		{"restore point/prefix and paths", RestorePointApplyRequest{AsOfSeq: 1, Prefix: "a/", Paths: []string{"a/b"}}, "prefix"},
		{"restore point/bad prefix", RestorePointApplyRequest{AsOfSeq: 1, Prefix: "a//"}, "prefix"},
		{"restore plan", RestorePlanRequest{Prefix: "app/", AsOfSeq: 1}, ""},
		{"restore plan/paths", RestorePlanRequest{Paths: []string{"a", "b"}, Point: 2}, ""},
		{"restore plan/neither", RestorePlanRequest{Prefix: "app/"}, "asOfSeq"},
		{"restore plan/three", RestorePlanRequest{AsOfSeq: 1, AsOfTime: &t1, Point: 1}, "asOfSeq"},
		{"restore plan/path twice", RestorePlanRequest{AsOfSeq: 1, Paths: []string{"a", "a"}}, "paths"},
		{"restore points", RestorePointListRequest{}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.req.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want a *FieldError for %q, got %v", tc.field, err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (%v)", fe.Field, tc.field, err)
			}
		})
	}
}

func TestSettingsDeleteAfter(t *testing.T) {
	t.Parallel()
	if d, ok := (SecretSettingsPutRequest{DeleteVersionAfter: ptr("1h30m")}).DeleteAfter(); !ok || d != 90*time.Minute {
		t.Errorf("DeleteAfter = %v, %v", d, ok)
	}
	if _, ok := (SecretSettingsPutRequest{}).DeleteAfter(); ok {
		t.Error("DeleteAfter set without a value")
	}
	if (PolicyGetRequest{ID: "a"}).PolicyName() != "a" || (PolicyDeleteRequest{ID: "a", Name: "b"}).PolicyName() != "b" {
		t.Error("PolicyName")
	}
}

func TestSecretPathSlashesSuggestCleanPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, want string }{
		{"/a/b", `must not start with '/' (did you mean "a/b"?)`},
		{"a/b/", `must not end with '/' (did you mean "a/b"?)`},
		{"a//b", `must not hold "//" (did you mean "a/b"?)`},
		{"//a///b//", `must not start with '/' (did you mean "a/b"?)`},
		{"/", "at least one name between slashes"},
	} {
		err := ValidateSecretPath(tc.path)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "path" || !strings.Contains(fe.Reason, tc.want) {
			t.Errorf("ValidateSecretPath(%q) = %v, want a path error containing %q", tc.path, err, tc.want)
		}
	}
}

// TestLegacyPathsRules: requests that reach what is stored accept a path
// with an empty segment and name it (Nexus decides, by what is stored);
// writes of a new version refuse it with ErrEmptySegment.
func TestLegacyPathsRules(t *testing.T) {
	t.Parallel()
	const legacy = "/a//b/"
	one := 1
	stored := []StoredPathsRequest{
		SecretGetRequest{Path: legacy},
		SecretDeleteRequest{Path: legacy},
		SecretUndeleteRequest{Path: legacy},
		SecretDestroyRequest{Path: legacy, Versions: []int{1}},
		SecretMetadataGetRequest{Path: legacy},
		SecretSettingsGetRequest{Path: legacy},
		SecretMetadataDeleteRequest{Path: legacy},
		SecretHistoryRequest{Path: legacy},
		RestorePointApplyRequest{Paths: []string{"x", legacy}, AsOfSeq: 1},
		AuditListRequest{Path: legacy},
	}
	for _, r := range stored {
		if err := r.Validate(); err != nil {
			t.Errorf("%s: Validate = %v, want nil", r.Op(), err)
		}
		if _, paths := r.StoredPaths(); !slices.Contains(paths, legacy) {
			t.Errorf("%s: StoredPaths = %v, want %q among them", r.Op(), paths, legacy)
		}
	}
	// The other rules still hold.
	if err := ValidateStoredSecretPath("/a b"); err == nil {
		t.Error(`ValidateStoredSecretPath("/a b") = nil`)
	}
	for _, r := range []Request{
		SecretPutRequest{Path: legacy},
		SecretPatchRequest{Path: legacy, Values: map[string]string{"k": "v"}},
		SecretRollbackRequest{Path: legacy, Version: 1},
		SecretSettingsPutRequest{Path: legacy, MaxVersions: &one},
	} {
		if _, ok := r.(StoredPathsRequest); ok {
			t.Errorf("%s writes a new version but is a StoredPathsRequest", r.Op())
		}
		if err := r.Validate(); !errors.Is(err, ErrEmptySegment) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrEmptySegment", r.Op(), err)
		}
	}
	err := LegacyPathError("path", legacy, true)
	var fe *FieldError
	if !errors.As(err, &fe) || !errors.Is(err, ErrEmptySegment) || strings.Contains(fe.Reason, "did you mean") ||
		!strings.Contains(fe.Reason, `"a/b" is a different secret`) || !strings.Contains(fe.Reason, "metadata delete") {
		t.Errorf("LegacyPathError = %v", err)
	}
}
