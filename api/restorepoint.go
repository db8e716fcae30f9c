package api

import "time"

// RestorePointApplyRequest restores secret paths to their state at an
// earlier point of the log (OpRestorePointApply, extension): at sequence
// number AsOfSeq, at time AsOfTime, or at the signed checkpoint (restore
// point) of size Point — exactly one of the three. The restore appends
// events; it rewrites nothing, so it can itself be undone. Paths names
// the paths, Prefix every path that starts with it (at most one of the
// two); neither means every path.
//
// A restore does what [RestorePlanResponse] for the same fields lists.
// BaseSeq, if not 0, is that plan's base: the restore is refused (409,
// [ReasonPlanStale]) if a path it covers changed after it, and (409,
// [ReasonDestroyed]) if a path's data of then is destroyed, unless
// Force, which applies what can be applied as it is now.
type RestorePointApplyRequest struct {
	Paths    []string   `json:"paths,omitempty"`
	AsOfSeq  uint64     `json:"asOfSeq,omitempty"`
	AsOfTime *time.Time `json:"asOfTime,omitempty"`
	Prefix   string     `json:"prefix,omitempty"`
	Point    uint64     `json:"point,omitempty"`
	BaseSeq  uint64     `json:"baseSeq,omitempty"`
	Force    bool       `json:"force,omitempty"`
}

// RestorePointApplyResponse answers OpRestorePointApply: the point
// restored to (both forms), the sequence number of the event that
// records the restore, the paths changed, and every path's action in
// the shape of a plan (Written is the version each write made).
type RestorePointApplyResponse struct {
	Seq      uint64          `json:"seq"`
	AsOfSeq  uint64          `json:"asOfSeq"`
	AsOfTime time.Time       `json:"asOfTime"`
	Paths    []string        `json:"paths,omitempty"`
	Actions  []RestoreAction `json:"actions,omitempty"`
	Counts   *RestoreCounts  `json:"counts,omitempty"`
	Err      ErrorCode       `json:"err,omitempty"`
}

// RestorePlanRequest asks what a restore with the same fields would do
// (OpRestorePlan, extension), changing nothing: the dry run of
// [RestorePointApplyRequest], whose point and scope fields it shares.
type RestorePlanRequest struct {
	Paths    []string   `json:"paths,omitempty"`
	Prefix   string     `json:"prefix,omitempty"`
	AsOfSeq  uint64     `json:"asOfSeq,omitempty"`
	AsOfTime *time.Time `json:"asOfTime,omitempty"`
	Point    uint64     `json:"point,omitempty"`
}

// The actions of a restore on one path.
const (
	// RestoreWrite: a new version with the data the path had then.
	RestoreWrite = "write"
	// RestoreDelete: the path had nothing readable then; its versions
	// readable now are soft-deleted.
	RestoreDelete = "delete"
	// RestoreNothing: the path reads now as it did then.
	RestoreNothing = "nothing"
	// RestoreImpossible: the data the path had then has been destroyed
	// since.
	RestoreImpossible = "impossible"
)

// RestoreAction is what a restore does, or did, to one path. It names
// the keys of the data written, never a value.
type RestoreAction struct {
	Path   string `json:"path"`
	Action string `json:"action"`
	// FromVersion is the path's current version now (0: none readable).
	FromVersion int `json:"fromVersion,omitempty"`
	// AsOfVersion is the version the path read at the point, whose
	// data a write brings back (0: none readable).
	AsOfVersion int `json:"asOfVersion,omitempty"`
	// Written is the version a restore wrote (only in an apply's
	// answer: a plan cannot know it).
	Written int `json:"written,omitempty"`
	// Deleted are the versions a delete soft-deletes.
	Deleted []int `json:"deleted,omitempty"`
	// Keys are the names of the keys a write brings back, sorted.
	Keys []string `json:"keys,omitempty"`
	// Reason says why an action is impossible, or nothing is done.
	Reason string `json:"reason,omitempty"`
}

// RestoreCounts counts a plan's actions.
type RestoreCounts struct {
	Write      int `json:"write"`
	Delete     int `json:"delete"`
	Nothing    int `json:"nothing"`
	Impossible int `json:"impossible"`
}

// Count adds up actions.
func Count(actions []RestoreAction) RestoreCounts {
	var c RestoreCounts
	for _, a := range actions {
		switch a.Action {
		case RestoreWrite:
			c.Write++
		case RestoreDelete:
			c.Delete++
		case RestoreNothing:
			c.Nothing++
		case RestoreImpossible:
			c.Impossible++
		}
	}
	return c
}

// RestorePlanResponse answers OpRestorePlan. BaseSeq is the log position
// the plan was computed at: give it to the apply, which refuses if a
// path the plan covers changed after it.
type RestorePlanResponse struct {
	BaseSeq  uint64          `json:"baseSeq"`
	AsOfSeq  uint64          `json:"asOfSeq"`
	AsOfTime time.Time       `json:"asOfTime"`
	Actions  []RestoreAction `json:"actions"`
	Counts   RestoreCounts   `json:"counts"`
	Err      ErrorCode       `json:"err,omitempty"`
}

// RestorePointListRequest lists points one can restore to: the log's
// signed checkpoints (OpRestorePointList, extension), oldest first.
type RestorePointListRequest struct {
	Page
}

// RestorePointListResponse answers OpRestorePointList.
type RestorePointListResponse struct {
	Points []RestorePoint `json:"points"`
	// Next, if not 0, is the "after" that asks for the next page.
	Next uint64    `json:"next,omitempty"`
	Err  ErrorCode `json:"err,omitempty"`
}

// RestorePoint is a point of the log: its size (the sequence number of
// its last event), its time and its root hash.
type RestorePoint struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	RootHash []byte    `json:"rootHash,omitempty"`
}

// Op returns OpRestorePointApply.
func (RestorePointApplyRequest) Op() Op { return OpRestorePointApply }

// Validate checks that exactly one point is given, and the scope.
func (r RestorePointApplyRequest) Validate() error {
	return validateRestore(r.Paths, r.Prefix, r.AsOfSeq, r.AsOfTime, r.Point)
}

// Op returns OpRestorePlan.
func (RestorePlanRequest) Op() Op { return OpRestorePlan }

// Validate checks the request as the apply's.
func (r RestorePlanRequest) Validate() error {
	return validateRestore(r.Paths, r.Prefix, r.AsOfSeq, r.AsOfTime, r.Point)
}

// StoredPaths returns the paths named, as the apply's.
func (r RestorePlanRequest) StoredPaths() (string, []string) { return "paths", r.Paths }

func validateRestore(paths []string, prefix string, seq uint64, t *time.Time, point uint64) error {
	given := 0
	for _, set := range []bool{seq != 0, t != nil, point != 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		return invalid("asOfSeq", `give exactly one of "asOfSeq", "asOfTime" and "point"`)
	}
	if prefix != "" {
		if len(paths) > 0 {
			return invalid("prefix", `give "paths" or "prefix", not both`)
		}
		if err := validatePathPrefix("prefix", prefix); err != nil {
			return err
		}
	}
	return validatePathList(paths)
}

func validatePathList(paths []string) error {
	if len(paths) > MaxPageSize {
		return invalid("paths", "too many")
	}
	seen := make(map[string]bool, len(paths))
	for _, p := range paths {
		if err := validateStoredPath("paths", p); err != nil {
			return err
		}
		if seen[p] {
			return invalid("paths", "a path is named twice")
		}
		seen[p] = true
	}
	return nil
}

// StoredPaths returns the paths named: a restore reaches a legacy path
// (it brings back what was stored there).
func (r RestorePointApplyRequest) StoredPaths() (string, []string) { return "paths", r.Paths }

// Op returns OpRestorePointList.
func (RestorePointListRequest) Op() Op { return OpRestorePointList }
