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
	List  restoreListCmd  `cmd:"" help:"List the log's signed checkpoints: the points one can restore to with restore apply --seq."`
	Apply restoreApplyCmd `cmd:"" help:"Bring secret paths back to their state at an earlier point of the log (new versions; nothing is rewritten)."`
}

// pointsDoc is the JSON document of `spike restore list`.
type pointsDoc struct {
	Points []api.RestorePoint `json:"points"`
	Next   uint64             `json:"next,omitempty"`
}

// restoreListCmd pages through checkpoints, not events: its flags say
// so, though they are the same page as audit list's.
type restoreListCmd struct {
	After uint64  `name:"after" help:"Only checkpoints after this sequence number (the previous page's next)."`
	Limit int     `name:"limit" help:"Print one page of at most this many checkpoints (0: every one)."`
	Since timeArg `name:"since" placeholder:"TIME" help:"Only checkpoints signed at or after this time: an RFC 3339 time, a date (midnight UTC) or a time ago (30m, 1h, 7d)."`
	Until timeArg `name:"until" placeholder:"TIME" help:"Only checkpoints signed before this time, in the same forms as --since."`
}

// Help is the long help: what a row is, and how to use it.
func (c *restoreListCmd) Help() string {
	return `Each row is a checkpoint Nexus signed, oldest first: SEQ is the log's size then (the sequence number of its last event), TIME when it was signed, ROOT HASH the Merkle root it signs. ` +
		`restore apply --seq SEQ brings paths back to their state at that point; restore apply --time takes any instant instead, and uses the last event at or before it.`
}

func (c *restoreListCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	page := pageFlags{After: c.After, Limit: c.Limit, Since: c.Since, Until: c.Until}
	points, next, err := fetchPages(page, func(p sdk.Page) ([]api.RestorePoint, uint64, error) {
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
	Paths []string `arg:"" optional:"" name:"path" help:"Secret paths to restore (none: every path, which needs super on spike/system/secret)."`
	Seq   uint64   `name:"seq" help:"The point: a sequence number of the log (spike restore list shows signed ones)."`
	Time  string   `name:"time" placeholder:"TIME" help:"The point, instead of --seq: an RFC 3339 time (2026-11-27T09:00:00Z), a date (2026-11-27, midnight UTC) or a duration ago (2h, 3d); not in the future."`
	Yes   bool     `name:"yes" short:"y" help:"Do not ask for confirmation."`
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
	if (c.Seq == 0) == (c.Time == "") {
		return usagef("give the point to restore to: --seq or --time (one of them), such as --time 2h (two hours ago)")
	}
	point := fmt.Sprintf("seq %d", c.Seq)
	req := sdk.RestoreRequest{Paths: c.Paths, AsOfSeq: c.Seq}
	if c.Time != "" {
		t, err := parsePastTime("--time", c.Time, time.Now())
		if err != nil {
			return err
		}
		point = t.UTC().Format(time.RFC3339Nano)
		req.AsOfTime = t
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
	if len(doc.Paths) == 0 {
		return c.nothingRestored(doc)
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

// nothingRestored is the error of a restore that changed no path: most
// often a mistyped path, which a "Restored 0 paths" with exit 0 would
// hide.
func (c *restoreApplyCmd) nothingRestored(doc restoredDoc) error {
	at := fmt.Sprintf("seq %d (%s)", doc.AsOfSeq, humanTime(doc.AsOfTime))
	if len(c.Paths) == 0 {
		return fmt.Errorf("restored nothing: every secret path is as it was at %s", at)
	}
	quoted := make([]string, len(c.Paths))
	for i, p := range c.Paths {
		quoted[i] = oneLine(p)
	}
	state := "are as they were at %s, or had no data then and have none now"
	if len(c.Paths) == 1 {
		state = "is as it was at %s, or had no data then and has none now"
	}
	return fmt.Errorf("restored nothing: %s %s: check the path (spike secret list; spike secret history PATH shows what happened)",
		strings.Join(quoted, ", "), fmt.Sprintf(state, at))
}
