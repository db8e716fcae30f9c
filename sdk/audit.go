package sdk

import (
	"context"
	"time"

	"github.com/spikeledger/spike/api"
)

// The audit extensions: the event log as history, its signed checkpoints,
// and RFC 6962 proofs that an event is in the log and that the log only
// grew. The caller needs read on spike/system/audit: the auditor or
// superuser pilot role, or a policy granting it.

// AuditQuery selects events of the log; empty filters match everything.
type AuditQuery struct {
	// Actor keeps only events by this SPIFFE ID (exact).
	Actor string
	// Path keeps only events about this secret path (exact).
	Path string
	// PathPrefix keeps only events about paths that start with it.
	PathPrefix string
	// Types keeps only events of these types, such as "secret.read".
	// Nexus refuses a type its event catalogue does not know
	// ([ErrBadRequest], with a Message listing the types).
	Types []string
	// Outcomes keeps only events with these outcomes (see
	// [api.AuditOutcomes]).
	Outcomes []string
	Page
}

// AuditEvents searches the event log, oldest first. next, when not 0, is
// the After of the next page.
func (c *Client) AuditEvents(ctx context.Context, q AuditQuery) (events []api.AuditEvent, next uint64, err error) {
	var resp api.AuditListResponse
	req := api.AuditListRequest{Actor: q.Actor, Path: q.Path, PathPrefix: q.PathPrefix, Types: q.Types, Outcomes: q.Outcomes, Page: q.Page}
	if err := c.call(ctx, q.Path, req, &resp); err != nil {
		return nil, 0, err
	}
	return nonNilEvents(resp.Events), resp.Next, nil
}

// Checkpoint is a signed statement of the log's size and root hash.
type Checkpoint struct {
	// Note is the signed note (golang.org/x/mod/sumdb/note) over the
	// log's origin, size and root hash.
	Note string
	// Size and RootHash repeat what Note says.
	Size     uint64
	RootHash []byte
	// VerifierKey is the note verifier key Nexus reports. Auditors
	// should pin the key out of band rather than trust this copy.
	VerifierKey string
}

// Checkpoint returns the log's latest signed checkpoint; ErrNotFound
// before the first is signed (Nexus signs one every second or so while
// events arrive).
func (c *Client) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	var resp api.AuditCheckpointResponse
	if err := c.call(ctx, "", api.AuditCheckpointRequest{}, &resp); err != nil {
		return nil, err
	}
	return &Checkpoint{Note: resp.Checkpoint, Size: resp.Size, RootHash: resp.RootHash, VerifierKey: resp.VerifierKey}, nil
}

// InclusionProof proves that event Seq is in the log of TreeSize events.
type InclusionProof struct {
	Seq, TreeSize uint64
	// LeafHash is the event's RFC 6962 leaf hash; Proof the hashes from
	// it to the root.
	LeafHash []byte
	Proof    [][]byte
	// Checkpoint is the signed note for TreeSize.
	Checkpoint string
}

// InclusionProof asks for proof that event seq is in the log of treeSize
// events (0: the latest checkpoint's size).
func (c *Client) InclusionProof(ctx context.Context, seq, treeSize uint64) (*InclusionProof, error) {
	var resp api.AuditProofResponse
	if err := c.call(ctx, "", api.AuditProofRequest{Seq: seq, TreeSize: treeSize}, &resp); err != nil {
		return nil, err
	}
	return &InclusionProof{Seq: resp.Seq, TreeSize: resp.TreeSize, LeafHash: resp.LeafHash, Proof: resp.Proof, Checkpoint: resp.Checkpoint}, nil
}

// ConsistencyProof proves that the log of OldSize events is a prefix of
// the log of NewSize events.
type ConsistencyProof struct {
	OldSize, NewSize uint64
	Proof            [][]byte
	// Checkpoint is the signed note for NewSize.
	Checkpoint string
}

// ConsistencyProof asks for proof that the log of oldSize events is a
// prefix of the log of newSize events (0: the latest checkpoint's size).
func (c *Client) ConsistencyProof(ctx context.Context, oldSize, newSize uint64) (*ConsistencyProof, error) {
	var resp api.AuditConsistencyResponse
	if err := c.call(ctx, "", api.AuditConsistencyRequest{OldSize: oldSize, NewSize: newSize}, &resp); err != nil {
		return nil, err
	}
	return &ConsistencyProof{OldSize: resp.OldSize, NewSize: resp.NewSize, Proof: resp.Proof, Checkpoint: resp.Checkpoint}, nil
}

// RestorePoints lists the points of the log one can restore to (its
// signed checkpoints), oldest first. next, when not 0, is the After of
// the next page.
func (c *Client) RestorePoints(ctx context.Context, page Page) (points []api.RestorePoint, next uint64, err error) {
	var resp api.RestorePointListResponse
	if err := c.call(ctx, "", api.RestorePointListRequest{Page: page}, &resp); err != nil {
		return nil, 0, err
	}
	if resp.Points == nil {
		resp.Points = []api.RestorePoint{}
	}
	return resp.Points, resp.Next, nil
}

// RestoreRequest names the point to restore to — a sequence number of
// the log or a time, exactly one — and the paths to restore (none: every
// path).
type RestoreRequest struct {
	Paths    []string
	AsOfSeq  uint64
	AsOfTime time.Time
}

// RestoreResult says what a restore did.
type RestoreResult struct {
	// Seq is the sequence number of the event that records the restore.
	Seq uint64
	// AsOfSeq and AsOfTime are the point restored to, in both forms.
	AsOfSeq  uint64
	AsOfTime time.Time
	// Paths are the paths restored.
	Paths []string
}

// Restore brings secret paths back to their state at an earlier point of
// the log. It appends events and rewrites nothing, so a restore can
// itself be undone by another.
func (c *Client) Restore(ctx context.Context, r RestoreRequest) (*RestoreResult, error) {
	req := api.RestorePointApplyRequest{Paths: r.Paths, AsOfSeq: r.AsOfSeq}
	if !r.AsOfTime.IsZero() {
		t := r.AsOfTime
		req.AsOfTime = &t
	}
	var resp api.RestorePointApplyResponse
	if err := c.call(ctx, "", req, &resp); err != nil {
		return nil, err
	}
	return &RestoreResult{Seq: resp.Seq, AsOfSeq: resp.AsOfSeq, AsOfTime: resp.AsOfTime, Paths: resp.Paths}, nil
}
