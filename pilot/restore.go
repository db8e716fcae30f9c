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
	List  restoreListCmd  `cmd:"" help:"List the log's signed checkpoints: the points one can restore to with restore apply --point."`
	Plan  restorePlanCmd  `cmd:"" help:"Show what restore apply would do to each path (versions and key names, never values), changing nothing."`
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

// restoreArgs are the scope and the point, as restore plan and apply
// take them.
type restoreArgs struct {
	Paths  []string `arg:"" optional:"" name:"path" help:"Secret paths to restore (none, and no --prefix: every path, which needs super on spike/system/secret)."`
	Prefix string   `name:"prefix" placeholder:"PREFIX" help:"Every secret path that starts with PREFIX (app/ takes app/db, not apple), instead of naming paths."`
	Seq    uint64   `name:"seq" help:"The point: a sequence number of the log (spike secret history and audit list show them)."`
	Time   string   `name:"time" aliases:"at" placeholder:"TIME" help:"The point, instead of --seq: an RFC 3339 time (2026-11-27T09:00:00Z), a date (2026-11-27, midnight UTC) or a duration ago (2h, 3d); not in the future."`
	Point  uint64   `name:"point" placeholder:"ID" help:"The point, instead of --seq: a restore point, the SEQ of a signed checkpoint spike restore list shows."`
}

// request turns the arguments into the SDK's request, and says the
// point and the scope in words.
func (a *restoreArgs) request() (req sdk.RestoreRequest, point, scope string, err error) {
	given := 0
	for _, set := range []bool{a.Seq != 0, a.Time != "", a.Point != 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		return req, "", "", usagef("give the point to restore to, one of --seq or --time (--at) or --point, such as --time 2h (two hours ago)")
	}
	if a.Prefix != "" && len(a.Paths) > 0 {
		return req, "", "", usagef("give paths or --prefix, not both")
	}
	req = sdk.RestoreRequest{Paths: a.Paths, Prefix: a.Prefix, AsOfSeq: a.Seq, Point: a.Point}
	switch {
	case a.Seq != 0:
		point = fmt.Sprintf("seq %d", a.Seq)
	case a.Point != 0:
		point = fmt.Sprintf("restore point %d", a.Point)
	default:
		t, err := parsePastTime("--time", a.Time, time.Now())
		if err != nil {
			return req, "", "", err
		}
		point = t.UTC().Format(time.RFC3339Nano)
		req.AsOfTime = t
	}
	switch {
	case a.Prefix != "":
		scope = "every secret path under " + oneLine(a.Prefix)
	case len(a.Paths) > 0:
		scope = strings.Join(a.Paths, ", ")
	default:
		scope = "every secret path"
	}
	return req, point, scope, nil
}

// flags are the arguments as a command line takes them again.
func (a *restoreArgs) flags(asOfSeq uint64) string {
	f := fmt.Sprintf("--seq %d", asOfSeq)
	if a.Prefix != "" {
		f += " --prefix " + a.Prefix
	}
	for _, p := range a.Paths {
		f += " " + p
	}
	return f
}

// planDoc is the JSON (and YAML) document of `spike restore plan`: the
// base (the log position the plan was computed at), the point, and each
// path's action with their counts.
type planDoc struct {
	BaseSeq  uint64              `json:"baseSeq"`
	AsOfSeq  uint64              `json:"asOfSeq"`
	AsOfTime time.Time           `json:"asOfTime"`
	Actions  []api.RestoreAction `json:"actions"`
	Counts   api.RestoreCounts   `json:"counts"`
}

type restorePlanCmd struct {
	restoreArgs
}

// Help is the long help: what each action means.
func (c *restorePlanCmd) Help() string {
	return `Each row is a path and what restore apply with the same arguments does to it: write (a new version with the data of version THEN), delete (the path had nothing readable then: its versions readable now are soft-deleted), nothing, or impossible (its data of then has been destroyed since). ` +
		`KEYS are the names of the keys written, never values. restore apply --base-seq BASE applies exactly this plan, and refuses if a path of it changed after BASE.`
}

func (c *restorePlanCmd) Run(e *env) error {
	req, _, _, err := c.request()
	if err != nil {
		return err
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	plan, err := client.RestorePlan(e.ctx, req)
	if err != nil {
		return err
	}
	doc := planDoc{BaseSeq: plan.BaseSeq, AsOfSeq: plan.AsOfSeq, AsOfTime: plan.AsOfTime, Actions: plan.Actions, Counts: plan.Counts}
	if doc.Actions == nil {
		doc.Actions = []api.RestoreAction{}
	}
	return e.print(doc, func(w io.Writer) error {
		if err := writePlan(w, doc); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "Apply it: spike restore apply %s --base-seq %d\n", c.flags(doc.AsOfSeq), doc.BaseSeq)
		return err
	})
}

// writePlan writes a plan as a table, with its counts.
func writePlan(w io.Writer, doc planDoc) error {
	fmt.Fprintf(w, "Restore to seq %d (%s), planned at seq %d:\n", doc.AsOfSeq, humanTime(doc.AsOfTime), doc.BaseSeq)
	t := table(w)
	fmt.Fprintln(t, "PATH\tACTION\tNOW\tTHEN\tKEYS OR VERSIONS\tREASON")
	for _, a := range doc.Actions {
		detail := strings.Join(a.Keys, ", ")
		if a.Action == api.RestoreDelete {
			detail = "versions " + joinInts(a.Deleted)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", oneLine(a.Path), a.Action, versionCell(a.FromVersion), versionCell(a.AsOfVersion), oneLine(detail), a.Reason)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	c := doc.Counts
	_, err := fmt.Fprintf(w, "%d path%s: %d write, %d delete, %d nothing, %d impossible.\n", len(doc.Actions), plural(len(doc.Actions)), c.Write, c.Delete, c.Nothing, c.Impossible)
	return err
}

func versionCell(v int) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("v%d", v)
}

type restoreApplyCmd struct {
	restoreArgs
	BaseSeq uint64 `name:"base-seq" placeholder:"SEQ" help:"Apply the plan spike restore plan made at this base: refused if a path of it changed since. Without it, the plan is made, shown and applied."`
	Force   bool   `name:"force" help:"Apply though the plan is stale or has impossible paths (data destroyed since): do what can be done as things are now."`
	Yes     bool   `name:"yes" short:"y" help:"Do not ask for confirmation."`
}

// restoredDoc is the JSON document of `spike restore apply`: the event
// that records the restore (Seq), the point restored to in both forms,
// the paths that changed, and what was done to each path.
type restoredDoc struct {
	Seq      uint64              `json:"seq"`
	AsOfSeq  uint64              `json:"asOfSeq"`
	AsOfTime time.Time           `json:"asOfTime"`
	Paths    []string            `json:"paths"`
	Actions  []api.RestoreAction `json:"actions"`
	Counts   api.RestoreCounts   `json:"counts"`
}

// Run restores after asking: the restore appends versions and deletes,
// so it can be undone by restoring to the point just before it, but it
// changes what every reader of those paths sees. Without --base-seq it
// plans first and shows the plan, then applies exactly that plan.
func (c *restoreApplyCmd) Run(e *env) error {
	req, point, scope, err := c.request()
	if err != nil {
		return err
	}
	req.BaseSeq, req.Force = c.BaseSeq, c.Force
	if !c.Yes && !e.terminal(e.in) {
		return e.confirm("", false) // refused before anything is planned or shown
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	question := fmt.Sprintf("Restore %s to the state at %s? Paths that differ get new versions or are deleted.", scope, point)
	if c.BaseSeq == 0 && !c.Force {
		plan, err := client.RestorePlan(e.ctx, req)
		if err != nil {
			return err
		}
		doc := planDoc{BaseSeq: plan.BaseSeq, AsOfSeq: plan.AsOfSeq, AsOfTime: plan.AsOfTime, Actions: plan.Actions, Counts: plan.Counts}
		if doc.Counts.Write+doc.Counts.Delete == 0 && doc.Counts.Impossible == 0 {
			return c.nothingRestored(restoredDoc{AsOfSeq: doc.AsOfSeq, AsOfTime: doc.AsOfTime})
		}
		if n := doc.Counts.Impossible; n > 0 {
			return fmt.Errorf("the plan has %d impossible path%s, whose data of then has been destroyed since (spike restore plan shows which): "+
				"restore to a later point, leave those paths out, or pass --force to restore the others", n, plural(n))
		}
		// The plan is for the person deciding; a document (JSON, YAML)
		// lists the same actions as done.
		if e.format == formatHuman {
			if err := writePlan(e.out, doc); err != nil {
				return err
			}
		}
		req.BaseSeq = plan.BaseSeq
		question = fmt.Sprintf("Apply this plan (%d write, %d delete)?", doc.Counts.Write, doc.Counts.Delete)
	}
	if err := e.confirm(question, c.Yes); err != nil {
		return err
	}
	res, err := client.Restore(e.ctx, req)
	if err != nil {
		return err
	}
	doc := restoredDoc{Seq: res.Seq, AsOfSeq: res.AsOfSeq, AsOfTime: res.AsOfTime, Paths: res.Paths, Actions: res.Actions, Counts: res.Counts}
	if doc.Actions == nil {
		doc.Actions = []api.RestoreAction{}
	}
	if len(doc.Paths) == 0 {
		return c.nothingRestored(doc)
	}
	return e.print(doc, func(w io.Writer) error {
		fmt.Fprintf(w, "Restored %d path%s to seq %d (%s).\n", len(doc.Paths), plural(len(doc.Paths)), doc.AsOfSeq, humanTime(doc.AsOfTime))
		for _, a := range doc.Actions {
			switch a.Action {
			case api.RestoreWrite:
				fmt.Fprintf(w, "  %s: wrote version %d\n", oneLine(a.Path), a.Written)
			case api.RestoreDelete:
				fmt.Fprintf(w, "  %s: deleted versions %s\n", oneLine(a.Path), joinInts(a.Deleted))
			}
		}
		_, err := fmt.Fprintf(w, "The restore is event %d; undo it with: spike restore apply %s\n", doc.Seq, c.undoFlags(doc.Seq))
		return err
	})
}

// undoFlags are the arguments of the restore that undoes the one
// recorded at seq: the same scope, to the point just before it.
func (c *restoreApplyCmd) undoFlags(seq uint64) string {
	return c.flags(seq - 1)
}

// nothingRestored is the error of a restore that changed no path: most
// often a mistyped path, which a "Restored 0 paths" with exit 0 would
// hide.
func (c *restoreApplyCmd) nothingRestored(doc restoredDoc) error {
	at := fmt.Sprintf("seq %d (%s)", doc.AsOfSeq, humanTime(doc.AsOfTime))
	if len(c.Paths) == 0 {
		if c.Prefix != "" {
			return fmt.Errorf("restored nothing: every secret path under %s is as it was at %s", oneLine(c.Prefix), at)
		}
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
