package sdk

import (
	"context"
	"time"

	"github.com/spikeledger/spike/api"
)

// Policy grants the workloads whose SPIFFE IDs match SPIFFEIDPattern the
// Permissions on the secret paths that match PathPattern. Both patterns
// are RE2 expressions matched unanchored: write ^ and $ to anchor them.
type Policy struct {
	Name            string
	SPIFFEIDPattern string
	PathPattern     string
	Permissions     []api.Permission
	// CreatedAt and UpdatedAt are set by Nexus; PutPolicy ignores them.
	CreatedAt, UpdatedAt time.Time
}

// PutPolicy creates the policy, or replaces the one with the same name.
// The caller needs write on spike/system/acl (a superuser or admin
// pilot).
func (c *Client) PutPolicy(ctx context.Context, p Policy) error {
	req := api.PolicyPutRequest{Name: p.Name, SPIFFEIDPattern: p.SPIFFEIDPattern, PathPattern: p.PathPattern, Permissions: p.Permissions}
	return c.call(ctx, p.Name, req, nil)
}

// GetPolicy reads the policy called name; a missing one is ErrNotFound.
func (c *Client) GetPolicy(ctx context.Context, name string) (*Policy, error) {
	var resp api.PolicyGetResponse
	// "id" carries the name, as SPIKE v0.8 expects.
	if err := c.call(ctx, name, api.PolicyGetRequest{ID: name}, &resp); err != nil {
		return nil, err
	}
	return &Policy{Name: resp.Name, SPIFFEIDPattern: resp.SPIFFEIDPattern, PathPattern: resp.PathPattern,
		Permissions: resp.Permissions, CreatedAt: resp.CreatedAt, UpdatedAt: resp.UpdatedAt}, nil
}

// DeletePolicy removes the policy called name; a missing one is
// ErrNotFound.
func (c *Client) DeletePolicy(ctx context.Context, name string) error {
	return c.call(ctx, name, api.PolicyDeleteRequest{ID: name}, nil)
}

// PolicyFilter selects policies by exact (string, not regex) comparison
// of a pattern. If SPIFFEIDPattern is set only it is compared; otherwise
// PathPattern, if set. The zero value selects every policy.
type PolicyFilter struct {
	SPIFFEIDPattern string
	PathPattern     string
}

// ListPolicies returns the names of the policies f selects, sorted.
func (c *Client) ListPolicies(ctx context.Context, f PolicyFilter) ([]string, error) {
	var resp api.PolicyListResponse
	if err := c.call(ctx, "", api.PolicyListRequest{SPIFFEIDPattern: f.SPIFFEIDPattern, PathPattern: f.PathPattern}, &resp); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(resp.Policies))
	for _, p := range resp.Policies {
		names = append(names, p.Name)
	}
	return names, nil
}
