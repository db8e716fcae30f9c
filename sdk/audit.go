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
// the log, a time, or a restore point (the size of a signed checkpoint),
// exactly one — and the paths to restore: Paths, or every path under
// Prefix (none of either: every path).
type RestoreRequest struct {
	Paths    []string
	Prefix   string
	AsOfSeq  uint64
	AsOfTime time.Time
	Point    uint64
	// BaseSeq, for Restore, is the base of the plan being applied (see
	// RestorePlan): Nexus refuses the restore if a path it covers
	// changed after it. 0 checks nothing.
	BaseSeq uint64
	// Force applies the restore though its plan is stale or has
	// impossible actions (paths whose data of then is destroyed): it
	// does what can be done as things are now.
	Force bool
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
	// Actions are what the restore did to each path of its scope, in
	// the shape of a plan, with the versions written; Counts adds them
	// up.
	Actions []api.RestoreAction
	Counts  api.RestoreCounts
}

// RestorePlan is what a restore would do: its actions per path (key
// names, never values), their counts, the point in both forms, and the
// base: the log position it was computed at.
type RestorePlan struct {
	BaseSeq  uint64
	AsOfSeq  uint64
	AsOfTime time.Time
	Actions  []api.RestoreAction
	Counts   api.RestoreCounts
}

func asOfTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Restore brings secret paths back to their state at an earlier point of
// the log. It appends events and rewrites nothing, so a restore can
// itself be undone by another: a restore to the point just before its
// own event (Seq - 1).
func (c *Client) Restore(ctx context.Context, r RestoreRequest) (*RestoreResult, error) {
	req := api.RestorePointApplyRequest{Paths: r.Paths, Prefix: r.Prefix, AsOfSeq: r.AsOfSeq, AsOfTime: asOfTime(r.AsOfTime),
		Point: r.Point, BaseSeq: r.BaseSeq, Force: r.Force}
	var resp api.RestorePointApplyResponse
	if err := c.call(ctx, "", req, &resp); err != nil {
		return nil, err
	}
	res := &RestoreResult{Seq: resp.Seq, AsOfSeq: resp.AsOfSeq, AsOfTime: resp.AsOfTime, Paths: resp.Paths, Actions: resp.Actions}
	if resp.Counts != nil {
		res.Counts = *resp.Counts
	}
	return res, nil
}

// RestorePlan says what Restore with the same request would do, changing
// nothing (BaseSeq and Force are not used). Pass the plan's BaseSeq to
// Restore to apply exactly this plan.
func (c *Client) RestorePlan(ctx context.Context, r RestoreRequest) (*RestorePlan, error) {
	req := api.RestorePlanRequest{Paths: r.Paths, Prefix: r.Prefix, AsOfSeq: r.AsOfSeq, AsOfTime: asOfTime(r.AsOfTime), Point: r.Point}
	var resp api.RestorePlanResponse
	if err := c.call(ctx, "", req, &resp); err != nil {
		return nil, err
	}
	return &RestorePlan{BaseSeq: resp.BaseSeq, AsOfSeq: resp.AsOfSeq, AsOfTime: resp.AsOfTime, Actions: resp.Actions, Counts: resp.Counts}, nil
}
