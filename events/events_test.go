package events

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRoundTripEveryType(t *testing.T) {
	t.Parallel()
	five, yes, hour := 5, true, time.Hour
	cm := map[string]string{"team": "db"}
	samples := []Payload{
		&SecretVersionWritten{Meta: Meta{Actor: "spiffe://spike.ist/spike/pilot/role/superuser", RequestID: "r1"}, Path: "a/b", Version: 3, ValueKey: "01J", Sealed: []byte{1, 2}, MaxVersions: 10, CAS: &five, Pruned: []int{1}},
		&SecretVersionsDeleted{Path: "a", Versions: []int{1, 2}},
		&SecretVersionsUndeleted{Path: "a", Versions: []int{2}},
		&SecretVersionsDestroyed{Path: "a", Versions: []int{1}},
		&SecretMetadataUpdated{Path: "a", MaxVersions: &five, CASRequired: &yes, CustomMetadata: &cm, DeleteVersionAfter: &hour, Pruned: []int{1}},
		&SecretRead{Path: "a", Version: 2, Outcome: OutcomeOK},
		&SecretRead{Path: "a", Version: 3, Outcome: OutcomeNotFound, Reason: "deleted"},
		&AccessDenied{Path: "a", Action: "read", Reason: "no policy"},
		&PolicyPut{Name: "p", SpiffeIDPattern: "^x$", PathPattern: "^a$", Permissions: []string{"read"}},
		&PolicyDeleted{Name: "p"},
		&CipherUsed{Operation: "encrypt", Outcome: OutcomeOK, Bytes: 10},
		&Bootstrapped{Shares: 3, Threshold: 2, Keepers: []string{"k1", "k2", "k3"}, Commitments: [][]byte{{1}}},
		&RootKeyRecovered{Keepers: []string{"k1", "k2"}, Rejected: []string{"k3"}},
		&RootKeyRestored{Shards: 2},
		&ShardsDistributed{Results: []KeeperOutcome{{Keeper: "k1", OK: true}, {Keeper: "k2", Error: "timeout"}}},
		&KeeperUnreachable{Keeper: "k2", Error: "refused"},
		&DataKeyRotated{KeyID: 2},
		&RootKeyRotated{Shares: 3, Threshold: 2},
		&RestorePointApplied{Paths: []string{"a"}, AsOfSeq: 9, AsOfTime: time.Unix(100, 0).UTC(),
			Changes: []RestoreChange{{Path: "a", Written: 4}, {Path: "b", Deleted: []int{1, 2}}}},
		&Imported{Source: "spike-v0.8", Secrets: 1, Versions: 2, Policies: 3},
		&Exported{Format: "spike-db", AsOfSeq: 12, WithValues: true},
		&RecoveryShardsExported{Shards: 3},
		&ShardsRotated{Epoch: 2, Shares: 3, Threshold: 2, Commitments: [][]byte{{1}}},
		&SecretMetadataDeleted{Path: "a", Versions: []int{2, 3}, LastVersion: 3},
		&RequestRefused{Path: "a", Action: "secret.put", Outcome: OutcomeConflict, Reason: "cas_mismatch", Versions: []int{2}},
		&SecretVersionWritten{Path: "a", Version: 5, ValueKey: "01K", Sealed: []byte{3}, Via: "rollback", From: 2},
		&ClusterMemberAdded{ID: "nexus-2", RaftAddress: "nexus-2.nexus:8300", APIAddress: "nexus-2.nexus:8553"},
		&ClusterMemberRemoved{ID: "nexus-2", RaftAddress: "nexus-2.nexus:8300"},
		&BackedUp{Events: 40},
	}
	types := map[string]bool{}
	for _, p := range samples {
		types[p.Type()] = true
	}
	if len(types) != len(Types()) {
		t.Fatalf("samples of %d types for %d types: every type needs a sample", len(types), len(Types()))
	}
	for _, p := range samples {
		b, err := Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(p.Type(), p.Schema(), b)
		if err != nil {
			t.Fatalf("%s: %v", p.Type(), err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("%s: round trip\n got %#v\nwant %#v", p.Type(), got, p)
		}
		if s, ok := CurrentSchema(p.Type()); !ok || s != p.Schema() {
			t.Errorf("%s: CurrentSchema = %d, %v", p.Type(), s, ok)
		}
	}
}

func TestDecodeForwardCompatible(t *testing.T) {
	t.Parallel()
	// A field added by a later version is ignored; a field an old writer
	// did not know decodes to its zero value.
	p, err := Decode("secret.read", 1, []byte(`{"path":"a","outcome":"ok","added_later":{"x":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := p.(*SecretRead); r.Path != "a" || r.Version != 0 {
		t.Fatalf("decoded %+v", r)
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, typ string
		schema    uint32
		data      string
		want      string
	}{
		{"unknown type", "nope", 1, `{}`, "unknown event type"},
		{"old schema", "policy.put", 1, `{"name":"p"}`, "upcast"},
		{"newer schema", "secret.read", 2, `{"path":"a"}`, "schema 2"},
		{"not json", "secret.read", 1, `{`, "decode secret.read"},
		{"wrong field type", "secret.read", 1, `{"path":7}`, "decode secret.read"},
		{"empty path", "secret.versions.deleted", 1, `{"versions":[1]}`, "path is empty"},
		{"bad version", "secret.versions.deleted", 1, `{"path":"a","versions":[0]}`, "not positive"},
		{"written without value", "secret.version.written", 1, `{"path":"a","version":1}`, "sealed data missing"},
		{"policy without name", "policy.put", 2, `{}`, "name is empty"},
		{"metadata delete without path", "secret.metadata.deleted", 1, `{"last_version":2}`, "path is empty"},
		{"metadata delete, bad version", "secret.metadata.deleted", 1, `{"path":"a","versions":[-1]}`, "not positive"},
		{"restore changing a path twice", "restore.applied", 1, `{"as_of_seq":1,"changes":[{"path":"a","written":2},{"path":"a","deleted":[1]}]}`, "changed twice"},
		{"refusal without action", "request.refused", 1, `{"path":"a","outcome":"conflict"}`, "action or outcome"},
		{"member added without address", "cluster.member_added", 1, `{"id":"n2"}`, "raft address is empty"},
		{"member removed without id", "cluster.member_removed", 1, `{"raft_address":"h:1"}`, "member id is empty"},
	} {
		_, err := Decode(tc.typ, tc.schema, []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestValueAADBindsPathAndVersion(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, c := range []struct {
		p string
		v int
	}{{"a", 1}, {"a", 11}, {"a1", 1}, {"a\x001", 1}, {"b", 1}} {
		k := string(ValueAAD(c.p, c.v))
		if seen[k] {
			t.Fatalf("ValueAAD(%q, %d) collides", c.p, c.v)
		}
		seen[k] = true
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("secret.version.written", uint32(1), []byte(`{"path":"a","version":1,"value_key":"k","sealed":"AQ=="}`))
	f.Add("policy.put", uint32(2), []byte(`{"name":"p","permissions":["read"]}`))
	f.Add("secret.metadata.updated", uint32(1), []byte(`{"path":"a","max_versions":-1}`))
	f.Fuzz(func(t *testing.T, typ string, schema uint32, data []byte) {
		p, err := Decode(typ, schema, data)
		if err != nil {
			return
		}
		if p.Type() != typ || p.Schema() != schema {
			t.Fatalf("decoded %s/%d as %s/%d", typ, schema, p.Type(), p.Schema())
		}
		if _, err := Encode(p); err != nil {
			t.Fatalf("re-encode: %v", err)
		}
	})
}
