package sdk

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

// Bad arguments fail locally with ErrBadRequest: nothing is sent.
func TestBadArgumentsNeverSent(t *testing.T) {
	t.Parallel()
	f := startFake(t, identity.PathNexus, answer(200, api.ErrorResponse{}))
	c := f.client(t, time.Minute)
	const secret = "hunter2-do-not-print"
	long := strings.Repeat("a", api.MaxPathLength+1)
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"put: empty path", func(ctx context.Context) error {
			_, err := c.PutSecret(ctx, "", map[string]string{"k": secret})
			return err
		}},
		{"put: path with a space", func(ctx context.Context) error {
			_, err := c.PutSecret(ctx, "a b", map[string]string{"k": secret})
			return err
		}},
		{"put: bad key", func(ctx context.Context) error {
			_, err := c.PutSecret(ctx, "a/b", map[string]string{"db.host": secret})
			return err
		}},
		{"put: negative CAS", func(ctx context.Context) error {
			_, err := c.PutSecret(ctx, "a/b", map[string]string{"k": secret}, CAS(-1))
			return err
		}},
		{"get: long path", func(ctx context.Context) error { _, err := c.GetSecret(ctx, long, 0); return err }},
		{"get: negative version", func(ctx context.Context) error { _, err := c.GetSecret(ctx, "a", -1); return err }},
		{"delete: negative version", func(ctx context.Context) error { return c.DeleteSecret(ctx, "a", 1, -2) }},
		{"undelete: empty path", func(ctx context.Context) error { return c.UndeleteSecret(ctx, "") }},
		{"destroy: no versions", func(ctx context.Context) error { return c.DestroySecret(ctx, "a") }},
		{"destroy: version 0", func(ctx context.Context) error { return c.DestroySecret(ctx, "a", 0) }},
		{"list: big page", func(ctx context.Context) error {
			_, _, err := c.ListSecrets(ctx, ListOptions{Limit: 1001})
			return err
		}},
		{"metadata: empty path", func(ctx context.Context) error { _, err := c.SecretMetadata(ctx, ""); return err }},
		{"settings: empty path", func(ctx context.Context) error { _, err := c.SecretSettings(ctx, ""); return err }},
		{"put settings: negative delete-after", func(ctx context.Context) error {
			return c.PutSecretSettings(ctx, "a", SetDeleteVersionAfter(-time.Hour))
		}},
		{"put settings: bad custom metadata", func(ctx context.Context) error {
			return c.PutSecretSettings(ctx, "a", SetCustomMetadata(map[string]string{"k": "\x00"}))
		}},
		{"history: until before since", func(ctx context.Context) error {
			now := time.Now()
			before := now.Add(-time.Hour)
			_, _, err := c.SecretHistory(ctx, "a", Page{Since: &now, Until: &before})
			return err
		}},
		{"policy put: no permissions", func(ctx context.Context) error {
			return c.PutPolicy(ctx, Policy{Name: "p", SPIFFEIDPattern: "^spiffe://spike.ist/workload/x$", PathPattern: "^a/.*$"})
		}},
		{"policy put: bare .* ID pattern", func(ctx context.Context) error {
			return c.PutPolicy(ctx, Policy{Name: "p", SPIFFEIDPattern: ".*", PathPattern: "^a/.*$", Permissions: []api.Permission{api.PermRead}})
		}},
		{"policy get: bad name", func(ctx context.Context) error { _, err := c.GetPolicy(ctx, "a/b"); return err }},
		{"policy delete: empty name", func(ctx context.Context) error { return c.DeletePolicy(ctx, "") }},
		{"encrypt: too large", func(ctx context.Context) error {
			_, err := c.Encrypt(ctx, make([]byte, api.MaxCipherPayload+1))
			return err
		}},
		{"decrypt: short nonce", func(ctx context.Context) error {
			_, err := c.Decrypt(ctx, api.CipherEnvelope{Version: 1, Nonce: []byte{1}, Ciphertext: []byte("x")})
			return err
		}},
		{"encrypt stream: too large", func(ctx context.Context) error {
			_, err := c.EncryptStream(ctx, bytes.NewReader(make([]byte, api.MaxCipherPayload+1)))
			return err
		}},
		{"decrypt stream: version 2", func(ctx context.Context) error {
			_, err := c.DecryptStream(ctx, bytes.NewReader(append([]byte{2}, make([]byte, 40)...)))
			return err
		}},
		{"decrypt stream: empty", func(ctx context.Context) error {
			_, err := c.DecryptStream(ctx, bytes.NewReader(nil))
			return err
		}},
		{"audit: bad actor", func(ctx context.Context) error {
			_, _, err := c.AuditEvents(ctx, AuditQuery{Actor: "not-an-id"})
			return err
		}},
		{"audit: bad type", func(ctx context.Context) error {
			_, _, err := c.AuditEvents(ctx, AuditQuery{Types: []string{"Secret Read"}})
			return err
		}},
		{"audit: bad outcome", func(ctx context.Context) error {
			_, _, err := c.AuditEvents(ctx, AuditQuery{Outcomes: []string{"refused"}})
			return err
		}},
		{"audit: bad path prefix", func(ctx context.Context) error {
			_, _, err := c.AuditEvents(ctx, AuditQuery{PathPrefix: "a b"})
			return err
		}},
		{"proof: seq 0", func(ctx context.Context) error { _, err := c.InclusionProof(ctx, 0, 0); return err }},
		{"proof: tree smaller than seq", func(ctx context.Context) error { _, err := c.InclusionProof(ctx, 5, 4); return err }},
		{"consistency: old 0", func(ctx context.Context) error { _, err := c.ConsistencyProof(ctx, 0, 3); return err }},
		{"consistency: new < old", func(ctx context.Context) error { _, err := c.ConsistencyProof(ctx, 4, 3); return err }},
		{"restore points: big page", func(ctx context.Context) error {
			_, _, err := c.RestorePoints(ctx, Page{Limit: api.MaxPageSize + 1})
			return err
		}},
		{"restore: no point", func(ctx context.Context) error { _, err := c.Restore(ctx, RestoreRequest{}); return err }},
		{"restore: both points", func(ctx context.Context) error {
			_, err := c.Restore(ctx, RestoreRequest{AsOfSeq: 3, AsOfTime: time.Now()})
			return err
		}},
		{"restore shard: no shard", func(ctx context.Context) error { _, err := c.RestoreShard(ctx, 1, nil); return err }},
		{"restore shard: zero shard", func(ctx context.Context) error { _, err := c.RestoreShard(ctx, 1, &api.Shard{}); return err }},
		{"restore shard: id 0", func(ctx context.Context) error { _, err := c.RestoreShard(ctx, 0, &api.Shard{1}); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call(t.Context())
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("got %v, want ErrBadRequest", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != 0 || e.Code != api.CodeBadRequest {
				t.Errorf("got %#v, want a local refusal", err)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("message quotes a secret value: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := f.calls.Load(); n != 0 {
			t.Errorf("%d requests reached the server", n)
		}
	})
}
