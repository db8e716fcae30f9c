package sdk_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/sdk"
)

// The tests in this file run the client against a whole spike in this
// process (devcluster: a dev CA, Keepers, and a bootstrapped Nexus).

// startCluster runs a development cluster on ephemeral ports, closed
// when the test ends.
func startCluster(t *testing.T) *devcluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("in-process cluster: skipped with -short")
	}
	cl, err := devcluster.Start(t.Context(), devcluster.Options{DataDir: t.TempDir(), NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err != nil {
		t.Fatalf("devcluster: %v", err)
	}
	t.Cleanup(func() {
		if err := cl.Close(); err != nil {
			t.Errorf("devcluster close: %v", err)
		}
	})
	return cl
}

// as returns a client of cl with the identity who: one of the SVID
// directories devcluster writes ("superuser", "demo", …), or a SPIFFE ID
// path ("/workload/x") for which it issues one.
func as(t *testing.T, cl *devcluster.Cluster, who string) *sdk.Client {
	t.Helper()
	dir := cl.SVIDDir(who)
	if strings.HasPrefix(who, "/") {
		dir = t.TempDir()
		if err := cl.IssueSVIDDir(t.Context(), who, dir); err != nil {
			t.Fatal(err)
		}
	}
	if dir == "" {
		t.Fatalf("no identity %q", who)
	}
	c, err := sdk.New(t.Context(), sdk.WithNexusURL(cl.NexusURL()), sdk.WithSVIDDir(dir),
		sdk.WithTrustDomain(cl.TrustDomain().Name()), sdk.WithSourceTimeout(10*time.Second),
		sdk.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("sdk.New as %s: %v", who, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// result holds a call's two results, so that a test can write
// try(c.GetSecret(…)).must(t).
type result[T any] struct {
	v   T
	err error
}

func try[T any](v T, err error) result[T] { return result[T]{v, err} }

// must fails the test on an error, else returns the value.
func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// result2 is result for calls with three results.
type result2[T, U any] struct {
	v   T
	u   U
	err error
}

func try2[T, U any](v T, u U, err error) result2[T, U] { return result2[T, U]{v, u, err} }

func (r result2[T, U]) must(t *testing.T) (T, U) {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v, r.u
}

// wantErr checks that err matches want.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func TestSecretsLifecycle(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	const path = "apps/billing/db"
	v := func(n string) map[string]string { return map[string]string{"user": "billing", "pass": "pw-" + n} }

	// Every write reports the version it wrote.
	for i, n := range []string{"1", "2"} {
		if got := try(c.PutSecret(ctx, path, v(n))).must(t); got != i+1 {
			t.Errorf("plain put reported version %d, want %d", got, i+1)
		}
	}
	if got := try(c.PutSecret(ctx, path, v("3"), sdk.CAS(2))).must(t); got != 3 {
		t.Errorf("CAS put: version %d, want 3", got)
	}
	_, err := c.PutSecret(ctx, path, v("x"), sdk.CAS(2))
	wantErr(t, "stale CAS", err, sdk.ErrConflict)
	if got := try(c.PutSecret(ctx, "apps/billing/new", v("1"), sdk.CAS(0))).must(t); got != 1 {
		t.Errorf("CAS(0) on a new path: version %d", got)
	}
	_, err = c.PutSecret(ctx, "apps/billing/new", v("1"), sdk.CAS(0))
	wantErr(t, "CAS(0) on an existing path", err, sdk.ErrConflict)

	// Reads.
	s := try(c.GetSecret(ctx, path, 0)).must(t)
	if !maps.Equal(s.Data, v("3")) || s.Path != path {
		t.Errorf("current: %+v", s)
	}
	s = try(c.GetSecret(ctx, path, 1)).must(t)
	if !maps.Equal(s.Data, v("1")) || s.Version != 1 {
		t.Errorf("version 1: %+v", s)
	}
	_, err = c.GetSecret(ctx, path, 9)
	wantErr(t, "missing version", err, sdk.ErrNotFound)
	_, err = c.GetSecret(ctx, "apps/none", 0)
	wantErr(t, "missing path", err, sdk.ErrNotFound)

	m := try(c.SecretMetadata(ctx, path)).must(t)
	if m.CurrentVersion != 3 || m.OldestVersion != 1 || len(m.Versions) != 3 || m.Versions[0].Version != 1 || m.Versions[2].Version != 3 {
		t.Errorf("metadata: %+v", m)
	}
	_, err = c.SecretMetadata(ctx, "apps/none")
	wantErr(t, "metadata of a missing path", err, sdk.ErrNotFound)

	// Soft delete and undelete.
	if err := c.DeleteSecret(ctx, path, 1); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(ctx, path, 1)
	wantErr(t, "deleted version", err, sdk.ErrNotFound)
	if err := c.UndeleteSecret(ctx, path, 1); err != nil {
		t.Fatal(err)
	}
	try(c.GetSecret(ctx, path, 1)).must(t)
	if err := c.DeleteSecret(ctx, path); err != nil { // the current version, 3
		t.Fatal(err)
	}
	_, err = c.GetSecret(ctx, path, 3)
	wantErr(t, "deleted current version", err, sdk.ErrNotFound)
	if s := try(c.GetSecret(ctx, path, 0)).must(t); !maps.Equal(s.Data, v("2")) {
		t.Errorf("current after deleting 3: %+v, want version 2", s)
	}
	if err := c.UndeleteSecret(ctx, path); err != nil { // the last deleted
		t.Fatal(err)
	}
	if s := try(c.GetSecret(ctx, path, 0)).must(t); !maps.Equal(s.Data, v("3")) {
		t.Errorf("after undelete: %+v", s)
	}
	wantErr(t, "delete on a missing path", c.DeleteSecret(ctx, "apps/none"), sdk.ErrNotFound)
	wantErr(t, "undelete with nothing deleted", c.UndeleteSecret(ctx, path, 2), sdk.ErrNotFound)

	// Destroy.
	if err := c.DestroySecret(ctx, path, 1); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetSecret(ctx, path, 1)
	wantErr(t, "destroyed version", err, sdk.ErrNotFound)
	wantErr(t, "undelete a destroyed version", c.UndeleteSecret(ctx, path, 1), sdk.ErrNotFound)
	wantErr(t, "destroy on a missing path", c.DestroySecret(ctx, "apps/none", 1), sdk.ErrNotFound)

	// Settings.
	st := try(c.SecretSettings(ctx, path)).must(t)
	if !slices.Equal(st.Destroyed, []int{1}) || st.CASRequired {
		t.Errorf("settings: %+v", st)
	}
	err = c.PutSecretSettings(ctx, path, sdk.SetMaxVersions(5), sdk.SetCASRequired(true),
		sdk.SetDeleteVersionAfter(720*time.Hour), sdk.SetCustomMetadata(map[string]string{"owner": "billing"}))
	if err != nil {
		t.Fatal(err)
	}
	st = try(c.SecretSettings(ctx, path)).must(t)
	if st.MaxVersions != 5 || !st.CASRequired || st.DeleteVersionAfter != 720*time.Hour || st.CustomMetadata["owner"] != "billing" {
		t.Errorf("settings after put: %+v", st)
	}
	_, err = c.PutSecret(ctx, path, v("4"))
	wantErr(t, "plain write where CAS is required", err, sdk.ErrBadRequest)
	_, err = c.SecretSettings(ctx, "apps/none")
	wantErr(t, "settings of a missing path", err, sdk.ErrNotFound)

	// Listing, with a prefix and pages.
	keys, next := mustList(t, c, sdk.ListOptions{Prefix: "apps/billing/"})
	if !slices.Equal(keys, []string{"apps/billing/db", "apps/billing/new"}) || next != "" {
		t.Errorf("list: %v, next %q", keys, next)
	}
	keys, next = mustList(t, c, sdk.ListOptions{Prefix: "apps/", Limit: 1})
	if !slices.Equal(keys, []string{"apps/billing/db"}) || next != "apps/billing/db" {
		t.Errorf("page 1: %v, next %q", keys, next)
	}
	keys, next = mustList(t, c, sdk.ListOptions{Prefix: "apps/", Limit: 1, After: next})
	if !slices.Equal(keys, []string{"apps/billing/new"}) {
		t.Errorf("page 2: %v, next %q", keys, next)
	}
}

func mustList(t *testing.T, c *sdk.Client, o sdk.ListOptions) ([]string, string) {
	t.Helper()
	keys, next, err := c.ListSecrets(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return keys, next
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	p := sdk.Policy{Name: "demo-rw", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/demo$`, PathPattern: `^tenants/demo/.*$`,
		Permissions: []api.Permission{api.PermRead, api.PermWrite}}
	other := sdk.Policy{Name: "other-ro", SPIFFEIDPattern: `^spiffe://spike\.ist/workload/other$`, PathPattern: `^tenants/other/.*$`,
		Permissions: []api.Permission{api.PermRead}}
	for _, x := range []sdk.Policy{p, other} {
		if err := c.PutPolicy(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	got := try(c.GetPolicy(ctx, p.Name)).must(t)
	if got.Name != p.Name || got.SPIFFEIDPattern != p.SPIFFEIDPattern || got.PathPattern != p.PathPattern ||
		!slices.Equal(got.Permissions, p.Permissions) || got.CreatedAt.IsZero() {
		t.Errorf("get: %+v", got)
	}
	_, err := c.GetPolicy(ctx, "missing")
	wantErr(t, "get missing", err, sdk.ErrNotFound)

	for _, tt := range []struct {
		f    sdk.PolicyFilter
		want []string
	}{
		{sdk.PolicyFilter{}, []string{"demo-rw", "other-ro"}},
		{sdk.PolicyFilter{SPIFFEIDPattern: other.SPIFFEIDPattern}, []string{"other-ro"}},
		{sdk.PolicyFilter{PathPattern: p.PathPattern}, []string{"demo-rw"}},
		{sdk.PolicyFilter{PathPattern: "^nothing$"}, []string{}},
	} {
		if names := try(c.ListPolicies(ctx, tt.f)).must(t); !slices.Equal(names, tt.want) {
			t.Errorf("list %+v: %v, want %v", tt.f, names, tt.want)
		}
	}

	// The policy works: the demo workload may write and read its tenant's
	// paths, and nothing else.
	demo := as(t, cl, devcluster.SVIDDemo)
	if _, err := demo.PutSecret(ctx, "tenants/demo/db/creds", map[string]string{"username": "demo"}); err != nil {
		t.Fatal(err)
	}
	if s := try(demo.GetSecret(ctx, "tenants/demo/db/creds", 0)).must(t); s.Data["username"] != "demo" {
		t.Errorf("demo read %+v", s)
	}
	_, err = demo.PutSecret(ctx, "tenants/other/x", map[string]string{"k": "v"})
	wantErr(t, "demo writes outside its tenant", err, sdk.ErrUnauthorized)

	if err := c.DeletePolicy(ctx, p.Name); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetPolicy(ctx, p.Name)
	wantErr(t, "get deleted", err, sdk.ErrNotFound)
	wantErr(t, "delete missing", c.DeletePolicy(ctx, p.Name), sdk.ErrNotFound)
	_, err = demo.GetSecret(ctx, "tenants/demo/db/creds", 0)
	wantErr(t, "demo after its policy is gone", err, sdk.ErrUnauthorized)
}

// A workload no policy names is refused everything, with ErrUnauthorized
// (and sees an empty list rather than an error, as Nexus filters lists).
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	admin := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	try(admin.PutSecret(ctx, "tenants/x/db", map[string]string{"k": "v"})).must(t)
	env := try(admin.Encrypt(ctx, []byte("data"))).must(t)
	c := as(t, cl, "/workload/nopolicy")
	shard := api.Shard{1}
	calls := map[string]func() error{
		"put":          func() error { _, err := c.PutSecret(ctx, "tenants/x/db", map[string]string{"k": "v"}); return err },
		"get":          func() error { _, err := c.GetSecret(ctx, "tenants/x/db", 0); return err },
		"delete":       func() error { return c.DeleteSecret(ctx, "tenants/x/db") },
		"undelete":     func() error { return c.UndeleteSecret(ctx, "tenants/x/db") },
		"destroy":      func() error { return c.DestroySecret(ctx, "tenants/x/db", 1) },
		"metadata":     func() error { _, err := c.SecretMetadata(ctx, "tenants/x/db"); return err },
		"settings":     func() error { _, err := c.SecretSettings(ctx, "tenants/x/db"); return err },
		"put settings": func() error { return c.PutSecretSettings(ctx, "tenants/x/db", sdk.SetMaxVersions(2)) },
		"put policy": func() error {
			return c.PutPolicy(ctx, sdk.Policy{Name: "mine", SPIFFEIDPattern: "^spiffe://spike.ist/.*$", PathPattern: ".*", Permissions: []api.Permission{api.PermSuper}})
		},
		"get policy":     func() error { _, err := c.GetPolicy(ctx, "mine"); return err },
		"delete policy":  func() error { return c.DeletePolicy(ctx, "mine") },
		"list policies":  func() error { _, err := c.ListPolicies(ctx, sdk.PolicyFilter{}); return err },
		"encrypt":        func() error { _, err := c.Encrypt(ctx, []byte("x")); return err },
		"decrypt":        func() error { _, err := c.Decrypt(ctx, env); return err },
		"encrypt stream": func() error { _, err := c.EncryptStream(ctx, strings.NewReader("x")); return err },
		"decrypt stream": func() error { _, err := c.DecryptStream(ctx, strings.NewReader(string(env.Append(nil)))); return err },
		"bootstrap":      func() error { _, err := c.BootstrapStatus(ctx); return err },
		"recover":        func() error { _, err := c.Recover(ctx); return err },
		"restore shard":  func() error { _, err := c.RestoreShard(ctx, 1, &shard); return err },
		"history": func() error {
			_, _, err := c.SecretHistory(ctx, "tenants/x/db", sdk.Page{})
			return err
		},
		"audit":           func() error { _, _, err := c.AuditEvents(ctx, sdk.AuditQuery{}); return err },
		"audit tail":      func() error { _, err := c.AuditTail(ctx, sdk.AuditTailQuery{}); return err },
		"checkpoint":      func() error { _, err := c.Checkpoint(ctx); return err },
		"inclusion proof": func() error { _, err := c.InclusionProof(ctx, 1, 0); return err },
		"consistency":     func() error { _, err := c.ConsistencyProof(ctx, 1, 0); return err },
		"restore points": func() error {
			_, _, err := c.RestorePoints(ctx, sdk.Page{})
			return err
		},
		"restore": func() error {
			_, err := c.Restore(ctx, sdk.RestoreRequest{AsOfSeq: 1})
			return err
		},
	}
	for name, call := range calls {
		wantErr(t, name, call(), sdk.ErrUnauthorized)
	}
	keys, _, err := c.ListSecrets(ctx, sdk.ListOptions{})
	if err != nil || len(keys) != 0 {
		t.Errorf("list: %v, %v; want nothing", keys, err)
	}
}

func TestCipher(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	plain := []byte("the quick brown fox")

	env := try(c.Encrypt(ctx, plain)).must(t)
	if env.Version != api.CipherVersion || len(env.Nonce) != api.NonceSize || len(env.Ciphertext) != len(plain)+api.TagSize {
		t.Errorf("envelope %+v", env)
	}
	if got := try(c.Decrypt(ctx, env)).must(t); string(got) != string(plain) {
		t.Errorf("decrypt: %q", got)
	}
	// The two modes make the same envelopes.
	stream := try(c.EncryptStream(ctx, strings.NewReader(string(plain)))).must(t)
	if got := try(c.DecryptStream(ctx, strings.NewReader(string(env.Append(nil))))).must(t); string(got) != string(plain) {
		t.Errorf("stream decrypt of a JSON envelope: %q", got)
	}
	parsed := try(api.ParseCipherEnvelope(stream)).must(t)
	if got := try(c.Decrypt(ctx, parsed)).must(t); string(got) != string(plain) {
		t.Errorf("JSON decrypt of a stream envelope: %q", got)
	}

	// A tampered ciphertext: 400 "decryption failed" in stream mode, 500
	// in JSON mode (SPIKE's answers).
	stream[len(stream)-1] ^= 1
	_, err := c.DecryptStream(ctx, strings.NewReader(string(stream)))
	wantErr(t, "tampered stream", err, sdk.ErrBadRequest)
	wantErr(t, "tampered stream code", err, api.CodeDecryptionFailed)
	env.Ciphertext[0] ^= 1
	_, err = c.Decrypt(ctx, env)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Status != 500 || e.Code != api.CodeInternal {
		t.Errorf("tampered JSON: %v", err)
	}

	// Nexus's plaintext limit is 16 bytes under the envelope's.
	_, err = c.Encrypt(ctx, make([]byte, api.MaxCipherPayload-api.TagSize+1))
	if !errors.As(err, &e) || e.Status != 400 || !errors.Is(err, sdk.ErrBadRequest) {
		t.Errorf("plaintext over Nexus's limit: %v", err)
	}
}

func TestOperator(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	ctx := t.Context()
	st := try(as(t, cl, devcluster.SVIDSuperuser).BootstrapStatus(ctx)).must(t)
	if !st.Bootstrapped || st.Sealed || st.Shares != 3 || st.Threshold != 2 {
		t.Errorf("status %+v", st)
	}
	shards := try(as(t, cl, devcluster.SVIDRecover).Recover(ctx)).must(t)
	if len(shards) != 3 {
		t.Errorf("%d shards, want 3", len(shards))
	}
	for id, s := range shards {
		if s == nil || s.IsZero() {
			t.Errorf("shard %d empty", id)
		}
	}
	_, err := as(t, cl, devcluster.SVIDRestore).RestoreShard(ctx, 1, shards[1])
	wantErr(t, "restore on an unsealed Nexus", err, sdk.ErrConflict)
	for _, s := range shards {
		s.Wipe()
	}
	_, err = as(t, cl, devcluster.SVIDSuperuser).Recover(ctx)
	wantErr(t, "recover as superuser", err, sdk.ErrUnauthorized)
}

func TestHistoryAndAudit(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	const path = "apps/audited"
	try(c.PutSecret(ctx, path, map[string]string{"k": "v"})).must(t)
	try(c.GetSecret(ctx, path, 0)).must(t)
	id := try(c.SPIFFEID()).must(t)

	events, next := try2(c.SecretHistory(ctx, path, sdk.Page{})).must(t)
	var types []string
	for _, e := range events {
		if e.Path != path || e.Actor != id.String() || e.Seq == 0 {
			t.Errorf("history event %+v", e)
		}
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{"secret.version.written", "secret.read"}) || next != 0 {
		t.Errorf("history %v, next %d", types, next)
	}
	page, next := try2(c.SecretHistory(ctx, path, sdk.Page{Limit: 1})).must(t)
	if len(page) != 1 || next == 0 {
		t.Errorf("first page of one: %+v, next %d", page, next)
	}
	_, _, err := c.SecretHistory(ctx, path, sdk.Page{Limit: api.MaxPageSize + 1})
	wantErr(t, "history page too big", err, sdk.ErrBadRequest)

	auditor := as(t, cl, devcluster.SVIDAuditor)
	reads, _ := try2(auditor.AuditEvents(ctx, sdk.AuditQuery{Path: path, Types: []string{"secret.read"}})).must(t)
	if len(reads) != 1 || reads[0].Actor != id.String() || reads[0].Type != "secret.read" {
		t.Fatalf("audited reads %+v", reads)
	}
	mine, _ := try2(auditor.AuditEvents(ctx, sdk.AuditQuery{Actor: id.String()})).must(t)
	if len(mine) < 2 {
		t.Errorf("events by %s: %+v", id, mine)
	}
	under, _ := try2(auditor.AuditEvents(ctx, sdk.AuditQuery{PathPrefix: path[:len(path)-1], Outcomes: []string{"ok"}, Types: []string{"secret.read"}})).must(t)
	if len(under) != 1 || under[0].Seq != reads[0].Seq {
		t.Errorf("reads under %s: %+v", path[:len(path)-1], under)
	}
	_, _, err = auditor.AuditEvents(ctx, sdk.AuditQuery{Types: []string{"secret.reed"}})
	wantErr(t, "audit search for an unknown type", err, sdk.ErrBadRequest)
	if se := (*sdk.Error)(nil); !errors.As(err, &se) || se.Reason != api.ReasonInvalid || !strings.Contains(se.Message, "secret.read") {
		t.Errorf("unknown type refused with %v", err)
	}
	_, _, err = as(t, cl, devcluster.SVIDDemo).AuditEvents(ctx, sdk.AuditQuery{})
	wantErr(t, "audit search by a workload", err, sdk.ErrUnauthorized)

	// A checkpoint is signed within a second or so of the writes; then
	// the proofs must check against its root.
	cp := eventually(t, func() (*sdk.Checkpoint, error) {
		cp, err := auditor.Checkpoint(ctx)
		if err == nil && cp.Size < reads[0].Seq {
			err = errors.New("checkpoint older than the read")
		}
		return cp, err
	})
	if cp.Note == "" || !strings.Contains(cp.Note, strconv.FormatUint(cp.Size, 10)) || cp.VerifierKey == "" {
		t.Errorf("checkpoint %+v", cp)
	}
	root := hash(t, cp.RootHash)
	if latest := try(auditor.InclusionProof(ctx, reads[0].Seq, 0)).must(t); latest.TreeSize < cp.Size {
		t.Errorf("proof in the latest tree: size %d, before the checkpoint's %d", latest.TreeSize, cp.Size)
	}
	proof := try(auditor.InclusionProof(ctx, reads[0].Seq, cp.Size)).must(t)
	if proof.Seq != reads[0].Seq || proof.TreeSize != cp.Size {
		t.Fatalf("inclusion proof for %d in %d: %+v", reads[0].Seq, cp.Size, proof)
	}
	if err := tlog.CheckRecord(hashes(t, proof.Proof), int64(proof.TreeSize), root, int64(proof.Seq-1), hash(t, proof.LeafHash)); err != nil {
		t.Errorf("inclusion proof does not check: %v", err)
	}
	_, err = auditor.InclusionProof(ctx, cp.Size+1000, cp.Size+1000)
	wantErr(t, "proof past the log's end", err, sdk.ErrNotFound)

	// Consistency between the first restore point and the latest
	// checkpoint.
	points, _ := try2(auditor.RestorePoints(ctx, sdk.Page{})).must(t)
	if !slices.ContainsFunc(points, func(p api.RestorePoint) bool { return p.Seq == cp.Size && slices.Equal(p.RootHash, cp.RootHash) }) {
		t.Fatalf("restore points %+v, want one at %d", points, cp.Size)
	}
	first := points[0]
	if first.Seq < cp.Size {
		cons := try(auditor.ConsistencyProof(ctx, first.Seq, cp.Size)).must(t)
		if err := tlog.CheckTree(hashes(t, cons.Proof), int64(cp.Size), root, int64(first.Seq), hash(t, first.RootHash)); err != nil {
			t.Errorf("consistency proof does not check: %v", err)
		}
	}
	_, err = auditor.ConsistencyProof(ctx, cp.Size+1, cp.Size)
	wantErr(t, "consistency with a bigger old size", err, sdk.ErrBadRequest)
}

func TestRestore(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	const path = "apps/restored"
	try(c.PutSecret(ctx, path, map[string]string{"v": "good"})).must(t)
	written, _ := try2(c.SecretHistory(ctx, path, sdk.Page{})).must(t)
	if len(written) != 1 {
		t.Fatalf("history %+v", written)
	}
	// A restore point at or after the good write.
	good := eventually(t, func() (api.RestorePoint, error) {
		points, _, err := c.RestorePoints(ctx, sdk.Page{})
		if err != nil {
			return api.RestorePoint{}, err
		}
		if len(points) == 0 || points[len(points)-1].Seq < written[0].Seq {
			return api.RestorePoint{}, errors.New("no restore point after the write yet")
		}
		return points[len(points)-1], nil
	})
	try(c.PutSecret(ctx, path, map[string]string{"v": "bad"})).must(t)
	res, err := c.Restore(ctx, sdk.RestoreRequest{Paths: []string{path}, AsOfSeq: good.Seq})
	if err != nil {
		t.Fatal(err)
	}
	if res.AsOfSeq != good.Seq || res.Seq <= good.Seq {
		t.Errorf("restore %+v", res)
	}
	if s := try(c.GetSecret(ctx, path, 0)).must(t); s.Data["v"] != "good" {
		t.Errorf("after restore: %+v", s.Data)
	}
}

// eventually calls f until it succeeds, failing the test if it has not
// within 20 s (checkpoints are signed every second).
func eventually[T any](t *testing.T, f func() (T, error)) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := f()
		if err == nil {
			return v
		}
		select {
		case <-ctx.Done():
			t.Fatalf("not within 20s: %v", err)
		case <-tick.C:
		}
	}
}

func hash(t *testing.T, b []byte) tlog.Hash {
	t.Helper()
	var h tlog.Hash
	if len(b) != len(h) {
		t.Fatalf("hash of %d bytes", len(b))
	}
	copy(h[:], b)
	return h
}

func hashes(t *testing.T, bs [][]byte) []tlog.Hash {
	t.Helper()
	out := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		out[i] = hash(t, b)
	}
	return out
}

// The context bounds every call.
func TestContextEnds(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := c.GetSecret(ctx, "a", 0)
	wantErr(t, "cancelled", err, context.Canceled)
}

func TestSystemStatus(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	ctx := t.Context()
	for _, who := range []string{devcluster.SVIDAuditor, devcluster.SVIDSuperuser} {
		s := try(as(t, cl, who).SystemStatus(ctx)).must(t)
		if s.Sealed() || s.State != api.SystemReady || !s.Bootstrapped || s.UnsealedAt == nil || !strings.HasSuffix(s.Node, "/spike/nexus") ||
			s.Leader != s.Node || len(s.Keepers) == 0 || s.Shares != len(s.Keepers) || s.Threshold == 0 || s.LogEvents == 0 || s.LogBytes == 0 {
			t.Errorf("status as %s = %+v", who, s)
		}
	}
	for _, who := range []string{devcluster.SVIDDemo, devcluster.SVIDOperator, devcluster.SVIDAdmin} {
		_, err := as(t, cl, who).SystemStatus(ctx)
		wantErr(t, "status as "+who, err, sdk.ErrUnauthorized)
	}
}

// TestWritesSayWhatTheyDid: patch, rollback and removal of a path;
// delete, undelete and destroy say what they changed and what is current
// after; refusals carry Nexus's reason.
func TestWritesSayWhatTheyDid(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	c := as(t, cl, devcluster.SVIDSuperuser)
	ctx := t.Context()
	const path = "apps/orders/db"
	before := time.Now()
	try(c.PutSecret(ctx, path, map[string]string{"user": "orders", "pass": "1"})).must(t)
	s := try(c.GetSecret(ctx, path, 0)).must(t)
	if s.Version != 1 || s.Created.Before(before.Add(-time.Second)) || s.Created.After(time.Now()) {
		t.Errorf("get: version %d created %v", s.Version, s.Created)
	}

	if v := try(c.PatchSecret(ctx, path, map[string]string{"pass": "2", "host": "db"}, []string{"user"}, sdk.CAS(1))).must(t); v != 2 {
		t.Errorf("patch wrote version %d, want 2", v)
	}
	if s := try(c.GetSecret(ctx, path, 0)).must(t); !maps.Equal(s.Data, map[string]string{"pass": "2", "host": "db"}) {
		t.Errorf("after patch: %v", s.Data)
	}
	_, err := c.PatchSecret(ctx, path, map[string]string{"pass": "3"}, nil, sdk.CAS(1))
	wantErr(t, "stale patch", err, sdk.ErrConflict)
	if se := (*sdk.Error)(nil); !errors.As(err, &se) || se.Reason != api.ReasonCASMismatch || se.CurrentVersion == nil || *se.CurrentVersion != 2 {
		t.Errorf("stale patch: %#v", err)
	}
	if v := try(c.RollbackSecret(ctx, path, 1)).must(t); v != 3 {
		t.Errorf("rollback wrote version %d, want 3", v)
	}
	if s := try(c.GetSecret(ctx, path, 0)).must(t); s.Data["user"] != "orders" || s.Data["pass"] != "1" {
		t.Errorf("after rollback: %v", s.Data)
	}

	change := try(c.DeleteVersions(ctx, path)).must(t)
	if !slices.Equal(change.Versions, []int{3}) || change.CurrentVersion == nil || *change.CurrentVersion != 2 {
		t.Errorf("delete: %+v", change)
	}
	change = try(c.DestroyVersions(ctx, path, 1, 2)).must(t)
	if !slices.Equal(change.Versions, []int{1, 2}) || *change.CurrentVersion != 0 {
		t.Errorf("destroy: %+v", change)
	}
	_, err = c.SecretMetadata(ctx, path)
	wantErr(t, "metadata of a path with nothing readable", err, sdk.ErrNotFound)
	m := try(c.SecretMetadata(ctx, path, sdk.IncludeDeleted())).must(t)
	if len(m.Versions) != 3 || !m.Versions[0].Destroyed || m.Versions[2].DeletedTime == nil || m.CurrentVersion != 0 {
		t.Errorf("metadata with deleted versions: %+v", m)
	}
	_, err = c.UndeleteVersions(ctx, path, 1)
	if se := (*sdk.Error)(nil); !errors.Is(err, sdk.ErrNotFound) || !errors.As(err, &se) || se.Reason != api.ReasonDestroyed {
		t.Errorf("undelete of a destroyed version: %v", err)
	}
	change = try(c.UndeleteVersions(ctx, path)).must(t)
	if !slices.Equal(change.Versions, []int{3}) || *change.CurrentVersion != 3 {
		t.Errorf("undelete: %+v", change)
	}

	if vs := try(c.DeleteSecretMetadata(ctx, path)).must(t); !slices.Equal(vs, []int{3}) {
		t.Errorf("removal destroyed %v, want [3]", vs)
	}
	_, err = c.GetSecret(ctx, path, 0)
	wantErr(t, "get after removal", err, sdk.ErrNotFound)
	if v := try(c.PutSecret(ctx, path, map[string]string{"pass": "new"})).must(t); v != 4 {
		t.Errorf("first write after removal is version %d, want 4", v)
	}
	_, err = c.DeleteSecretMetadata(ctx, "apps/none")
	wantErr(t, "removal of a missing path", err, sdk.ErrNotFound)
}

// TestAuditTail: an auditor's tail sees a workload's read as it happens,
// with the workload's SPIFFE ID, and nothing the filters leave out.
func TestAuditTail(t *testing.T) {
	t.Parallel()
	cl := startCluster(t)
	ctx := t.Context()
	admin := as(t, cl, devcluster.SVIDSuperuser)
	try(admin.PutSecret(ctx, "tail/db", map[string]string{"k": "v"})).must(t)
	try(admin.PutSecret(ctx, "other/db", map[string]string{"k": "v"})).must(t)
	auditor := as(t, cl, devcluster.SVIDAuditor)
	s, err := auditor.AuditTail(ctx, sdk.AuditTailQuery{PathPrefix: "tail/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := s.Next()
	w := as(t, cl, "/workload/tailed")
	_, _ = w.GetSecret(ctx, "other/db", 0) // filtered out
	_, err = w.GetSecret(ctx, "tail/db", 0)
	wantErr(t, "workload get", err, sdk.ErrUnauthorized)
	ev, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	wid := try(w.SPIFFEID()).must(t)
	if ev.Path != "tail/db" || ev.Actor != wid.String() || ev.Outcome != "denied" || ev.Seq < start || s.Next() != ev.Seq+1 {
		t.Fatalf("event %+v (tail from %d)", ev, start)
	}
	// From a sequence number: the same event again, first.
	again, err := auditor.AuditTail(ctx, sdk.AuditTailQuery{PathPrefix: "tail/", From: start})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if ev2, err := again.Recv(); err != nil || ev2.Seq != ev.Seq {
		t.Fatalf("tail from %d: %+v, %v", start, ev2, err)
	}
}
