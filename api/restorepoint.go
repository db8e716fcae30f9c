package api

import "time"

// RestorePointApplyRequest restores secret paths to their state at an
// earlier point of the log (OpRestorePointApply, extension): at sequence
// number AsOfSeq, or at time AsOfTime — exactly one of the two. The
// restore appends events; it rewrites nothing, so it can itself be
// undone. Empty Paths means every path.
type RestorePointApplyRequest struct {
	Paths    []string   `json:"paths,omitempty"`
	AsOfSeq  uint64     `json:"asOfSeq,omitempty"`
	AsOfTime *time.Time `json:"asOfTime,omitempty"`
}

// RestorePointApplyResponse answers OpRestorePointApply: the point
// restored to (both forms) and the sequence number of the event that
// records the restore.
type RestorePointApplyResponse struct {
	Seq      uint64    `json:"seq"`
	AsOfSeq  uint64    `json:"asOfSeq"`
	AsOfTime time.Time `json:"asOfTime"`
	Paths    []string  `json:"paths,omitempty"`
	Err      ErrorCode `json:"err,omitempty"`
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

// Validate checks that exactly one point is given and each path.
func (r RestorePointApplyRequest) Validate() error {
	if (r.AsOfSeq == 0) == (r.AsOfTime == nil) {
		return invalid("asOfSeq", `give exactly one of "asOfSeq" and "asOfTime"`)
	}
	if len(r.Paths) > MaxPageSize {
		return invalid("paths", "too many")
	}
	seen := make(map[string]bool, len(r.Paths))
	for _, p := range r.Paths {
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
