package api

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testShard returns the shard 1, 2, …, 32 (plus offset) and its JSON.
func testShard(offset byte) (*Shard, string) {
	var s Shard
	parts := make([]string, ShardSize)
	for i := range s {
		s[i] = byte(i+1) + offset
		parts[i] = strconv.Itoa(int(s[i]))
	}
	return &s, "[" + strings.Join(parts, ",") + "]"
}

func ptr[T any](v T) *T { return &v }

var (
	t1 = time.Date(2026, 7, 25, 10, 11, 12, 123456789, time.UTC)
	t2 = time.Date(2026, 7, 26, 8, 0, 0, 0, time.UTC)
)

// TestMarshalGolden pins the exact JSON of every body: field names, order,
// omitempty, and encodings (base64 bytes, integer-array shards, string
// map keys, RFC 3339 times, null for nil).
func TestMarshalGolden(t *testing.T) {
	t.Parallel()
	shard1, shard1JSON := testShard(0)
	shard2, shard2JSON := testShard(100)
	nonce := []byte("0123456789ab")
	cases := []struct {
		name string
		v    any
		want string
	}{
		// Secrets.
		{"SecretPutRequest", SecretPutRequest{Path: "tenants/demo/db/creds", Values: map[string]string{"username": "admin", "password": "x"}},
			`{"path":"tenants/demo/db/creds","values":{"password":"x","username":"admin"}}`},
		{"SecretPutRequest/nil values", SecretPutRequest{Path: "a"}, `{"path":"a","values":null}`},
		{"SecretPutRequest/cas", SecretPutRequest{Path: "a", Values: map[string]string{}, CAS: ptr(0)}, `{"path":"a","values":{},"cas":0}`},
		{"SecretPutResponse", SecretPutResponse{}, `{}`},
		{"SecretPutResponse/cas", SecretPutResponse{Version: 3}, `{"version":3}`},
		{"SecretGetRequest", SecretGetRequest{Path: "a/b"}, `{"path":"a/b"}`},
		{"SecretGetRequest/version", SecretGetRequest{Path: "a/b", Version: 2}, `{"path":"a/b","version":2}`},
		{"SecretGetResponse", SecretGetResponse{Data: map[string]string{"username": "admin", "password": "x"}},
			`{"data":{"password":"x","username":"admin"}}`},
		{"SecretGetResponse/404", ErrorResponseFor(OpSecretGet, CodeNotFound), `{"data":null,"err":"api_not_found"}`},
		{"SecretDeleteRequest", SecretDeleteRequest{Path: "a", Versions: []int{}}, `{"path":"a","versions":[]}`},
		{"SecretDeleteRequest/nil", SecretDeleteRequest{Path: "a"}, `{"path":"a","versions":null}`},
		{"SecretDeleteResponse", SecretDeleteResponse{}, `{}`},
		{"SecretUndeleteRequest", SecretUndeleteRequest{Path: "a", Versions: []int{3}}, `{"path":"a","versions":[3]}`},
		{"SecretUndeleteResponse/404", ErrorResponseFor(OpSecretUndelete, CodeNotFound), `{"err":"api_not_found"}`},
		{"SecretListRequest", SecretListRequest{}, `{}`},
		{"SecretListResponse", SecretListResponse{Keys: []string{"a", "b/c"}}, `{"keys":["a","b/c"]}`},
		{"SecretListResponse/empty", SecretListResponse{Keys: []string{}}, `{"keys":[]}`},
		{"SecretMetadataGetRequest", SecretMetadataGetRequest{Path: "a"}, `{"path":"a"}`},
		{"SecretMetadataGetResponse", SecretMetadataGetResponse{
			Versions: map[int]SecretVersionInfo{
				1:  {CreatedTime: t1, Version: 1, DeletedTime: &t2},
				2:  {CreatedTime: t2, Version: 2},
				10: {CreatedTime: t2, Version: 10},
			},
			Metadata: SecretMetadata{CurrentVersion: 10, OldestVersion: 2, CreatedTime: t1, UpdatedTime: t2, MaxVersions: 10},
		}, `{"versions":{"1":{"createdTime":"2026-07-25T10:11:12.123456789Z","version":1,"deletedTime":"2026-07-26T08:00:00Z"},` +
			`"10":{"createdTime":"2026-07-26T08:00:00Z","version":10,"deletedTime":null},` +
			`"2":{"createdTime":"2026-07-26T08:00:00Z","version":2,"deletedTime":null}},` +
			`"metadata":{"currentVersion":10,"oldestVersion":2,"createdTime":"2026-07-25T10:11:12.123456789Z","updatedTime":"2026-07-26T08:00:00Z","maxVersions":10}}`},
		{"SecretMetadataGetResponse/404", ErrorResponseFor(OpSecretMetadataGet, CodeNotFound),
			`{"metadata":{"currentVersion":0,"oldestVersion":0,"createdTime":"0001-01-01T00:00:00Z","updatedTime":"0001-01-01T00:00:00Z","maxVersions":0},"err":"api_not_found"}`},
		{"SecretVersionInfo/offset", SecretVersionInfo{CreatedTime: time.Date(2026, 7, 25, 10, 11, 12, 123456789, time.FixedZone("", -7*3600)), Version: 1},
			`{"createdTime":"2026-07-25T10:11:12.123456789-07:00","version":1,"deletedTime":null}`},

		// Policies.
		{"PolicyPutRequest", PolicyPutRequest{Name: "workload-can-read", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/.*$`, PathPattern: `^tenants/demo/db/.*$`, Permissions: []Permission{PermRead}},
			`{"name":"workload-can-read","spiffeidPattern":"^spiffe://spike\\.ist/workload/.*$","pathPattern":"^tenants/demo/db/.*$","permissions":["read"]}`},
		{"PolicyPutResponse", PolicyPutResponse{}, `{}`},
		{"PolicyGetRequest", PolicyGetRequest{ID: "workload-can-read"}, `{"id":"workload-can-read"}`},
		{"PolicyGetResponse", PolicyGetResponse{Policy: Policy{Name: "workload-can-read", SPIFFEIDPattern: `^spiffe://x$`, PathPattern: `^a$`, Permissions: []Permission{PermRead, PermWrite}, CreatedAt: t1, UpdatedAt: t2}},
			`{"id":"","name":"workload-can-read","spiffiedPattern":"^spiffe://x$","pathPattern":"^a$","permissions":["read","write"],"createdAt":"2026-07-25T10:11:12.123456789Z","updatedAt":"2026-07-26T08:00:00Z"}`},
		{"PolicyGetResponse/404", ErrorResponseFor(OpPolicyGet, CodeNotFound),
			`{"id":"","name":"","spiffiedPattern":"","pathPattern":"","permissions":null,"createdAt":"0001-01-01T00:00:00Z","updatedAt":"0001-01-01T00:00:00Z","err":"api_not_found"}`},
		{"PolicyDeleteRequest", PolicyDeleteRequest{ID: "p"}, `{"id":"p"}`},
		{"PolicyDeleteResponse", PolicyDeleteResponse{}, `{}`},
		{"PolicyListRequest", PolicyListRequest{}, `{"spiffeidPattern":"","pathPattern":""}`},
		{"PolicyListResponse", PolicyListResponse{Policies: []PolicyListItem{{Name: "workload-can-read"}}}, `{"policies":[{"id":"","name":"workload-can-read"}]}`},
		{"PolicyListResponse/empty", PolicyListResponse{Policies: []PolicyListItem{}}, `{"policies":[]}`},

		// Cipher.
		{"CipherEncryptRequest", CipherEncryptRequest{Plaintext: []byte("hello")}, `{"plaintext":"aGVsbG8="}`},
		{"CipherEncryptRequest/algorithm", CipherEncryptRequest{Plaintext: []byte{}, Algorithm: "aes-gcm"}, `{"plaintext":"","algorithm":"aes-gcm"}`},
		{"CipherEncryptResponse", CipherEncryptResponse{Version: 1, Nonce: nonce, Ciphertext: []byte{0xff, 0xfe}}, `{"version":1,"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"//4="}`},
		{"CipherEncryptResponse/500", ErrorResponseFor(OpCipherEncrypt, CodeInternal), `{"version":0,"nonce":null,"ciphertext":null,"err":"api_internal_error"}`},
		{"CipherDecryptRequest", CipherDecryptRequest{Version: 1, Nonce: nonce, Ciphertext: []byte{1}}, `{"version":1,"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQ=="}`},
		{"CipherDecryptResponse", CipherDecryptResponse{Plaintext: []byte("hello")}, `{"plaintext":"aGVsbG8="}`},
		{"CipherDecryptResponse/500", ErrorResponseFor(OpCipherDecrypt, CodeInternal), `{"plaintext":null,"err":"api_internal_error"}`},

		// Bootstrap and operator.
		{"BootstrapVerifyRequest", BootstrapVerifyRequest{Nonce: nonce, Ciphertext: []byte{1, 2, 3}}, `{"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQID"}`},
		{"BootstrapVerifyResponse", BootstrapVerifyResponse{Hash: "ab01"}, `{"hash":"ab01"}`},
		{"BootstrapVerifyResponse/500", ErrorResponseFor(OpBootstrapVerify, CodeInternal), `{"hash":"","err":"api_internal_error"}`},
		{"RecoverRequest", RecoverRequest{}, `{}`},
		{"RecoverResponse", RecoverResponse{Shards: map[int]*Shard{2: shard2, 1: shard1}}, `{"shards":{"1":` + shard1JSON + `,"2":` + shard2JSON + `}}`},
		{"RecoverResponse/400", ErrorResponseFor(OpOperatorRecover, CodeBadRequest), `{"shards":null,"err":"api_bad_request"}`},
		{"RestoreRequest", RestoreRequest{ID: 2, Shard: shard1}, `{"id":2,"shard":` + shard1JSON + `}`},
		{"RestoreResponse", RestoreResponse{Collected: 1, Remaining: 1}, `{"collected":1,"remaining":1,"restored":false}`},
		{"RestoreResponse/done", RestoreResponse{Collected: 2, Restored: true}, `{"collected":2,"remaining":0,"restored":true}`},

		// Keeper.
		{"ShardContributeRequest", ShardContributeRequest{Shard: shard1}, `{"shard":` + shard1JSON + `}`},
		{"ShardContributeResponse", ShardContributeResponse{}, `{}`},
		{"ShardContributeResponse/401", ErrorResponseFor(OpShardContribute, CodeUnauthorized), `{"err":"access_unauthorized"}`},
		{"ShardGetRequest", ShardGetRequest{}, `{}`},
		{"ShardGetResponse", ShardGetResponse{Shard: shard1}, `{"shard":` + shard1JSON + `}`},
		{"ShardGetResponse/epoch", ShardGetResponse{Shard: shard1, Epoch: 3}, `{"shard":` + shard1JSON + `,"epoch":3}`},
		{"ShardContributeRequest/epoch", ShardContributeRequest{Shard: shard1, Epoch: 3}, `{"shard":` + shard1JSON + `,"epoch":3}`},
		{"ShardGetResponse/400", ErrorResponseFor(OpShardGet, CodeBadRequest), `{"shard":null,"err":"api_bad_request"}`},

		// Errors.
		{"ErrorResponse", NewErrorResponse(CodeBadRequest), `{"err":"api_bad_request"}`},
		{"ErrorResponse/503", NewErrorResponse(CodeNotReady), `{"err":"state_not_ready"}`},
		{"ErrorResponseFor/unknown", ErrorResponseFor(OpUnknown, CodeBadRequest), `{"err":"api_bad_request"}`},

		// Extensions.
		{"SecretDestroyRequest", SecretDestroyRequest{Path: "a", Versions: []int{1, 2}}, `{"path":"a","versions":[1,2]}`},
		{"SecretDestroyResponse", SecretDestroyResponse{}, `{}`},
		{"SecretSettingsPutRequest", SecretSettingsPutRequest{Path: "a", MaxVersions: ptr(5), CASRequired: ptr(true), DeleteVersionAfter: ptr("720h"), CustomMetadata: ptr(map[string]string{"team": "db"})},
			`{"path":"a","maxVersions":5,"casRequired":true,"deleteVersionAfter":"720h","customMetadata":{"team":"db"}}`},
		{"SecretSettingsPutRequest/clear", SecretSettingsPutRequest{Path: "a", CustomMetadata: ptr(map[string]string{})}, `{"path":"a","customMetadata":{}}`},
		{"SecretSettingsPutResponse", SecretSettingsPutResponse{}, `{}`},
		{"SecretSettingsGetRequest", SecretSettingsGetRequest{Path: "a"}, `{"path":"a"}`},
		{"SecretSettingsGetResponse", SecretSettingsGetResponse{MaxVersions: 10, Destroyed: []int{1}}, `{"maxVersions":10,"casRequired":false,"destroyed":[1]}`},
		{"SecretHistoryRequest", SecretHistoryRequest{Path: "a", Page: Page{After: 7, Limit: 10, Since: &t1}},
			`{"path":"a","after":7,"limit":10,"since":"2026-07-25T10:11:12.123456789Z"}`},
		{"SecretHistoryResponse", SecretHistoryResponse{Events: []AuditEvent{{Seq: 8, Time: t2, Type: "secret.read", Actor: "spiffe://spike.ist/workload/x", Path: "a", Versions: []int{2}, Outcome: "ok"}}, Next: 8},
			`{"events":[{"seq":8,"time":"2026-07-26T08:00:00Z","type":"secret.read","actor":"spiffe://spike.ist/workload/x","path":"a","versions":[2],"outcome":"ok"}],"next":8}`},
		{"AuditListRequest", AuditListRequest{Actor: "spiffe://spike.ist/workload/x", Types: []string{"secret.read"}}, `{"actor":"spiffe://spike.ist/workload/x","types":["secret.read"]}`},
		{"AuditListResponse", AuditListResponse{Events: []AuditEvent{}}, `{"events":[]}`},
		{"AuditCheckpointRequest", AuditCheckpointRequest{}, `{}`},
		{"AuditCheckpointResponse", AuditCheckpointResponse{Checkpoint: "spike\n3\nAQI=\n", Size: 3, RootHash: []byte{1, 2}}, `{"checkpoint":"spike\n3\nAQI=\n","size":3,"rootHash":"AQI="}`},
		{"AuditProofRequest", AuditProofRequest{Seq: 3}, `{"seq":3}`},
		{"AuditProofResponse", AuditProofResponse{Seq: 3, TreeSize: 4, LeafHash: []byte{1}, Proof: [][]byte{{2}, {3}}, Checkpoint: "c"},
			`{"seq":3,"treeSize":4,"leafHash":"AQ==","proof":["Ag==","Aw=="],"checkpoint":"c"}`},
		{"AuditConsistencyRequest", AuditConsistencyRequest{OldSize: 3, NewSize: 9}, `{"oldSize":3,"newSize":9}`},
		{"AuditConsistencyResponse", AuditConsistencyResponse{OldSize: 3, NewSize: 9, Proof: [][]byte{}, Checkpoint: "c"}, `{"oldSize":3,"newSize":9,"proof":[],"checkpoint":"c"}`},
		{"RestorePointApplyRequest", RestorePointApplyRequest{Paths: []string{"a"}, AsOfSeq: 42}, `{"paths":["a"],"asOfSeq":42}`},
		{"RestorePointApplyRequest/time", RestorePointApplyRequest{AsOfTime: &t2}, `{"asOfTime":"2026-07-26T08:00:00Z"}`},
		{"RestorePointApplyResponse", RestorePointApplyResponse{Seq: 50, AsOfSeq: 42, AsOfTime: t1}, `{"seq":50,"asOfSeq":42,"asOfTime":"2026-07-25T10:11:12.123456789Z"}`},
		{"RestorePointApplyRequest/plan", RestorePointApplyRequest{Prefix: "app/", Point: 40, BaseSeq: 49, Force: true}, `{"prefix":"app/","point":40,"baseSeq":49,"force":true}`},
		{"RestorePlanRequest", RestorePlanRequest{Prefix: "app/", AsOfSeq: 42}, `{"prefix":"app/","asOfSeq":42}`},
		{"RestorePlanResponse", RestorePlanResponse{BaseSeq: 50, AsOfSeq: 42, AsOfTime: t1,
			Actions: []RestoreAction{{Path: "app/a", Action: RestoreWrite, FromVersion: 3, AsOfVersion: 2, Keys: []string{"k"}}, {Path: "app/b", Action: RestoreImpossible, Reason: "destroyed"}},
			Counts:  RestoreCounts{Write: 1, Impossible: 1}},
			`{"baseSeq":50,"asOfSeq":42,"asOfTime":"2026-07-25T10:11:12.123456789Z","actions":[{"path":"app/a","action":"write","fromVersion":3,"asOfVersion":2,"keys":["k"]},{"path":"app/b","action":"impossible","reason":"destroyed"}],"counts":{"write":1,"delete":0,"nothing":0,"impossible":1}}`},
		{"RestorePointListRequest", RestorePointListRequest{}, `{}`},
		{"RestorePointListResponse", RestorePointListResponse{Points: []RestorePoint{{Seq: 1000, Time: t1}}}, `{"points":[{"seq":1000,"time":"2026-07-25T10:11:12.123456789Z"}]}`},
		{"AuditListRequest/filters", AuditListRequest{PathPrefix: "app/", Outcomes: []string{"denied"}, Page: Page{Since: &t2}},
			`{"pathPrefix":"app/","outcomes":["denied"],"since":"2026-07-26T08:00:00Z"}`},
		{"SystemStatusRequest", SystemStatusRequest{}, `{}`},
		{"ExportStartRequest", ExportStartRequest{Format: ExportJSON, AsOfSeq: 7, WithValues: true}, `{"format":"json","asOfSeq":7,"withValues":true}`},
		{"ExportGetResponse/building", ExportGetResponse{}, `{"ready":false}`},
		{"ExportGetResponse/chunk", ExportGetResponse{Ready: true, Size: 3, SHA256: []byte{1}, Secrets: 1, Versions: 2, Data: []byte("abc"), EOF: true},
			`{"ready":true,"size":3,"sha256":"AQ==","secrets":1,"versions":2,"data":"YWJj","eof":true}`},
		{"SystemStatusResponse/sealed", SystemStatusResponse{State: SystemSealed, Reason: "not bootstrapped", Node: "spiffe://spike.ist/spike/nexus",
			Keepers: []KeeperStatus{{URL: "https://k1:8554"}}, Shares: 1, Threshold: 1},
			`{"state":"sealed","reason":"not bootstrapped","node":"spiffe://spike.ist/spike/nexus","bootstrapped":false,"keepers":[{"url":"https://k1:8554","reachable":false}],` +
				`"keepersReachable":0,"shares":1,"threshold":1,"logEvents":0,"logBytes":0}`},
		{"SystemStatusResponse/ready", SystemStatusResponse{State: SystemReady, Node: "n", Leader: "n", Bootstrapped: true, UnsealedAt: &t1,
			Keepers: []KeeperStatus{{URL: "https://k1:8554", Reachable: true, LastSeen: &t2, LastChecked: &t2}}, KeepersReachable: 1, Shares: 1, Threshold: 1,
			LogEvents: 9, LogBytes: 4096, Checkpoint: &CheckpointStatus{Size: 8, Time: t2}},
			`{"state":"ready","node":"n","leader":"n","bootstrapped":true,"unsealedAt":"2026-07-25T10:11:12.123456789Z",` +
				`"keepers":[{"url":"https://k1:8554","reachable":true,"lastSeen":"2026-07-26T08:00:00Z","lastChecked":"2026-07-26T08:00:00Z"}],` +
				`"keepersReachable":1,"shares":1,"threshold":1,"logEvents":9,"logBytes":4096,"checkpoint":{"size":8,"time":"2026-07-26T08:00:00Z"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

// TestUnmarshalSPIKE decodes bodies shaped as SPIKE and its SDK write
// them (reference §3, §4) into this package's types.
func TestUnmarshalSPIKE(t *testing.T) {
	t.Parallel()
	shard1, shard1JSON := testShard(0)
	shard2, shard2JSON := testShard(100)
	cases := []struct {
		name string
		in   string
		into func() any // a pointer to a fresh value
		want any        // the value decoded
	}{
		{"SecretPutRequest", `{"path":"tenants/demo/db/creds","values":{"username":"admin","password":"x"}}`,
			func() any { return new(SecretPutRequest) },
			&SecretPutRequest{Path: "tenants/demo/db/creds", Values: map[string]string{"username": "admin", "password": "x"}}},
		{"SecretPutRequest/err ignored", `{"path":"a","values":{},"err":""}`,
			func() any { return new(SecretPutRequest) }, &SecretPutRequest{Path: "a", Values: map[string]string{}}},
		{"SecretGetRequest", `{"path":"tenants/demo/db/creds","version":0}`,
			func() any { return new(SecretGetRequest) }, &SecretGetRequest{Path: "tenants/demo/db/creds"}},
		{"SecretGetResponse/404", `{"data":null,"err":"api_not_found"}`,
			func() any { return new(SecretGetResponse) }, &SecretGetResponse{Err: CodeNotFound}},
		{"SecretDeleteRequest", `{"path":"a","versions":[]}`,
			func() any { return new(SecretDeleteRequest) }, &SecretDeleteRequest{Path: "a", Versions: []int{}}},
		{"SecretUndeleteRequest", `{"path":"a","versions":[3]}`,
			func() any { return new(SecretUndeleteRequest) }, &SecretUndeleteRequest{Path: "a", Versions: []int{3}}},
		{"SecretListResponse", `{"keys":["a","b/c"]}`,
			func() any { return new(SecretListResponse) }, &SecretListResponse{Keys: []string{"a", "b/c"}}},
		{"SecretMetadataGetResponse", `{"versions":{"1":{"createdTime":"2026-07-25T10:11:12.123456789Z","version":1,"deletedTime":null},` +
			`"2":{"createdTime":"2026-07-26T08:00:00Z","version":2,"deletedTime":"2026-07-26T08:00:00Z"}},` +
			`"metadata":{"currentVersion":1,"oldestVersion":1,"createdTime":"2026-07-25T10:11:12.123456789Z","updatedTime":"2026-07-26T08:00:00Z","maxVersions":10}}`,
			func() any { return new(SecretMetadataGetResponse) },
			&SecretMetadataGetResponse{
				Versions: map[int]SecretVersionInfo{1: {CreatedTime: t1, Version: 1}, 2: {CreatedTime: t2, Version: 2, DeletedTime: &t2}},
				Metadata: SecretMetadata{CurrentVersion: 1, OldestVersion: 1, CreatedTime: t1, UpdatedTime: t2, MaxVersions: 10},
			}},
		{"PolicyPutRequest", `{"name":"workload-can-read","spiffeidPattern":"^spiffe://spike\\.ist/workload/.*$","pathPattern":"^tenants/demo/db/.*$","permissions":["read"]}`,
			func() any { return new(PolicyPutRequest) },
			&PolicyPutRequest{Name: "workload-can-read", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/.*$`, PathPattern: "^tenants/demo/db/.*$", Permissions: []Permission{PermRead}}},
		{"PolicyGetRequest", `{"id":"workload-can-read"}`,
			func() any { return new(PolicyGetRequest) }, &PolicyGetRequest{ID: "workload-can-read"}},
		{"PolicyGetResponse", `{"id":"","name":"workload-can-read","spiffiedPattern":"^spiffe://x$","pathPattern":"^a$","permissions":["read"],"createdAt":"2026-07-25T10:11:12.123456789Z","updatedAt":"2026-07-26T08:00:00Z"}`,
			func() any { return new(PolicyGetResponse) },
			&PolicyGetResponse{Policy: Policy{Name: "workload-can-read", SPIFFEIDPattern: "^spiffe://x$", PathPattern: "^a$", Permissions: []Permission{PermRead}, CreatedAt: t1, UpdatedAt: t2}}},
		{"PolicyListRequest", `{"spiffeidPattern":"","pathPattern":""}`,
			func() any { return new(PolicyListRequest) }, &PolicyListRequest{}},
		{"PolicyListResponse", `{"policies":[{"id":"","name":"workload-can-read"}]}`,
			func() any { return new(PolicyListResponse) }, &PolicyListResponse{Policies: []PolicyListItem{{Name: "workload-can-read"}}}},
		{"CipherEncryptRequest", `{"plaintext":"aGVsbG8=","algorithm":"x"}`,
			func() any { return new(CipherEncryptRequest) }, &CipherEncryptRequest{Plaintext: []byte("hello"), Algorithm: "x"}},
		{"CipherEncryptResponse", `{"version":1,"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"//4="}`,
			func() any { return new(CipherEncryptResponse) }, &CipherEncryptResponse{Version: 1, Nonce: []byte("0123456789ab"), Ciphertext: []byte{0xff, 0xfe}}},
		{"CipherDecryptRequest", `{"version":1,"nonce":"MDEyMzQ1Njc4OWFi","ciphertext":"AQ=="}`,
			func() any { return new(CipherDecryptRequest) }, &CipherDecryptRequest{Version: 1, Nonce: []byte("0123456789ab"), Ciphertext: []byte{1}}},
		{"BootstrapVerifyResponse/500", `{"hash":"","err":"api_internal_error"}`,
			func() any { return new(BootstrapVerifyResponse) }, &BootstrapVerifyResponse{Err: CodeInternal}},
		{"RecoverResponse", `{"shards":{"1":` + shard1JSON + `,"2":` + shard2JSON + `}}`,
			func() any { return new(RecoverResponse) }, &RecoverResponse{Shards: map[int]*Shard{1: shard1, 2: shard2}}},
		{"RestoreRequest", `{"id":2,"shard":` + shard1JSON + `}`,
			func() any { return new(RestoreRequest) }, &RestoreRequest{ID: 2, Shard: shard1}},
		{"RestoreRequest/null shard", `{"id":2,"shard":null}`,
			func() any { return new(RestoreRequest) }, &RestoreRequest{ID: 2}},
		{"RestoreResponse", `{"collected":1,"remaining":1,"restored":false}`,
			func() any { return new(RestoreResponse) }, &RestoreResponse{Collected: 1, Remaining: 1}},
		{"ShardContributeRequest", `{"shard":` + shard2JSON + `}`,
			func() any { return new(ShardContributeRequest) }, &ShardContributeRequest{Shard: shard2}},
		// A SPIKE v0.8 Keeper writes "Err", always present.
		{"ShardGetResponse/SPIKE keeper", `{"shard":` + shard1JSON + `,"Err":""}`,
			func() any { return new(ShardGetResponse) }, &ShardGetResponse{Shard: shard1}},
		{"ShardGetResponse/SPIKE keeper 400", `{"shard":null,"Err":"api_bad_request"}`,
			func() any { return new(ShardGetResponse) }, &ShardGetResponse{Err: CodeBadRequest}},
		{"ErrorResponse/fallback", `{"err":"api_bad_request"}`,
			func() any { return new(ErrorResponse) }, &ErrorResponse{Err: CodeBadRequest}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := tc.into()
			if err := json.Unmarshal([]byte(tc.in), got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestErrorResponseForEveryOp checks every op has an error body whose
// "err" is the code.
func TestErrorResponseForEveryOp(t *testing.T) {
	t.Parallel()
	for _, op := range Ops() {
		b, err := json.Marshal(ErrorResponseFor(op, CodeNotReady))
		if err != nil {
			t.Fatalf("%v: %v", op, err)
		}
		var e ErrorResponse
		if err := json.Unmarshal(b, &e); err != nil || e.Err != CodeNotReady {
			t.Errorf("%v: error body %s has err %q", op, b, e.Err)
		}
		if _, plain := ErrorResponseFor(op, CodeNotReady).(ErrorResponse); plain {
			t.Errorf("%v: no op-specific error body", op)
		}
	}
}
