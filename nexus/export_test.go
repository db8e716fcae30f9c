package nexus

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/shamir"
	"github.com/spikeledger/spike/spikedb"
)

// fetchExport starts an export as who and fetches it chunk by chunk, as
// the SDK does, checking size and digest.
func fetchExport(t *testing.T, c *keeperSet, n *nexusProc, who string, req api.ExportStartRequest) ([]byte, api.ExportStartResponse) {
	t.Helper()
	var start api.ExportStartResponse
	if err := c.call(t, n, who, api.OpExportStart, req, &start); err != nil {
		t.Fatalf("export start %+v: %v", req, err)
	}
	var file []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		var chunk api.ExportGetResponse
		if err := c.call(t, n, who, api.OpExportGet, api.ExportGetRequest{ID: start.ID, Offset: int64(len(file))}, &chunk); err != nil {
			t.Fatalf("export get at %d: %v", len(file), err)
		}
		if !chunk.Ready {
			if time.Now().After(deadline) {
				t.Fatal("export never became ready")
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		file = append(file, chunk.Data...)
		if chunk.EOF {
			sum := sha256.Sum256(file)
			if int64(len(file)) != chunk.Size || !bytes.Equal(sum[:], chunk.SHA256) {
				t.Fatalf("export of %d bytes, digest %x; Nexus said %d bytes, %x", len(file), sum, chunk.Size, chunk.SHA256)
			}
			// The export is gone once fetched to its end.
			var again api.ExportGetResponse
			if err := c.call(t, n, who, api.OpExportGet, api.ExportGetRequest{ID: start.ID}, &again); status4xx(err) != http.StatusNotFound {
				t.Fatalf("export fetched again: %v", err)
			}
			return file, start
		}
	}
}

// TestExportAndImport is the migration's acceptance, in process: state
// written through the API is exported as spike.db, read back through
// spikedb with every version and policy, imported into a new data
// directory with the root key from recovery files, and served by a Nexus
// that recovers that key from the same keepers.
func TestExportAndImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	key := c.bootstrap(n, 2)
	waitReady(t, n, true)

	put := func(path string, values map[string]string) {
		t.Helper()
		if err := c.call(t, n, superuser, api.OpSecretPut, api.SecretPutRequest{Path: path, Values: values}, nil); err != nil {
			t.Fatalf("put %s: %v", path, err)
		}
	}
	put("db/creds", map[string]string{"user": "admin", "pass": "one"})
	put("db/creds", map[string]string{"user": "admin", "pass": "two"})
	put("db/creds", map[string]string{"user": "admin", "pass": "three"})
	put("web/key", map[string]string{"k": "v"})
	if err := c.call(t, n, superuser, api.OpSecretDelete, api.SecretDeleteRequest{Path: "db/creds", Versions: []int{3}}, nil); err != nil {
		t.Fatal(err)
	}
	pol := api.PolicyPutRequest{Name: "web-read", SPIFFEIDPattern: "^spiffe://spike\\.test/workload/web$", PathPattern: "^web/.*$", Permissions: []api.Permission{"read", "list"}}
	if err := c.call(t, n, superuser, api.OpPolicyPut, pol, nil); err != nil {
		t.Fatal(err)
	}

	// Only the superuser exports; a refused caller learns nothing.
	if err := c.call(t, n, "/spike/pilot/role/auditor", api.OpExportStart, api.ExportStartRequest{Format: api.ExportSpikeDB}, nil); status4xx(err) != http.StatusUnauthorized {
		t.Fatalf("auditor export: %v, want 401", err)
	}

	file, start := fetchExport(t, c, n, superuser, api.ExportStartRequest{Format: api.ExportSpikeDB})
	exported := filepath.Join(t.TempDir(), "spike.db")
	if err := os.WriteFile(exported, file, 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := spikedb.Read(ctx, exported, key[:])
	if err != nil {
		t.Fatalf("read the export back: %v", err)
	}
	if len(snap.Secrets) != 2 || snap.Secrets[0].Path != "db/creds" || len(snap.Secrets[0].Versions) != 3 || snap.Secrets[1].Path != "web/key" {
		t.Fatalf("exported secrets: %+v", snap.Secrets)
	}
	db := snap.Secrets[0]
	for i, want := range []string{"one", "two", "three"} {
		if v := db.Versions[i]; v.Version != i+1 || v.Data["pass"] != want || (v.Deleted != nil) != (i == 2) {
			t.Fatalf("db/creds version %d exported as %+v", i+1, v)
		}
	}
	if db.Metadata.CurrentVersion != 2 {
		t.Fatalf("db/creds current version %d, want 2 (3 is deleted)", db.Metadata.CurrentVersion)
	}
	if len(snap.Policies) != 1 || snap.Policies[0].Name != "web-read" || snap.Policies[0].PathPattern != pol.PathPattern ||
		strings.Join(snap.Policies[0].Permissions, ",") != "read,list" {
		t.Fatalf("exported policies: %+v", snap.Policies)
	}
	if start.AsOfSeq == 0 || start.AsOfTime.IsZero() {
		t.Fatalf("export point %+v", start)
	}

	// JSON: keys without values unless asked; an export is recorded.
	plain, _ := fetchExport(t, c, n, superuser, api.ExportStartRequest{Format: api.ExportJSON, AsOfSeq: start.AsOfSeq})
	if bytes.Contains(plain, []byte("three")) || !bytes.Contains(plain, []byte(`"pass"`)) {
		t.Fatalf("json export without values:\n%s", plain)
	}
	withValues, _ := fetchExport(t, c, n, superuser, api.ExportStartRequest{Format: api.ExportJSON, WithValues: true, AsOfSeq: start.AsOfSeq})
	var doc api.ExportDocument
	if err := json.Unmarshal(withValues, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Secrets) != 2 || doc.Secrets[0].Versions[2].Data["pass"] != "three" || doc.Secrets[0].Versions[2].Deleted == nil || len(doc.Policies) != 1 {
		t.Fatalf("json export with values: %+v", doc)
	}
	proj, _ := fetchExport(t, c, n, superuser, api.ExportStartRequest{Format: api.ExportProjection})
	if !bytes.HasPrefix(proj, []byte("SQLite format 3\x00")) {
		t.Fatalf("projection export is not SQLite: %q", proj[:min(16, len(proj))])
	}
	var audit api.AuditListResponse
	if err := c.call(t, n, superuser, api.OpAuditList, api.AuditListRequest{Types: []string{"system.exported"}}, &audit); err != nil {
		t.Fatal(err)
	}
	if len(audit.Events) != 4 || !strings.HasSuffix(audit.Events[0].Actor, superuser) {
		t.Fatalf("exports recorded: %+v", audit.Events)
	}

	// Import into a new data directory, with recovery files. The keepers
	// hold SPIKE's deterministic shards of key: recovery files are the
	// same shards.
	n.stop()
	recovery := t.TempDir()
	shards, _, err := shamir.Split(&key, shamir.Params{Shares: 3, Threshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shamir.WriteRecoveryDir(recovery, shards[1:]); err != nil {
		t.Fatal(err)
	}
	fresh := t.TempDir()
	cfg := ImportConfig{From: exported, DataDir: fresh, RecoveryDir: recovery, Custody: CustodyConfig{Keepers: c.Keepers, Shares: 3, Threshold: 2}}
	res, err := Import(ctx, cfg, nil, c.Roles, c.Logger())
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if res.Secrets != 2 || res.Versions != 4 || res.Policies != 1 {
		t.Fatalf("imported %+v", res)
	}
	if _, err := Import(ctx, cfg, nil, c.Roles, c.Logger()); err == nil || !strings.Contains(err.Error(), "already holds") {
		t.Fatalf("second import into the same directory: %v", err)
	}
	// The same from the keepers, with Nexus's SVID.
	viaKeepers := cfg
	viaKeepers.RecoveryDir, viaKeepers.DataDir = "", t.TempDir()
	if res, err := Import(ctx, viaKeepers, c.Source("/spike/nexus"), c.Roles, c.Logger()); err != nil || res.Versions != 4 {
		t.Fatalf("import with the keepers' shards: %+v, %v", res, err)
	}

	// The new Nexus recovers the key from the same keepers and serves
	// the same secrets.
	c.Dir = fresh
	n2 := c.startNexus(2)
	waitReady(t, n2, true)
	for i, want := range []string{"one", "two"} {
		var got api.SecretGetResponse
		if err := c.call(t, n2, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds", Version: i + 1}, &got); err != nil || got.Data["pass"] != want {
			t.Fatalf("db/creds v%d after import: %v %v", i+1, got.Data, err)
		}
	}
	if err := c.call(t, n2, superuser, api.OpSecretGet, api.SecretGetRequest{Path: "db/creds", Version: 3}, nil); status4xx(err) != http.StatusNotFound {
		t.Fatalf("deleted version 3 after import: %v", err)
	}
	var meta api.SecretMetadataGetResponse
	if err := c.call(t, n2, superuser, api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: "db/creds"}, &meta); err != nil {
		t.Fatal(err)
	}
	if v := meta.Versions[1]; !v.CreatedTime.Equal(db.Versions[0].Created) {
		t.Fatalf("version 1 created %v after import, originally %v", v.CreatedTime, db.Versions[0].Created)
	}
	var pg api.PolicyGetResponse
	if err := c.call(t, n2, superuser, api.OpPolicyGet, api.PolicyGetRequest{Name: "web-read"}, &pg); err != nil || pg.PathPattern != pol.PathPattern {
		t.Fatalf("policy after import: %+v %v", pg, err)
	}
	var first api.AuditListResponse
	if err := c.call(t, n2, superuser, api.OpAuditList, api.AuditListRequest{Page: api.Page{Limit: 1}}, &first); err != nil || len(first.Events) != 1 || first.Events[0].Type != "system.imported" {
		t.Fatalf("first event after import: %+v %v", first.Events, err)
	}
}

// TestImportRefuses: every way an import can be wrong stops it before
// the log holds anything.
func TestImportRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newCluster(t, 0)
	var key, other [32]byte
	rand.Read(key[:])
	rand.Read(other[:])
	params := shamir.Params{Shares: 3, Threshold: 2}
	good, _, err := shamir.Split(&key, params)
	if err != nil {
		t.Fatal(err)
	}
	wrong, _, err := shamir.Split(&other, params)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "spike.db")
	snap := spikedb.Snapshot{Secrets: []spikedb.Secret{{Path: "a", Metadata: spikedb.Metadata{CurrentVersion: 1, OldestVersion: 1, MaxVersions: 10},
		Versions: []spikedb.Version{{Version: 1, Data: map[string]string{"k": "v"}, Created: time.Unix(1700000000, 0).UTC()}}}}}
	if err := spikedb.Write(ctx, db, key[:], snap); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("not sqlite "), 100), 0o600)
	recDir := func(shares ...shamir.Share) string {
		d := t.TempDir()
		if _, err := shamir.WriteRecoveryDir(d, shares); err != nil {
			t.Fatal(err)
		}
		return d
	}
	keepers := []string{"https://k1:8443", "https://k2:8443", "https://k3:8443"}
	used := t.TempDir()
	if _, err := Import(ctx, ImportConfig{From: db, DataDir: used, RecoveryDir: recDir(good[0], good[1]), Custody: CustodyConfig{Keepers: keepers, Shares: 3, Threshold: 2}}, nil, c.Roles, c.Logger()); err != nil {
		t.Fatalf("good import: %v", err)
	}
	for _, tc := range []struct {
		name      string
		from, rec string
		dataDir   string
		threshold int
		want      string
	}{
		{"wrong key", db, recDir(wrong[0], wrong[2]), "", 2, "does not open it"},
		{"shards of two keys", db, recDir(good[0], wrong[1]), "", 2, "does not belong"},
		{"too few shards", db, recDir(good[0]), "", 2, "1 shards, and the threshold is 2"},
		{"threshold not SPIKE's", db, recDir(good[0], good[1], good[2]), "", 3, "does not belong"},
		{"no recovery files", db, t.TempDir(), "", 2, "no recovery files"},
		{"not a database", garbage, recDir(good[0], good[1]), "", 2, "not a SPIKE v0.8 database"},
		{"missing file", filepath.Join(dir, "nope.db"), recDir(good[0], good[1]), "", 2, "no such file"},
		{"log not empty", db, recDir(good[0], good[1]), used, 2, "already holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := tc.dataDir
			if data == "" {
				data = t.TempDir()
			}
			cfg := ImportConfig{From: tc.from, DataDir: data, RecoveryDir: tc.rec, Custody: CustodyConfig{Keepers: keepers, Shares: 3, Threshold: tc.threshold}}
			_, err := Import(ctx, cfg, nil, c.Roles, c.Logger())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("import: %v, want an error containing %q", err, tc.want)
			}
			if tc.dataDir == "" {
				if _, err := os.Stat(filepath.Join(data, "events.db")); err == nil {
					t.Fatal("a refused import created events.db")
				}
			}
		})
	}
}
