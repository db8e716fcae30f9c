//go:build linux

package ha

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// loadStopWait bounds how long the load takes to finish its last
// operations once told to stop: one SDK retry wait and then some.
const loadStopWait = 2 * time.Minute

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
	journal string
	stderr  string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  bytes.Buffer
	done    chan struct{}
	err     error
}

// startLoad starts the load role as the pilot superuser against every
// replica.
func (c *cluster) startLoad(t *testing.T, o loadOptions) *loadProc {
	t.Helper()
	lp := &loadProc{journal: filepath.Join(c.d.Dir(), o.name+".journal.jsonl"),
		stderr: filepath.Join(c.d.LogDir(), o.name+".load.stderr"), done: make(chan struct{})}
	f, err := os.Create(lp.stderr)
	if err != nil {
		t.Fatal(err)
	}
	lp.cmd = exec.Command(c.tb.Path(clientBin))
	lp.cmd.Env = c.d.Env(roleEnv+"=load", urlsEnv+"="+strings.Join(c.urls(), ","), journalEnv+"="+lp.journal,
		workersEnv+"="+strconv.Itoa(o.workers), pathsEnv+"="+strconv.Itoa(o.paths),
		opsEnv+"="+strconv.Itoa(o.rounds), retryEnv+"="+o.retry.String(), probersEnv+"="+strconv.Itoa(o.probers))
	lp.cmd.Stdout, lp.cmd.Stderr = &lp.stdout, f
	lp.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if lp.stdin, err = lp.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := lp.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start the load: %v", err)
	}
	go func() {
		lp.err = lp.cmd.Wait()
		f.Close()
		close(lp.done)
	}()
	t.Cleanup(func() {
		if !lp.exited() {
			lp.cmd.Process.Kill()
			<-lp.done
		}
	})
	return lp
}

func (lp *loadProc) exited() bool {
	select {
	case <-lp.done:
		return true
	default:
		return false
	}
}

// stop tells the load to stop (a load of fixed rounds just ends), waits
// for it and returns its summary and journal.
func (lp *loadProc) stop(t *testing.T) (summary, []entry) {
	t.Helper()
	lp.stdin.Close()
	select {
	case <-lp.done:
		if lp.err != nil {
			t.Fatalf("the load: %v\n%s", lp.err, system.Tail(lp.stderr))
		}
	case <-time.After(loadStopWait):
		lp.cmd.Process.Kill()
		t.Fatalf("the load did not finish within %v\n%s", loadStopWait, system.Tail(lp.stderr))
	}
	var s summary
	if err := json.Unmarshal(lp.stdout.Bytes(), &s); err != nil {
		t.Fatalf("the load's summary: %v\n%s", err, lp.stdout.String())
	}
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
	r := c.d.Run(t, "check", system.Cmd{Bin: c.tb.Path(clientBin),
		Env: c.d.Env(roleEnv+"=check", journalEnv+"="+journal, "SPIKE_NEXUS_URL="+c.url(i))})
	if r.Code != 0 {
		t.Fatalf("the check role: %s", r)
	}
	var rep report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("the check role's report: %v\n%s", err, r.Stdout)
	}
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
