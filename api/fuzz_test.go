package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// reDecodeLimit is the limit for decoding a re-encoded body: encoding can
// grow a body (escaping), and the limit is not what is being tested.
const reDecodeLimit = 64 << 20

// fuzzRequest is the shared fuzz body for every request decoder: decoding
// never panics; a refusal is a client error; an accepted body re-encodes
// to JSON that decodes and validates again, to the same value.
func fuzzRequest[T Request](f *testing.F, seeds ...string) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		v, err := DecodeRequest[T](bytes.NewReader(body), 0)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			if CodeOf(err) != CodeBadRequest {
				t.Fatalf("CodeOf(%v) = %q", err, CodeOf(err))
			}
			return
		}
		if err := v.Validate(); err != nil {
			t.Fatalf("accepted but invalid: %v", err)
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("accepted body does not re-encode: %v", err)
		}
		v2, err := DecodeRequest[T](bytes.NewReader(enc), reDecodeLimit)
		if err != nil {
			t.Fatalf("re-encoded body %s refused: %v", enc, err)
		}
		enc2, err := json.Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not stable:\n%s\n%s", enc, enc2)
		}
	})
}

var (
	_, fuzzShardJSON = testShard(0)
	fuzzNonce        = `"MDEyMzQ1Njc4OWFi"`
)

func FuzzDecodeSecretPut(f *testing.F) {
	fuzzRequest[SecretPutRequest](f,
		`{"path":"tenants/demo/db/creds","values":{"username":"admin","password":"x"}}`,
		`{"path":"a","values":{},"err":""}`,
		`{"path":"a","values":{"k":"<&>\u0000\ud800"},"cas":0}`)
}

func FuzzDecodeSecretGet(f *testing.F) {
	fuzzRequest[SecretGetRequest](f, `{"path":"tenants/demo/db/creds","version":0}`, `{"path":"a","version":3}`)
}

func FuzzDecodeSecretDelete(f *testing.F) {
	fuzzRequest[SecretDeleteRequest](f, `{"path":"a","versions":[]}`, `{"path":"a","versions":[0,2]}`)
}

func FuzzDecodeSecretUndelete(f *testing.F) {
	fuzzRequest[SecretUndeleteRequest](f, `{"path":"a","versions":[3]}`, `{"path":"a","versions":null}`)
}

func FuzzDecodeSecretList(f *testing.F) { fuzzRequest[SecretListRequest](f, `{"x":1}`) }

func FuzzDecodeSecretMetadataGet(f *testing.F) {
	fuzzRequest[SecretMetadataGetRequest](f, `{"path":"a","version":1}`)
}

func FuzzDecodePolicyPut(f *testing.F) {
	fuzzRequest[PolicyPutRequest](f,
		`{"name":"workload-can-read","spiffeidPattern":"^spiffe://spike\\.ist/workload/.*$","pathPattern":"^tenants/demo/db/.*$","permissions":["read"]}`,
		`{"name":"a b","spiffeidPattern":"spiffe://x/(a)+","pathPattern":"(a|b){3}","permissions":["super","admin"]}`)
}

func FuzzDecodePolicyGet(f *testing.F) {
	fuzzRequest[PolicyGetRequest](f, `{"id":"workload-can-read"}`, `{"name":"p"}`)
}

func FuzzDecodePolicyDelete(f *testing.F) {
	fuzzRequest[PolicyDeleteRequest](f, `{"id":"p"}`, `{"id":"p","name":"p"}`)
}

func FuzzDecodePolicyList(f *testing.F) {
	fuzzRequest[PolicyListRequest](f, `{"spiffeidPattern":"","pathPattern":""}`, `{"pathPattern":"^a$"}`)
}

func FuzzDecodeCipherEncrypt(f *testing.F) {
	fuzzRequest[CipherEncryptRequest](f, `{"plaintext":"aGVsbG8="}`, `{"plaintext":"","algorithm":"x"}`)
}

func FuzzDecodeCipherDecrypt(f *testing.F) {
	fuzzRequest[CipherDecryptRequest](f, `{"version":1,"nonce":`+fuzzNonce+`,"ciphertext":"AQ=="}`)
}

func FuzzDecodeBootstrapVerify(f *testing.F) {
	fuzzRequest[BootstrapVerifyRequest](f, `{"nonce":`+fuzzNonce+`,"ciphertext":"AQID"}`)
}

func FuzzDecodeOperatorRecover(f *testing.F) { fuzzRequest[RecoverRequest](f) }

func FuzzDecodeOperatorBackup(f *testing.F) { fuzzRequest[BackupRequest](f, `{"x":1}`) }

func FuzzDecodeOperatorRestore(f *testing.F) {
	fuzzRequest[RestoreRequest](f, `{"id":2,"shard":`+fuzzShardJSON+`}`, `{"id":2,"shard":null}`)
}

func FuzzDecodeShardContribute(f *testing.F) {
	fuzzRequest[ShardContributeRequest](f, `{"shard":`+fuzzShardJSON+`}`)
}

func FuzzDecodeShardGet(f *testing.F) { fuzzRequest[ShardGetRequest](f) }

func FuzzDecodeSecretDestroy(f *testing.F) {
	fuzzRequest[SecretDestroyRequest](f, `{"path":"a","versions":[1,2]}`)
}

func FuzzDecodeSecretSettingsPut(f *testing.F) {
	fuzzRequest[SecretSettingsPutRequest](f,
		`{"path":"a","maxVersions":5,"casRequired":true,"deleteVersionAfter":"720h","customMetadata":{"team":"db"}}`,
		`{"path":"a","customMetadata":{}}`)
}

func FuzzDecodeSecretSettingsGet(f *testing.F) {
	fuzzRequest[SecretSettingsGetRequest](f, `{"path":"a"}`)
}

func FuzzDecodeSecretHistory(f *testing.F) {
	fuzzRequest[SecretHistoryRequest](f,
		`{"path":"a","after":7,"limit":10,"since":"2026-07-25T10:11:12.123456789Z","until":"2026-07-26T08:00:00+02:00"}`)
}

func FuzzDecodeAuditList(f *testing.F) {
	fuzzRequest[AuditListRequest](f, `{"actor":"spiffe://spike.ist/workload/x","path":"a","types":["secret.read"],"limit":5}`,
		`{"pathPrefix":"app/","outcomes":["denied","conflict"],"since":"2026-07-25T10:11:12Z"}`)
}

func FuzzDecodeAuditTail(f *testing.F) {
	fuzzRequest[AuditTailRequest](f, `{"actor":"spiffe://spike.ist/workload/x","path":"a","types":["secret.read"],"from":5}`,
		`{"pathPrefix":"app/","outcomes":["denied"],"since":"2026-07-25T10:11:12Z"}`)
}

func FuzzDecodeAuditCheckpoint(f *testing.F) { fuzzRequest[AuditCheckpointRequest](f) }

func FuzzDecodeAuditProof(f *testing.F) {
	fuzzRequest[AuditProofRequest](f, `{"seq":3}`, `{"seq":3,"treeSize":4}`)
}

func FuzzDecodeAuditConsistency(f *testing.F) {
	fuzzRequest[AuditConsistencyRequest](f, `{"oldSize":3,"newSize":9}`)
}

func FuzzDecodeRestorePointApply(f *testing.F) {
	fuzzRequest[RestorePointApplyRequest](f, `{"paths":["a"],"asOfSeq":42}`, `{"asOfTime":"2026-07-26T08:00:00Z"}`)
}

func FuzzDecodeRestorePlan(f *testing.F) {
	fuzzRequest[RestorePlanRequest](f, `{"prefix":"app/","asOfSeq":42}`, `{"paths":["a"],"point":7}`)
}

func FuzzDecodeRestorePointList(f *testing.F) {
	fuzzRequest[RestorePointListRequest](f, `{"after":3,"limit":2}`)
}

func FuzzDecodeClusterList(f *testing.F) { fuzzRequest[ClusterListRequest](f, `{"x":1}`) }

func FuzzDecodeClusterAdd(f *testing.F) {
	fuzzRequest[ClusterAddRequest](f,
		`{"id":"nexus-2","raftAddress":"nexus-2.nexus:8300","apiAddress":"nexus-2.nexus:8553"}`,
		`{"id":"n3","raftAddress":"[fe80::1%eth0]:8300"}`,
		`{"id":"N3","raftAddress":"10.0.0.3:0","apiAddress":"a b:1"}`)
}

func FuzzDecodeClusterRemove(f *testing.F) {
	fuzzRequest[ClusterRemoveRequest](f, `{"id":"nexus-2"}`, `{"id":"`+strings.Repeat("a", 65)+`"}`)
}

// FuzzParseCipherEnvelope: the stream-mode decrypt body.
func FuzzParseCipherEnvelope(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(append([]byte{1}, []byte("0123456789abciphertext+tag......")...))
	f.Add([]byte{2, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseCipherEnvelope(b)
		if err != nil {
			if CodeOf(err).Status() != 400 {
				t.Fatalf("status %d for %v", CodeOf(err).Status(), err)
			}
			return
		}
		if e.Version != CipherVersion || len(e.Nonce) != NonceSize || len(e.Ciphertext) > MaxCipherPayload {
			t.Fatalf("bad envelope accepted: %+v", e)
		}
		if !bytes.Equal(e.Append(nil), b) {
			t.Fatal("envelope does not round-trip")
		}
	})
}

// FuzzDecodeResponses: responses are outside input for clients. Decoding
// any body into any response type never panics, and what decodes
// re-encodes stably.
func FuzzDecodeResponses(f *testing.F) {
	decoders := []func([]byte) (any, error){
		decodeAny[SecretPutResponse], decodeAny[SecretGetResponse], decodeAny[SecretListResponse],
		decodeAny[SecretMetadataGetResponse], decodeAny[PolicyGetResponse], decodeAny[PolicyListResponse],
		decodeAny[CipherEncryptResponse], decodeAny[CipherDecryptResponse], decodeAny[BootstrapVerifyResponse],
		decodeAny[RecoverResponse], decodeAny[RestoreResponse], decodeAny[ShardGetResponse],
		decodeAny[SecretSettingsGetResponse], decodeAny[SecretHistoryResponse], decodeAny[AuditCheckpointResponse],
		decodeAny[AuditProofResponse], decodeAny[AuditConsistencyResponse], decodeAny[RestorePointApplyResponse],
		decodeAny[RestorePointListResponse], decodeAny[ErrorResponse], decodeAny[Problem],
		decodeAny[SecretPatchResponse], decodeAny[SecretRollbackResponse], decodeAny[SecretMetadataDeleteResponse],
		decodeAny[SystemStatusResponse],
		decodeAny[ExportStartResponse], decodeAny[ExportGetResponse], decodeAny[RestorePlanResponse],
		decodeAny[ClusterListResponse], decodeAny[ClusterAddResponse], decodeAny[ClusterRemoveResponse],
	}
	f.Add(uint8(3), []byte(`{"versions":{"1":{"createdTime":"2026-07-25T10:11:12Z","version":1,"deletedTime":null}},"metadata":{"currentVersion":1}}`))
	f.Add(uint8(9), []byte(`{"shards":{"1":`+fuzzShardJSON+`}}`))
	f.Add(uint8(11), []byte(`{"shard":`+fuzzShardJSON+`,"Err":""}`))
	f.Add(uint8(28), []byte(`{"members":[{"id":"a","raftAddress":"a:1","role":"leader","voter":true,"healthy":false}],"leader":"a"}`))
	f.Add(uint8(4), []byte(`{"id":"","name":"p","spiffiedPattern":"^spiffe://x$","permissions":["read"],"createdAt":"2026-07-25T10:11:12Z"}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		dec := decoders[int(which)%len(decoders)]
		v, err := dec(body)
		if err != nil {
			return
		}
		enc, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("decoded response does not re-encode: %v", err)
		}
		v2, err := dec(enc)
		if err != nil {
			t.Fatalf("re-encoded response %s refused: %v", enc, err)
		}
		enc2, _ := json.Marshal(v2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func decodeAny[T any](b []byte) (any, error) {
	v, err := Decode[T](bytes.NewReader(b), reDecodeLimit)
	return v, err
}

// TestEveryOpHasARequestType keeps the request types and Op in step: each
// op's request type reports that op.
func TestEveryOpHasARequestType(t *testing.T) {
	t.Parallel()
	reqs := []Request{
		SecretPutRequest{}, SecretGetRequest{}, SecretDeleteRequest{}, SecretUndeleteRequest{}, SecretListRequest{},
		SecretMetadataGetRequest{}, PolicyPutRequest{}, PolicyGetRequest{}, PolicyDeleteRequest{}, PolicyListRequest{},
		CipherEncryptRequest{}, CipherDecryptRequest{}, BootstrapVerifyRequest{}, RecoverRequest{}, RestoreRequest{},
		ShardContributeRequest{}, ShardGetRequest{}, SecretDestroyRequest{}, SecretSettingsPutRequest{},
		SecretSettingsGetRequest{}, SecretHistoryRequest{}, AuditListRequest{}, AuditCheckpointRequest{},
		AuditProofRequest{}, AuditConsistencyRequest{}, RestorePointApplyRequest{}, RestorePointListRequest{},
		BootstrapStatusRequest{}, SecretPatchRequest{}, SecretRollbackRequest{}, SecretMetadataDeleteRequest{},
		SystemStatusRequest{},
		ExportStartRequest{}, ExportGetRequest{}, AuditTailRequest{}, RestorePlanRequest{},
		ClusterListRequest{}, ClusterAddRequest{}, ClusterRemoveRequest{}, BackupRequest{},
	}
	seen := map[Op]bool{}
	for _, r := range reqs {
		if seen[r.Op()] {
			t.Errorf("two request types for %v", r.Op())
		}
		seen[r.Op()] = true
	}
	for _, op := range Ops() {
		if !seen[op] {
			t.Errorf("%v has no request type", op)
		}
	}
}
