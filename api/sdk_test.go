package api

// Compatibility with the real client: SPIKE's SDK v0.19.9 (the version
// SPIKE v0.8 pins). Its request structs are encoded with encoding/json, as
// the SDK does, and decoded with this package's decoders; this package's
// responses are decoded into the SDK's response structs, as the SDK does.

import (
	"bytes"
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/spike-sdk-go/api/entity/data"
	"github.com/spiffe/spike-sdk-go/api/entity/v1/reqres"
	sdkurl "github.com/spiffe/spike-sdk-go/api/url"
	sdkerrors "github.com/spiffe/spike-sdk-go/errors"
	"github.com/spiffe/spike-sdk-go/validation"
)

func TestSDKPathsAndActions(t *testing.T) {
	t.Parallel()
	paths := map[string]string{
		string(sdkurl.NexusSecrets):         PathSecrets,
		string(sdkurl.NexusSecretsMetadata): PathSecretsMetadata,
		string(sdkurl.NexusPolicy):          PathPolicy,
		string(sdkurl.NexusCipherEncrypt):   PathCipherEncrypt,
		string(sdkurl.NexusCipherDecrypt):   PathCipherDecrypt,
		string(sdkurl.NexusBootstrapVerify): PathBootstrapVerify,
		string(sdkurl.NexusOperatorRecover): PathOperatorRecover,
		string(sdkurl.NexusOperatorRestore): PathOperatorRestore,
		string(sdkurl.KeeperContribute):     PathKeeperContribute,
		string(sdkurl.KeeperShard):          PathKeeperShard,
	}
	for sdk, ours := range paths {
		if sdk != ours {
			t.Errorf("SDK path %q, ours %q", sdk, ours)
		}
	}
	actions := map[sdkurl.APIAction]Action{
		sdkurl.ActionDefault: ActionDefault, sdkurl.ActionGet: ActionGet, sdkurl.ActionDelete: ActionDelete,
		sdkurl.ActionUndelete: ActionUndelete, sdkurl.ActionList: ActionList,
	}
	for sdk, ours := range actions {
		if string(sdk) != string(ours) {
			t.Errorf("SDK action %q, ours %q", sdk, ours)
		}
	}
	if sdkurl.KeyAPIAction != QueryAction {
		t.Errorf("SDK query key %q", sdkurl.KeyAPIAction)
	}
	// The paths the SDK defines but SPIKE does not serve stay unrouted.
	if _, ok := Route(string(sdkurl.NexusInit), string(sdkurl.ActionCheck)); ok {
		t.Error("NexusInit is routed")
	}
	if _, ok := Route(string(sdkurl.KeeperKeep), ""); ok {
		t.Error("KeeperKeep is routed")
	}
}

func TestSDKErrorCodes(t *testing.T) {
	t.Parallel()
	codes := map[*sdkerrors.SDKError]ErrorCode{
		sdkerrors.ErrAPIBadRequest:                  CodeBadRequest,
		sdkerrors.ErrAPINotFound:                    CodeNotFound,
		sdkerrors.ErrAPIInternal:                    CodeInternal,
		sdkerrors.ErrAccessUnauthorized:             CodeUnauthorized,
		sdkerrors.ErrStateNotReady:                  CodeNotReady,
		sdkerrors.ErrCryptoCipherNotAvailable:       CodeCipherNotAvailable,
		sdkerrors.ErrCryptoFailedToReadVersion:      CodeFailedToReadVersion,
		sdkerrors.ErrCryptoUnsupportedCipherVersion: CodeUnsupportedVersion,
		sdkerrors.ErrCryptoFailedToReadNonce:        CodeFailedToReadNonce,
		sdkerrors.ErrDataReadFailure:                CodeDataReadFailure,
		sdkerrors.ErrCryptoNonceGenerationFailed:    CodeNonceGenerationFailed,
		sdkerrors.ErrNetPeerConnection:              CodePeerConnection,
		sdkerrors.ErrGeneralFailure:                 CodeGeneralFailure,
	}
	for sdk, ours := range codes {
		if string(sdk.Code) != string(ours) {
			t.Errorf("SDK code %q, ours %q", sdk.Code, ours)
		}
	}
	// The client maps a 200 body's "err" back to a known error.
	for _, c := range []ErrorCode{CodeBadRequest, CodeNotFound, CodeInternal, CodeUnauthorized, CodeNotReady} {
		if got := sdkerrors.FromCode(sdkerrors.ErrorCode(c)); string(got.Code) != string(c) {
			t.Errorf("FromCode(%q) = %q", c, got.Code)
		}
	}
}

// sdkEncode encodes v as the SDK does before posting it.
func sdkEncode(t *testing.T, v any) *bytes.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// TestSDKRequests: every request the SDK sends decodes and validates with
// our decoders, to the values it meant.
func TestSDKRequests(t *testing.T) {
	t.Parallel()
	shard, _ := testShard(0)
	sdkShard := (*[32]byte)(shard)
	nonce := []byte("0123456789ab")
	check := func(name string, got, want any, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, want %+v", name, got, want)
		}
	}

	v1, err := DecodeRequest[SecretPutRequest](sdkEncode(t, reqres.SecretPutRequest{Path: "tenants/demo/db/creds", Values: map[string]string{"username": "admin"}}), 0)
	check("put", v1, SecretPutRequest{Path: "tenants/demo/db/creds", Values: map[string]string{"username": "admin"}}, err)
	v2, err := DecodeRequest[SecretGetRequest](sdkEncode(t, reqres.SecretGetRequest{Path: "a", Version: 3}), 0)
	check("get", v2, SecretGetRequest{Path: "a", Version: 3}, err)
	v2, err = DecodeRequest[SecretGetRequest](sdkEncode(t, reqres.SecretGetRequest{Path: "a"}), 0)
	check("get current", v2, SecretGetRequest{Path: "a"}, err)
	v3, err := DecodeRequest[SecretDeleteRequest](sdkEncode(t, reqres.SecretDeleteRequest{Path: "a", Versions: []int{}}), 0)
	check("delete", v3, SecretDeleteRequest{Path: "a", Versions: []int{}}, err)
	v4, err := DecodeRequest[SecretUndeleteRequest](sdkEncode(t, reqres.SecretUndeleteRequest{Path: "a", Versions: []int{1, 2}}), 0)
	check("undelete", v4, SecretUndeleteRequest{Path: "a", Versions: []int{1, 2}}, err)
	v5, err := DecodeRequest[SecretListRequest](sdkEncode(t, reqres.SecretListRequest{}), 0)
	check("list", v5, SecretListRequest{}, err)
	v6, err := DecodeRequest[SecretMetadataGetRequest](sdkEncode(t, reqres.SecretMetadataRequest{Path: "a", Version: 2}), 0)
	check("metadata", v6, SecretMetadataGetRequest{Path: "a", Version: 2}, err)

	v7, err := DecodeRequest[PolicyPutRequest](sdkEncode(t, reqres.PolicyPutRequest{
		Name: "workload-can-read", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/.*$`, PathPattern: `^tenants/demo/db/.*$`,
		Permissions: []data.PolicyPermission{data.PermissionRead, data.PermissionWrite, data.PermissionList, data.PermissionExecute, data.PermissionSuper},
	}), 0)
	check("policy put", v7, PolicyPutRequest{
		Name: "workload-can-read", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/.*$`, PathPattern: `^tenants/demo/db/.*$`,
		Permissions: []Permission{PermRead, PermWrite, PermList, PermExecute, PermSuper},
	}, err)
	v8, err := DecodeRequest[PolicyGetRequest](sdkEncode(t, reqres.PolicyReadRequest{ID: "workload-can-read"}), 0)
	check("policy get", v8, PolicyGetRequest{ID: "workload-can-read"}, err)
	v9, err := DecodeRequest[PolicyDeleteRequest](sdkEncode(t, reqres.PolicyDeleteRequest{ID: "p"}), 0)
	check("policy delete", v9, PolicyDeleteRequest{ID: "p"}, err)
	v10, err := DecodeRequest[PolicyListRequest](sdkEncode(t, reqres.PolicyListRequest{PathPattern: "^a$"}), 0)
	check("policy list", v10, PolicyListRequest{PathPattern: "^a$"}, err)

	v11, err := DecodeRequest[CipherEncryptRequest](sdkEncode(t, reqres.CipherEncryptRequest{Plaintext: []byte("hi"), Algorithm: "x"}), 0)
	check("encrypt", v11, CipherEncryptRequest{Plaintext: []byte("hi"), Algorithm: "x"}, err)
	v12, err := DecodeRequest[CipherDecryptRequest](sdkEncode(t, reqres.CipherDecryptRequest{Version: 1, Nonce: nonce, Ciphertext: []byte{1, 2}}), 0)
	check("decrypt", v12, CipherDecryptRequest{Version: 1, Nonce: nonce, Ciphertext: []byte{1, 2}}, err)
	v13, err := DecodeRequest[BootstrapVerifyRequest](sdkEncode(t, reqres.BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{3}}), 0)
	check("verify", v13, BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{3}}, err)
	v14, err := DecodeRequest[RecoverRequest](sdkEncode(t, reqres.RecoverRequest{}), 0)
	check("recover", v14, RecoverRequest{}, err)
	v15, err := DecodeRequest[RestoreRequest](sdkEncode(t, reqres.RestoreRequest{ID: 2, Shard: sdkShard}), 0)
	check("restore", v15, RestoreRequest{ID: 2, Shard: shard}, err)
	v16, err := DecodeRequest[ShardContributeRequest](sdkEncode(t, reqres.ShardPutRequest{Shard: sdkShard}), 0)
	check("contribute", v16, ShardContributeRequest{Shard: shard}, err)
	v17, err := DecodeRequest[ShardGetRequest](sdkEncode(t, reqres.ShardGetRequest{}), 0)
	check("shard", v17, ShardGetRequest{}, err)

	// Our own requests decode into the SDK's types (for a SPIKE server).
	var sp reqres.PolicyPutRequest
	b, _ := json.Marshal(PolicyPutRequest{Name: "p", SPIFFEIDPattern: "^spiffe://a/b$", PathPattern: "^a$", Permissions: []Permission{PermRead}})
	if err := json.Unmarshal(b, &sp); err != nil || sp.SPIFFEIDPattern != "^spiffe://a/b$" || sp.Name != "p" || len(sp.Permissions) != 1 {
		t.Errorf("policy put into SDK: %+v, %v", sp, err)
	}
	var sr reqres.RestoreRequest
	b, _ = json.Marshal(RestoreRequest{ID: 3, Shard: shard})
	if err := json.Unmarshal(b, &sr); err != nil || sr.ID != 3 || sr.Shard == nil || *sr.Shard != [32]byte(*shard) {
		t.Errorf("restore into SDK: %+v, %v", sr, err)
	}
}

// sdkDecode decodes our value v into the SDK type T, as the SDK does with
// a 200 body.
func sdkDecode[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("SDK cannot decode %s: %v", b, err)
	}
	return out
}

// TestSDKResponses: every response we send decodes into the SDK's
// response types with the values we meant, and success has no "err".
func TestSDKResponses(t *testing.T) {
	t.Parallel()
	shard1, _ := testShard(0)
	shard2, _ := testShard(100)
	local := time.FixedZone("", 2*3600)
	created := time.Date(2026, 7, 25, 10, 11, 12, 123456789, local)

	if r := sdkDecode[reqres.SecretPutResponse](t, SecretPutResponse{}); r.Err != "" {
		t.Errorf("put: %+v", r)
	}
	if r := sdkDecode[reqres.SecretGetResponse](t, SecretGetResponse{Data: map[string]string{"k": "v"}}); r.Err != "" || r.Data["k"] != "v" {
		t.Errorf("get: %+v", r)
	}
	if r := sdkDecode[reqres.SecretDeleteResponse](t, SecretDeleteResponse{}); r.Err != "" {
		t.Errorf("delete: %+v", r)
	}
	if r := sdkDecode[reqres.SecretUndeleteResponse](t, SecretUndeleteResponse{}); r.Err != "" {
		t.Errorf("undelete: %+v", r)
	}
	if r := sdkDecode[reqres.SecretListResponse](t, SecretListResponse{Keys: []string{"a", "b"}}); !reflect.DeepEqual(r.Keys, []string{"a", "b"}) {
		t.Errorf("list: %+v", r)
	}
	md := sdkDecode[reqres.SecretMetadataResponse](t, SecretMetadataGetResponse{
		Versions: map[int]SecretVersionInfo{1: {CreatedTime: created, Version: 1, DeletedTime: &created}, 2: {CreatedTime: created, Version: 2}},
		Metadata: SecretMetadata{CurrentVersion: 2, OldestVersion: 2, CreatedTime: created, UpdatedTime: created, MaxVersions: 10},
	})
	if md.Err != "" || len(md.Versions) != 2 || md.Versions[1].Version != 1 || md.Versions[1].DeletedTime == nil ||
		!md.Versions[1].DeletedTime.Equal(created) || md.Versions[2].DeletedTime != nil || !md.Versions[2].CreatedTime.Equal(created) ||
		md.Metadata.CurrentVersion != 2 || md.Metadata.OldestVersion != 2 || md.Metadata.MaxVersions != 10 || !md.Metadata.UpdatedTime.Equal(created) {
		t.Errorf("metadata: %+v", md)
	}

	if r := sdkDecode[reqres.PolicyPutResponse](t, PolicyPutResponse{}); r.Err != "" || r.ID != "" {
		t.Errorf("policy put: %+v", r)
	}
	pg := sdkDecode[reqres.PolicyReadResponse](t, PolicyGetResponse{Policy: Policy{
		Name: "p", SPIFFEIDPattern: "^spiffe://a/b$", PathPattern: "^a$", Permissions: []Permission{PermRead, PermSuper}, CreatedAt: created, UpdatedAt: created,
	}})
	if pg.Err != "" || pg.Name != "p" || pg.SPIFFEIDPattern != "^spiffe://a/b$" || pg.PathPattern != "^a$" ||
		!reflect.DeepEqual(pg.Permissions, []data.PolicyPermission{data.PermissionRead, data.PermissionSuper}) || !pg.CreatedAt.Equal(created) {
		t.Errorf("policy get: %+v", pg)
	}
	if r := sdkDecode[reqres.PolicyDeleteResponse](t, PolicyDeleteResponse{}); r.Err != "" {
		t.Errorf("policy delete: %+v", r)
	}
	pl := sdkDecode[reqres.PolicyListResponse](t, PolicyListResponse{Policies: []PolicyListItem{{Name: "a"}, {Name: "b"}}})
	if pl.Err != "" || len(pl.Policies) != 2 || pl.Policies[1].Name != "b" {
		t.Errorf("policy list: %+v", pl)
	}

	enc := sdkDecode[reqres.CipherEncryptResponse](t, CipherEncryptResponse{Version: 1, Nonce: []byte("0123456789ab"), Ciphertext: []byte{9, 8}})
	if enc.Err != "" || enc.Version != 1 || string(enc.Nonce) != "0123456789ab" || !bytes.Equal(enc.Ciphertext, []byte{9, 8}) {
		t.Errorf("encrypt: %+v", enc)
	}
	if r := sdkDecode[reqres.CipherDecryptResponse](t, CipherDecryptResponse{Plaintext: []byte("hi")}); r.Err != "" || string(r.Plaintext) != "hi" {
		t.Errorf("decrypt: %+v", r)
	}
	if r := sdkDecode[reqres.BootstrapVerifyResponse](t, BootstrapVerifyResponse{Hash: "ab"}); r.Err != "" || r.Hash != "ab" {
		t.Errorf("verify: %+v", r)
	}
	rec := sdkDecode[reqres.RecoverResponse](t, RecoverResponse{Shards: map[int]*Shard{1: shard1, 2: shard2}})
	if rec.Err != "" || len(rec.Shards) != 2 || *rec.Shards[1] != [32]byte(*shard1) || *rec.Shards[2] != [32]byte(*shard2) {
		t.Errorf("recover: %+v", rec)
	}
	rs := sdkDecode[reqres.RestoreResponse](t, RestoreResponse{Collected: 2, Remaining: 0, Restored: true})
	if rs.Err != "" || rs.ShardsCollected != 2 || rs.ShardsRemaining != 0 || !rs.Restored {
		t.Errorf("restore: %+v", rs)
	}
	if r := sdkDecode[reqres.ShardPutResponse](t, ShardContributeResponse{}); r.Err != "" {
		t.Errorf("contribute: %+v", r)
	}
	sg := sdkDecode[reqres.ShardGetResponse](t, ShardGetResponse{Shard: shard1})
	if sg.Err != "" || sg.Shard == nil || *sg.Shard != [32]byte(*shard1) {
		t.Errorf("shard: %+v", sg)
	}
	// The SDK's "Err"-keyed keeper body decodes into ours, and ours with
	// an error into the SDK's.
	b, _ := json.Marshal(reqres.ShardGetResponse{Shard: (*[32]byte)(shard1)})
	var ours ShardGetResponse
	if err := json.Unmarshal(b, &ours); err != nil || ours.Shard == nil || *ours.Shard != *shard1 || !strings.Contains(string(b), `"Err":""`) {
		t.Errorf("SPIKE keeper body %s into ours: %+v, %v", b, ours, err)
	}
	if r := sdkDecode[reqres.ShardGetResponse](t, ErrorResponseFor(OpShardGet, CodeBadRequest)); r.Err != sdkerrors.ErrAPIBadRequest.Code {
		t.Errorf("shard error: %+v", r)
	}

	// Extension fields stay invisible to a v0.8 client.
	if r := sdkDecode[reqres.SecretPutResponse](t, SecretPutResponse{Version: 4}); r.Err != "" {
		t.Errorf("put with version: %+v", r)
	}
}

// TestSDKErrorBodies: every error body decodes into the SDK's response
// type for the op and carries the code.
func TestSDKErrorBodies(t *testing.T) {
	t.Parallel()
	codeOf := map[Op]func(any) sdkerrors.ErrorCode{
		OpSecretPut:         func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.SecretPutResponse](t, v).Err },
		OpSecretGet:         func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.SecretGetResponse](t, v).Err },
		OpSecretDelete:      func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.SecretDeleteResponse](t, v).Err },
		OpSecretUndelete:    func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.SecretUndeleteResponse](t, v).Err },
		OpSecretList:        func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.SecretListResponse](t, v).Err },
		OpSecretMetadataGet: func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.SecretMetadataResponse](t, v).Err },
		OpPolicyPut:         func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.PolicyPutResponse](t, v).Err },
		OpPolicyGet:         func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.PolicyReadResponse](t, v).Err },
		OpPolicyDelete:      func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.PolicyDeleteResponse](t, v).Err },
		OpPolicyList:        func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.PolicyListResponse](t, v).Err },
		OpCipherEncrypt:     func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.CipherEncryptResponse](t, v).Err },
		OpCipherDecrypt:     func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.CipherDecryptResponse](t, v).Err },
		OpBootstrapVerify:   func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.BootstrapVerifyResponse](t, v).Err },
		OpOperatorRecover:   func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.RecoverResponse](t, v).Err },
		OpOperatorRestore:   func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.RestoreResponse](t, v).Err },
		OpShardContribute:   func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.ShardPutResponse](t, v).Err },
		OpShardGet:          func(v any) sdkerrors.ErrorCode { return sdkDecode[reqres.ShardGetResponse](t, v).Err },
	}
	for _, op := range Ops() {
		if op.Extension() {
			continue
		}
		get, ok := codeOf[op]
		if !ok {
			t.Errorf("%v: no SDK response type", op)
			continue
		}
		for _, c := range []ErrorCode{CodeBadRequest, CodeNotFound, CodeInternal, CodeUnauthorized, CodeNotReady} {
			if got := get(ErrorResponseFor(op, c)); string(got) != string(c) {
				t.Errorf("%v %q: SDK read %q", op, c, got)
			}
		}
	}
}

// TestSDKValidationAgrees compares our validators with the SDK's on a
// corpus: they agree, except that ours also compile patterns as RE2,
// bound SPIFFE-ID pattern lengths, refuse paths with empty segments
// ("/a/b", see the package documentation) and know the "admin"
// permission.
func TestSDKValidationAgrees(t *testing.T) {
	t.Parallel()
	corpus := []string{
		"", "a", "a/b", "/a/b", "a/b/", "a//b", "/", "tenants/demo/db/creds", "a b", "a.b", "a:b", "a@b", "^a", "a$", `^a$`, "a\nb", "é", "a,b",
		`aZ09._-/()?+*|[]{}\`, "-", "_", " ", "user name", strings.Repeat("x", 250), strings.Repeat("x", 251),
		strings.Repeat("x", 500), strings.Repeat("x", 501), `^tenants/demo/db/.*$`, `.*`, `(a`, `[z-a]`, `a{2}`, `a{1001}`,
		"spiffe://spike.ist", "spiffe://spike.ist/", "spiffe://spike.ist/spike/nexus", "spiffe://a_b/c", "spiffe://a/b_c",
		"https://a/b", `^spiffe://spike\.ist/workload/.*$`, `^spiffe://.*$`, `spiffe://(a|b)/x`, `^spiffe://a/(x$`,
		`^spiffe://a/[z-a]$`, `^spiffe://a/b/c$`, `spiffe://a/b\`, "spiffe://" + strings.Repeat("a", 300),
	}
	agree := func(name, in string, ours error, sdk *sdkerrors.SDKError, oursStricter bool) {
		t.Helper()
		if (ours == nil) == (sdk == nil) {
			return
		}
		if ours != nil && oursStricter {
			return
		}
		t.Errorf("%s(%q): ours %v, SDK %v", name, in, ours, sdk)
	}
	for _, s := range corpus {
		agree("path", s, ValidateSecretPath(s), validation.ValidatePath(s), CleanSecretPath(s) != s)
		agree("name", s, ValidatePolicyName(s), validation.ValidateName(s), false)
		agree("spiffeid", s, ValidateSPIFFEID(s), validation.ValidateSPIFFEID(s), false)
		agree("pathPattern", s, ValidatePathPattern(s), validation.ValidatePathPattern(s), !compiles(s))
		agree("spiffeidPattern", s, ValidateSPIFFEIDPattern(s), validation.ValidateSPIFFEIDPattern(s), !compiles(s))
	}
	for _, p := range []string{"read", "write", "list", "execute", "super", "admin", "Read", "", "delete"} {
		sdk := validation.ValidPermission(p)
		ours := Permission(p).Valid()
		if sdk != ours && p != "admin" {
			t.Errorf("permission %q: ours %v, SDK %v", p, ours, sdk)
		}
	}
}

func compiles(s string) bool {
	_, err := regexp.Compile(s)
	return err == nil
}
