package pilot

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// restoreCmd is point-in-time restore.
type restoreCmd struct {
	List  restoreListCmd  `cmd:"" help:"List the points of the log one can restore to (its signed checkpoints)."`
	Apply restoreApplyCmd `cmd:"" help:"Bring secret paths back to their state at an earlier point of the log (new versions; nothing is rewritten)."`
}

// pointsDoc is the JSON document of `spike restore list`.
type pointsDoc struct {
	Points []api.RestorePoint `json:"points"`
	Next   uint64             `json:"next,omitempty"`
}

type restoreListCmd struct {
	pageFlags
}

func (c *restoreListCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	points, next, err := fetchPages(c.pageFlags, func(p sdk.Page) ([]api.RestorePoint, uint64, error) {
		return client.RestorePoints(e.ctx, p)
	})
	if err != nil {
		return err
	}
	doc := pointsDoc{Points: points, Next: next}
	return e.print(doc, func(w io.Writer) error {
		if len(doc.Points) == 0 {
			_, err := fmt.Fprintln(w, "No restore points yet.")
			return err
		}
		t := table(w)
		fmt.Fprintln(t, "SEQ\tTIME\tROOT HASH")
		for _, p := range doc.Points {
			fmt.Fprintf(t, "%d\t%s\t%s\n", p.Seq, humanTime(p.Time), b64(p.RootHash))
		}
		if err := t.Flush(); err != nil {
			return err
		}
		if doc.Next != 0 {
			_, err := fmt.Fprintf(w, "More points: --after %d\n", doc.Next)
			return err
		}
		return nil
	})
}

type restoreApplyCmd struct {
	Paths []string   `arg:"" optional:"" name:"path" help:"Secret paths to restore (none: every path, which needs super on spike/system/secret)."`
	Seq   uint64     `name:"seq" help:"The point: a sequence number of the log (spike restore list shows signed ones)."`
	Time  *time.Time `name:"time" help:"The point: a time (RFC 3339), instead of --seq."`
	Yes   bool       `name:"yes" short:"y" help:"Do not ask for confirmation."`
}

// restoredDoc is the JSON document of `spike restore apply`: the event
// that records the restore (Seq), the point restored to in both forms,
// and the paths that changed.
type restoredDoc struct {
	Seq      uint64    `json:"seq"`
	AsOfSeq  uint64    `json:"asOfSeq"`
	AsOfTime time.Time `json:"asOfTime"`
	Paths    []string  `json:"paths"`
}

// Run restores after asking: the restore appends versions and deletes,
// so it can be undone by restoring to the point just before it, but it
// changes what every reader of those paths sees.
func (c *restoreApplyCmd) Run(e *env) error {
	if (c.Seq == 0) == (c.Time == nil) {
		return usagef("give the point to restore to: --seq or --time (one of them)")
	}
	point := fmt.Sprintf("seq %d", c.Seq)
	req := sdk.RestoreRequest{Paths: c.Paths, AsOfSeq: c.Seq}
	if c.Time != nil {
		point = c.Time.UTC().Format(time.RFC3339)
		req.AsOfTime = *c.Time
	}
	scope := "every secret path"
	if len(c.Paths) > 0 {
		scope = strings.Join(c.Paths, ", ")
	}
	if err := e.confirm(fmt.Sprintf("Restore %s to the state at %s? Paths that differ get new versions or are deleted.", scope, point), c.Yes); err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	res, err := client.Restore(e.ctx, req)
	if err != nil {
		return err
	}
	doc := restoredDoc{Seq: res.Seq, AsOfSeq: res.AsOfSeq, AsOfTime: res.AsOfTime, Paths: res.Paths}
	if doc.Paths == nil {
		doc.Paths = []string{}
	}
	return e.print(doc, func(w io.Writer) error {
		fmt.Fprintf(w, "Restored %d path%s to seq %d (%s).\n", len(doc.Paths), plural(len(doc.Paths)), doc.AsOfSeq, humanTime(doc.AsOfTime))
		for _, p := range doc.Paths {
			fmt.Fprintf(w, "  %s\n", oneLine(p))
		}
		_, err := fmt.Fprintf(w, "The restore is event %d; undo it with: spike restore apply --seq %d %s\n", doc.Seq, doc.Seq-1, strings.Join(c.Paths, " "))
		return err
	})
}
