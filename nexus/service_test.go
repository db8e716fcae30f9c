package nexus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/events"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/nexus/internal/service"
	"github.com/spikeledger/spike/projections"
)

// call makes one API call as the SPIFFE ID at path.
func (c *keeperSet) call(t testing.TB, n *nexusProc, who string, op api.Op, req, resp any) error {
	t.Helper()
	return c.Client(who, c.Roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: op.Path(), Action: string(op.Action()), Request: req, Response: resp})
}

func status4xx(err error) int {
	var se *transport.StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

const superuser = "/spike/pilot/role/superuser"

func TestSecretsAndPolicies(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	rootKey := c.bootstrap(n, 2)
	waitReady(t, n, true)

	put := func(v string) error {
		return c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "db/creds", Values: map[string]string{"pw": v}}, nil)
	}
	for _, v := range []string{"one", "two", "three"} {
		if err := put(v); err != nil {
			t.Fatal(err)
		}
	}
	var got api.SecretGetResponse
	if err := c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds"}, &got); err != nil || got.Data["pw"] != "three" {
		t.Fatalf("get = %v, %v", got.Data, err)
	}
	if err := c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds", Version: 1}, &got); err != nil || got.Data["pw"] != "one" {
		t.Fatalf("get v1 = %v, %v", got.Data, err)
	}
	if err := c.call(t, n, superuser, api.OpSecretDelete, api.SecretDeleteRequest{Path: "db/creds"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds"}, &got); err != nil || got.Data["pw"] != "two" {
		t.Fatalf("after delete current = %v, %v", got.Data, err)
	}
	// Undelete with no versions restores the most recently deleted one.
	if err := c.call(t, n, superuser, api.OpSecretUndelete, api.SecretUndeleteRequest{Path: "db/creds"}, nil); err != nil {
		t.Fatal(err)
	}
	var meta api.SecretMetadataGetResponse
	if err := c.call(t, n, superuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "db/creds"}, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Metadata.CurrentVersion != 3 || len(meta.Versions) != 3 || meta.Versions[2].Version != 2 {
		t.Fatalf("metadata = %+v", meta)
	}
	var list api.SecretListResponse
	if err := c.call(t, n, superuser, api.OpSecretList, api.SecretListRequest{}, &list); err != nil || len(list.Keys) != 1 {
		t.Fatalf("list = %v, %v", list.Keys, err)
	}
	for _, p := range []string{"db/other", "web/a", "web/b", "web/c"} {
		if err := c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: p, Values: map[string]string{"k": "v"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Paging with a prefix walks every match once.
	var paged []string
	for after := ""; ; {
		var page api.SecretListResponse
		if err := c.call(t, n, superuser, api.OpSecretList, api.SecretListRequest{Prefix: "web/", After: after, Limit: 2}, &page); err != nil {
			t.Fatal(err)
		}
		paged = append(paged, page.Keys...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if strings.Join(paged, ",") != "web/a,web/b,web/c" {
		t.Fatalf("paged list = %v", paged)
	}
	if err := c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "nope"}, &got); status4xx(err) != 404 {
		t.Fatalf("missing path: %v", err)
	}
	// A version over 1 MiB is refused and changes nothing.
	huge := api.SecretPutRequest{Path: "db/creds", Values: map[string]string{"blob": strings.Repeat("x", service.DefaultMaxSecretSize)}}
	if err := c.call(t, n, superuser, api.OpSecretPut, huge, nil); status4xx(err) != 400 {
		t.Fatalf("oversized put: %v", err)
	}
	if err := c.call(t, n, superuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "db/creds"}, &meta); err != nil || meta.Metadata.CurrentVersion != 3 {
		t.Fatalf("after the refused put: current %d, %v", meta.Metadata.CurrentVersion, err)
	}

	// A workload: nothing without a policy, reads with a read policy.
	app := "/workload/app"
	if err := c.call(t, n, app, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds"}, &got); status4xx(err) != 401 {
		t.Fatalf("workload without policy: %v", err)
	}
	pol := api.PolicyPutRequest{Name: "app-read", SPIFFEIDPattern: `^spiffe://spike\.test/workload/app$`, PathPattern: `^db/.*$`, Permissions: []api.Permission{api.PermRead}}
	if err := c.call(t, n, superuser, api.OpPolicyPut, pol, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.call(t, n, app, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds"}, &got); err != nil || got.Data["pw"] != "three" {
		t.Fatalf("workload with a read policy: %v, %v", got.Data, err)
	}
	// Without the list permission it lists only what it may read.
	if err := c.call(t, n, app, api.OpSecretList, api.SecretListRequest{}, &list); err != nil || strings.Join(list.Keys, ",") != "db/creds,db/other" {
		t.Fatalf("workload's list = %v, %v", list.Keys, err)
	}
	if err := c.call(t, n, app, api.OpSecretPut, api.SecretPutRequest{Path: "db/creds", Values: map[string]string{"pw": "x"}}, nil); status4xx(err) != 401 {
		t.Fatalf("workload writing with a read policy: %v", err)
	}
	var pg api.PolicyGetResponse
	if err := c.call(t, n, superuser, api.OpPolicyGet, api.PolicyGetRequest{ID: "app-read"}, &pg); err != nil || pg.PathPattern != `^db/.*$` {
		t.Fatalf("policy get = %+v, %v", pg, err)
	}
	if err := c.call(t, n, superuser, api.OpPolicyGet, api.PolicyGetRequest{ID: "missing"}, &pg); status4xx(err) != 404 {
		t.Fatalf("missing policy: %v (SPIKE answers 500; we answer 404)", err)
	}
	bad := pol
	bad.PathPattern = "(" // does not compile
	if err := c.call(t, n, superuser, api.OpPolicyPut, bad, nil); status4xx(err) != 400 {
		t.Fatalf("invalid policy: %v", err)
	}
	if err := c.call(t, n, superuser, api.OpPolicyDelete, api.PolicyDeleteRequest{ID: "app-read"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.call(t, n, app, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds"}, &got); status4xx(err) != 401 {
		t.Fatalf("after the policy went: %v", err)
	}
	// Cipher round trip in JSON mode.
	var enc api.CipherEncryptResponse
	if err := c.call(t, n, superuser, api.OpCipherEncrypt, api.CipherEncryptRequest{Plaintext: []byte("hello")}, &enc); err != nil {
		t.Fatal(err)
	}
	var dec api.CipherDecryptResponse
	if err := c.call(t, n, superuser, api.OpCipherDecrypt, api.CipherDecryptRequest{Version: enc.Version, Nonce: enc.Nonce, Ciphertext: enc.Ciphertext}, &dec); err != nil || string(dec.Plaintext) != "hello" {
		t.Fatalf("cipher round trip: %q, %v", dec.Plaintext, err)
	}
	n.stop()

	// The audit trail: one secret.read per get, one access.denied per refusal.
	ctx := context.Background()
	log, err := eventlog.Open(ctx, filepath.Join(c.Dir, "events.db"), eventlog.Options{Logger: c.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	counts := map[string]int{}
	log.ScanBack(ctx, func(r eventlog.Record) bool { counts[r.Type]++; return true }, "secret.read", "access.denied", "cipher.used")
	// Each read names who read which version.
	if err := log.Unlock(ctx, rootKey[:]); err != nil {
		t.Fatal(err)
	} else {
		log.ScanBack(ctx, func(r eventlog.Record) bool {
			full, err := log.Get(ctx, r.Seq)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := projections.Decode(full)
			if err != nil {
				t.Fatal(err)
			}
			read := pl.(*events.SecretRead)
			if read.Actor == "" || (read.Outcome == events.OutcomeOK && read.Version == 0) {
				t.Fatalf("secret.read at seq %d lacks the reader or the version: %+v", r.Seq, read)
			}
			return true
		}, "secret.read")
	}
	if counts["secret.read"] != 5 || counts["access.denied"] != 3 || counts["cipher.used"] != 2 {
		t.Fatalf("audit counts %v; want 5 reads (4 found, 1 not), 3 denials, 2 cipher uses", counts)
	}
}

// TestConcurrentWritesLoseNothing: 32 writers × 100 puts on one path end
// at version 3200, every number used once, exactly the configured 10 kept.
func TestConcurrentWritesLoseNothing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	const writers, each = 32, 100
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			cl := c.Client(superuser, c.Roles.IsNexus)
			for i := range each {
				err := cl.Do(context.Background(), transport.Call{BaseURL: n.api, Path: api.PathSecrets,
					Request: api.SecretPutRequest{Path: "hot", Values: map[string]string{"w": fmt.Sprint(w, "-", i)}}})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var meta api.SecretMetadataGetResponse
	if err := c.call(t, n, superuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "hot"}, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Metadata.CurrentVersion != writers*each || len(meta.Versions) != 10 || meta.Metadata.OldestVersion != writers*each-9 {
		t.Fatalf("after %d writes: current %d, oldest %d, %d versions kept (want %d, %d, 10)",
			writers*each, meta.Metadata.CurrentVersion, meta.Metadata.OldestVersion, len(meta.Versions), writers*each, writers*each-9)
	}
}

// TestHostileInput: malformed, oversized, mistyped and invalid requests
// get the right 4xx and change nothing.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	if err := c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "ok/path", Values: map[string]string{"k": "v"}}, nil); err != nil {
		t.Fatal(err)
	}
	raw := func(path, action string, body any) int {
		err := c.Client(superuser, c.Roles.IsNexus).Do(context.Background(), transport.Call{BaseURL: n.api, Path: path, Action: action, Request: body})
		return status4xx(err)
	}
	for _, tc := range []struct {
		name         string
		path, action string
		body         any
		want         int
	}{
		{"string instead of object", api.PathSecrets, "", "not an object", 400},
		{"values of the wrong type", api.PathSecrets, "", map[string]any{"path": "ok/path", "values": []int{1}}, 400},
		{"version of the wrong type", api.PathSecrets, "get", map[string]any{"path": "ok/path", "version": "two"}, 400},
		{"path with a space", api.PathSecrets, "", api.SecretPutRequest{Path: "bad path", Values: map[string]string{"k": "v"}}, 400},
		{"path too long", api.PathSecrets, "", api.SecretPutRequest{Path: strings.Repeat("a", 501), Values: map[string]string{"k": "v"}}, 400},
		{"key with a dot", api.PathSecrets, "", api.SecretPutRequest{Path: "ok/path", Values: map[string]string{"db.host": "v"}}, 400},
		{"negative version", api.PathSecrets, "get", api.SecretGetRequest{Path: "ok/path", Version: -1}, 400},
		{"unknown action", api.PathSecrets, "explode", map[string]string{"path": "ok/path"}, 400},
		{"unknown path", "/v1/store/secretz", "", map[string]string{}, 400},
		{"body over the route limit", api.PathPolicy, "", map[string]string{"name": strings.Repeat("x", 2<<20)}, 400},
		{"policy with a bad permission", api.PathPolicy, "", map[string]any{"name": "p", "spiffeidPattern": "^spiffe://x/y$", "pathPattern": "^a$", "permissions": []string{"root"}}, 400},
		{"policy that does not compile", api.PathPolicy, "", map[string]any{"name": "p", "spiffeidPattern": "^spiffe://x/y$", "pathPattern": "(", "permissions": []string{"read"}}, 400},
		{"cipher decrypt of garbage", api.PathCipherDecrypt, "", map[string]any{"version": 1, "nonce": "AAAA", "ciphertext": "AAAA"}, 400},
	} {
		if got := raw(tc.path, tc.action, tc.body); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	var meta api.SecretMetadataGetResponse
	if err := c.call(t, n, superuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "ok/path"}, &meta); err != nil || meta.Metadata.CurrentVersion != 1 || len(meta.Versions) != 1 {
		t.Fatalf("state changed: %+v, %v", meta, err)
	}
	var list api.SecretListResponse
	var pols api.PolicyListResponse
	c.call(t, n, superuser, api.OpSecretList, api.SecretListRequest{}, &list)
	c.call(t, n, superuser, api.OpPolicyList, api.PolicyListRequest{}, &pols)
	if len(list.Keys) != 1 || len(pols.Policies) != 0 {
		t.Fatalf("state changed: paths %v, policies %v", list.Keys, pols.Policies)
	}
}

func TestDestroySettingsAndCAS(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	put := func(v string, cas *int) error {
		return c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "kv/a", Values: map[string]string{"v": v}, CAS: cas}, nil)
	}
	zero, one := 0, 1
	if err := put("1", &zero); err != nil { // create only
		t.Fatal(err)
	}
	if err := put("x", &zero); status4xx(err) != 409 {
		t.Fatalf("create-only over an existing path: %v", err)
	}
	if err := put("2", &one); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"3", "4"} {
		if err := put(v, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Destroy version 2: gone for every reader.
	if err := c.call(t, n, superuser, api.OpSecretDestroy, api.SecretDestroyRequest{Path: "kv/a", Versions: []int{2}}, nil); err != nil {
		t.Fatal(err)
	}
	var got api.SecretGetResponse
	if err := c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "kv/a", Version: 2}, &got); status4xx(err) != 404 {
		t.Fatalf("destroyed version read: %v %v", got.Data, err)
	}
	// Settings: retention 2 prunes versions 1 (and destroyed 2) now; CAS becomes required.
	two, yes := 2, true
	after := "1h"
	set := api.SecretSettingsPutRequest{Path: "kv/a", MaxVersions: &two, CASRequired: &yes, DeleteVersionAfter: &after, CustomMetadata: &map[string]string{"owner": "db"}}
	if err := c.call(t, n, superuser, api.OpSecretSettingsPut, set, nil); err != nil {
		t.Fatal(err)
	}
	var st api.SecretSettingsGetResponse
	if err := c.call(t, n, superuser, api.OpSecretSettingsGet, api.SecretSettingsGetRequest{Path: "kv/a"}, &st); err != nil {
		t.Fatal(err)
	}
	if st.MaxVersions != 2 || !st.CASRequired || st.DeleteVersionAfter != "1h0m0s" || st.CustomMetadata["owner"] != "db" {
		t.Fatalf("settings = %+v", st)
	}
	var meta api.SecretMetadataGetResponse
	if err := c.call(t, n, superuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "kv/a"}, &meta); err != nil || len(meta.Versions) != 2 || meta.Metadata.OldestVersion != 3 {
		t.Fatalf("after lowering retention: %+v, %v", meta, err)
	}
	if err := put("5", nil); status4xx(err) != 400 {
		t.Fatalf("write without CAS on a CAS-required path: %v", err)
	}
	four := 4
	if err := put("5", &four); err != nil {
		t.Fatalf("write with the right CAS: %v", err)
	}
}

// TestRetentionDeletesExpiredVersions: a path with deleteVersionAfter has
// its versions soft-deleted by the retention job once they are older.
func TestRetentionDeletesExpiredVersions(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	after := "10ms"
	if err := c.call(t, n, superuser, api.OpSecretSettingsPut, api.SecretSettingsPutRequest{Path: "tmp/token", DeleteVersionAfter: &after}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: "tmp/token", Values: map[string]string{"t": "x"}}, nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got api.SecretGetResponse
		err := c.call(t, n, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "tmp/token"}, &got)
		if status4xx(err) == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired version is still served: %v %v", got.Data, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
