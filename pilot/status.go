package pilot

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

type statusCmd struct{}

// Help is the long help: what status shows, who may ask, and the exit
// status.
func (c *statusCmd) Help() string {
	return `Shows whether Nexus is ready or sealed (and why), its SPIFFE ID and the leader's, whether it was bootstrapped and when it unsealed, ` +
		`each keeper as Nexus last contacted it, the root key's sharing, the event log's size and its latest signed checkpoint. ` +
		`Nexus answers while sealed too. It needs the superuser or auditor role. ` +
		`Exit status 0 whenever Nexus answered, sealed or not, so that a script can read the state: ` +
		`spike status -f json | jq -e '.state == "ready"' tests for ready. Exit status 1 when Nexus could not be asked or refused.`
}

// statusDoc is the JSON document of `spike status`.
type statusDoc struct {
	State            string                `json:"state"`
	Reason           string                `json:"reason,omitempty"`
	Node             string                `json:"node"`
	Leader           string                `json:"leader"`
	Bootstrapped     bool                  `json:"bootstrapped"`
	UnsealedAt       *time.Time            `json:"unsealedAt"`
	Keepers          []api.KeeperStatus    `json:"keepers"`
	KeepersReachable int                   `json:"keepersReachable"`
	Shares           int                   `json:"shares"`
	Threshold        int                   `json:"threshold"`
	LogEvents        uint64                `json:"logEvents"`
	LogBytes         int64                 `json:"logBytes"`
	Checkpoint       *api.CheckpointStatus `json:"checkpoint"`
}

func (c *statusCmd) Run(e *env) error {
	client, err := e.nexus()
	if err != nil {
		return err
	}
	s, err := client.SystemStatus(e.ctx)
	if errors.Is(err, sdk.ErrUnauthorized) {
		who := "this identity"
		if id, err := client.SPIFFEID(); err == nil {
			who = id.String()
		}
		return fmt.Errorf("Nexus refused %s: status needs the superuser or auditor role (spike/pilot/role/superuser or spike/pilot/role/auditor)", who)
	}
	if err != nil {
		return err
	}
	doc := statusDoc{State: s.State, Reason: s.Reason, Node: s.Node, Leader: s.Leader, Bootstrapped: s.Bootstrapped,
		UnsealedAt: s.UnsealedAt, Keepers: s.Keepers, KeepersReachable: s.KeepersReachable, Shares: s.Shares,
		Threshold: s.Threshold, LogEvents: s.LogEvents, LogBytes: s.LogBytes, Checkpoint: s.Checkpoint}
	return e.print(doc, doc.human)
}

func (d statusDoc) human(w io.Writer) error {
	t := table(w)
	state := oneLine(d.State)
	if d.Reason != "" {
		state += ": " + oneLine(d.Reason)
	}
	fmt.Fprintf(t, "state\t%s\n", state)
	fmt.Fprintf(t, "node\t%s\n", dash(oneLine(d.Node)))
	fmt.Fprintf(t, "leader\t%s\n", dash(oneLine(d.Leader)))
	fmt.Fprintf(t, "bootstrapped\t%s\n", yesNo(d.Bootstrapped))
	unsealed := "-"
	if d.UnsealedAt != nil {
		unsealed = humanTime(*d.UnsealedAt)
	}
	fmt.Fprintf(t, "unsealed at\t%s\n", unsealed)
	fmt.Fprintf(t, "sharing\t%d of %d shards rebuild the root key\n", d.Threshold, d.Shares)
	fmt.Fprintf(t, "keepers\t%d of %d reachable\n", d.KeepersReachable, len(d.Keepers))
	fmt.Fprintf(t, "log\t%d events, %s\n", d.LogEvents, humanBytes(d.LogBytes))
	checkpoint := "none signed yet"
	if d.Checkpoint != nil {
		checkpoint = fmt.Sprintf("%d events, at %s", d.Checkpoint.Size, humanTime(d.Checkpoint.Time))
	}
	fmt.Fprintf(t, "checkpoint\t%s\n", checkpoint)
	if err := t.Flush(); err != nil {
		return err
	}
	if len(d.Keepers) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	t = table(w)
	fmt.Fprintln(t, "KEEPER\tREACHABLE\tLAST SEEN\tERROR")
	for _, k := range d.Keepers {
		reachable := yesNo(k.Reachable)
		if k.LastChecked == nil {
			reachable = "not yet checked"
		}
		seen := "-"
		if k.LastSeen != nil {
			seen = humanTime(*k.LastSeen)
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", oneLine(k.URL), reachable, seen, dash(oneLine(k.Error)))
	}
	return t.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// humanBytes is a size in bytes as people read it: 512 B, 16.0 MiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
