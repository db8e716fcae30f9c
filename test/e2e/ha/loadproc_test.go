//go:build linux

package ha

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/loadkit"
	"github.com/spikeledger/spike/test/e2e/system"
)

// loadOptions configures a load.
type loadOptions struct {
	name    string        // labels its journal and standard error
	workers int           // in all; worker w talks to replica w mod 3
	probers int           // workers without retries, besides
	paths   int           // per worker
	rounds  int           // per worker; 0 runs until stop
	retry   time.Duration // the SDK's retry wait
}

// loadProc is the load role running in a child process.
type loadProc struct {
	*loadkit.Proc
	journal string
}

// startLoad starts the load role as the pilot superuser against every
// replica.
func (c *cluster) startLoad(t *testing.T, o loadOptions) *loadProc {
	t.Helper()
	journal := filepath.Join(c.d.Dir(), o.name+".journal.jsonl")
	env := c.d.Env(roleEnv+"=load", urlsEnv+"="+strings.Join(c.urls(), ","), journalEnv+"="+journal,
		workersEnv+"="+strconv.Itoa(o.workers), pathsEnv+"="+strconv.Itoa(o.paths),
		opsEnv+"="+strconv.Itoa(o.rounds), retryEnv+"="+o.retry.String(), probersEnv+"="+strconv.Itoa(o.probers))
	p := loadkit.Start(t, c.tb.Path(clientBin), env, filepath.Join(c.d.LogDir(), o.name+".load.stderr"))
	return &loadProc{Proc: p, journal: journal}
}

// stop tells the load to stop (a load of fixed rounds just ends), waits
// for it and returns its summary and journal.
func (lp *loadProc) stop(t *testing.T) (summary, []entry) {
	t.Helper()
	var s summary
	lp.Stop(t, &s)
	entries, err := readJournal(lp.journal)
	if err != nil {
		t.Fatal(err)
	}
	return s, entries
}

// check runs the check role on a journal through replica i and returns
// its report; every problem fails t.
func (c *cluster) check(t *testing.T, journal string, i int) report {
	t.Helper()
	var rep report
	loadkit.RunJSON(t, c.d, "check", system.Cmd{Bin: c.tb.Path(clientBin),
		Env: c.d.Env(roleEnv+"=check", journalEnv+"="+journal, "SPIKE_NEXUS_URL="+c.url(i))}, &rep)
	if rep.VerifierKey == "" {
		t.Fatal("the check role reports no verifier key")
	}
	for n, p := range rep.Problems {
		if n == 30 {
			t.Errorf("… and %d more problems", len(rep.Problems)-n)
			break
		}
		t.Errorf("check: %s", p)
	}
	return rep
}
