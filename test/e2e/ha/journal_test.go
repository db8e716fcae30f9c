//go:build linux

package ha

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// Operations and outcomes in the journal.
const (
	opPut = "put"
	opGet = "get"

	acked   = "acked"   // the replica answered with success
	unknown = "unknown" // a write that failed in a way that may have applied
	failed  = "failed"  // a read that got no answer
)

// entry is one journaled operation.
type entry struct {
	Worker  int    `json:"w"`
	Replica int    `json:"r"`               // index of the replica the worker talks to
	Probe   bool   `json:"probe,omitempty"` // a worker without the SDK's retries
	Op      string `json:"op"`
	Path    string `json:"path"`
	Value   string `json:"value,omitempty"`
	Version int    `json:"version,omitempty"`
	Outcome string `json:"outcome"`
	Start   int64  `json:"start"` // Unix nanoseconds
	End     int64  `json:"end"`
	Err     string `json:"err,omitempty"`
}

// summary is what the load role prints when it ends.
type summary struct {
	Acked      map[string]int `json:"acked"`
	Unknown    map[string]int `json:"unknown"`
	Failed     map[string]int `json:"failed"`
	Mismatches int            `json:"mismatches"`
	Errors     []string       `json:"errors"` // the first few, for the report
}

func (s summary) total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// readJournal reads a journal the load role wrote.
func readJournal(path string) ([]entry, error) {
	var out []entry
	if err := loadkit.ReadLines(path, func(e entry) { out = append(out, e) }); err != nil {
		return nil, err
	}
	return out, nil
}

// recoveries returns, for each kill, how long after it the first
// acknowledged write that began after it ended; a kill no such write
// followed is an error. Writes begun before the kill are left out: one
// the old leader committed just before it died may be answered after
// the kill, and says nothing of the new leader.
func recoveries(entries []entry, kills []time.Time) ([]time.Duration, error) {
	var puts []entry
	for _, e := range entries {
		if e.Op == opPut && e.Outcome == acked {
			puts = append(puts, e)
		}
	}
	out := make([]time.Duration, 0, len(kills))
	for i, k := range kills {
		at := k.UnixNano()
		first := int64(-1)
		for _, e := range puts {
			if e.Start > at && (first < 0 || e.End < first) {
				first = e.End
			}
		}
		if first < 0 {
			return out, fmt.Errorf("kill %d at %s: no acknowledged write begun after it", i+1, k.Format(time.RFC3339Nano))
		}
		out = append(out, time.Duration(first-at))
	}
	return out, nil
}

// quantile is the q-quantile (0 < q ≤ 1) of ds by the nearest-rank
// method: the smallest value with at least q of the values at or below
// it. ds must not be empty.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(math.Ceil(q * float64(len(s))))
	return s[max(rank, 1)-1]
}
