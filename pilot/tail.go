package pilot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// auditTailCmd follows the log. The SDK's stream follows again from
// where it stopped when the connection drops or Nexus restarts, so the
// events printed have no gap and no duplicate; Ctrl-C (the command's
// context) ends it, and that is a success.
type auditTailCmd struct {
	auditFilters
	From  uint64  `name:"from" placeholder:"SEQ" help:"Start with the event at this sequence number (catch up, then follow)."`
	Since timeArg `name:"since" placeholder:"TIME" help:"Start with the first event at or after this time, in the forms audit list --since takes."`
}

// Help is the long help.
func (c *auditTailCmd) Help() string {
	return "Without --from or --since it starts with the next event. Human output is one line per event, JSON one object per line " +
		"(an event as audit list shows it), YAML one document per event. " + c.help()
}

func (c *auditTailCmd) Run(e *env) error {
	if err := c.check(); err != nil {
		return err
	}
	if c.From != 0 && c.Since.set {
		return usagef("--from and --since: give one")
	}
	client, err := e.nexus()
	if err != nil {
		return err
	}
	q := sdk.AuditTailQuery{Actor: c.Actor, Path: c.Path, PathPrefix: c.PathPrefix, Types: c.Types, Outcomes: c.Outcomes, From: c.From}
	if c.Since.set {
		q.Since = c.Since.t
	}
	s, err := client.AuditTail(e.ctx, q)
	if err != nil {
		return err
	}
	defer s.Close()
	print := tailPrinter(e.format, e.out)
	for ev, err := range s.All() {
		if err != nil {
			if errors.Is(err, context.Canceled) && e.ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return err
		}
		if err := print(ev); err != nil {
			return err
		}
	}
	return nil
}

// tailPrinter prints one event at a time, at once, in format f.
func tailPrinter(f format, w io.Writer) func(api.AuditEvent) error {
	switch f {
	case formatJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return func(ev api.AuditEvent) error { return enc.Encode(ev) }
	case formatYAML:
		return func(ev api.AuditEvent) error {
			y, err := marshalYAML(ev)
			if err != nil {
				return fmt.Errorf("encode YAML: %w", err)
			}
			_, err = fmt.Fprintf(w, "---\n%s", y)
			return err
		}
	}
	header := false
	return func(ev api.AuditEvent) error {
		if !header {
			header = true
			if _, err := fmt.Fprintln(w, "SEQ  TIME  TYPE  ACTOR  PATH  VERSIONS  OUTCOME  DETAIL"); err != nil {
				return err
			}
		}
		_, err := fmt.Fprintln(w, eventLine(ev))
		return err
	}
}

// eventLine is an event as audit list's table shows it, its cells
// separated by two spaces: a tail cannot align columns it has not seen.
func eventLine(ev api.AuditEvent) string {
	versions := "-"
	if len(ev.Versions) > 0 {
		versions = strings.ReplaceAll(joinInts(ev.Versions), " ", "")
	}
	return strings.TrimRight(strings.Join([]string{fmt.Sprint(ev.Seq), humanTime(ev.Time), oneLine(ev.Type), dash(oneLine(ev.Actor)),
		dash(oneLine(ev.Path)), versions, dash(oneLine(ev.Outcome)), oneLine(ev.Detail)}, "  "), " ")
}
