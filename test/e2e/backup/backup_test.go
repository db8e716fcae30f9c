//go:build linux

package backup

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/eventlog"
	"github.com/spikeledger/spike/test/e2e/loadkit"
	"github.com/spikeledger/spike/test/e2e/system"
)

// baseline is how long the load runs before the backup, and settle how
// long after it: windows to measure latency in, not waits for a state.
const (
	baseline = 3 * time.Second
	settle   = 2 * time.Second
)

// backupDoc is what spike -f json operator backup prints.
type backupDoc struct {
	File        string `json:"file"`
	Events      uint64 `json:"events"`
	Bytes       int64  `json:"bytes"`
	FileBytes   int64  `json:"fileBytes"`
	SHA256      string `json:"sha256"`
	VerifierKey string `json:"verifierKey"`
}

// TestHotBackup takes a backup while an SDK load runs, restores it into
// a fresh data directory, and checks that a Nexus started there, which
// unseals from the same keepers, holds every version acknowledged before
// the backup began, on a log that verifies offline.
func TestHotBackup(t *testing.T) {
	tb := setup(t)
	d := system.Deploy(t, tb, system.DeployOptions{Keepers: 3, Threshold: 2})

	preJournal := filepath.Join(d.Dir(), "preload.jsonl")
	var pre preloadReport
	// SPIKE_E2E_BACKUP_PRELOAD, when set, overrides the preload's size.
	loadkit.RunJSON(t, d, "preload", system.Cmd{Bin: tb.Path(loadBin), Env: d.Env(roleEnv+"=preload", journalEnv+"="+preJournal,
		preloadEnv+"="+os.Getenv(preloadEnv))}, &pre)
	t.Logf("preload: %d secrets of 2 KiB in %s", pre.Puts, pre.Took)

	loadJournal := filepath.Join(d.Dir(), "load.jsonl")
	load := loadkit.Start(t, tb.Path(loadBin), d.Env(roleEnv+"=load", journalEnv+"="+loadJournal), filepath.Join(d.LogDir(), "load.stderr"))
	time.Sleep(baseline)
	out := filepath.Join(d.Dir(), "backups", "nexus.backup")
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	r := d.Run(t, "backup", system.Cmd{Bin: tb.Path(superBin), Env: d.Env(), Args: []string{"-f", "json", "operator", "backup", "--out", out}})
	ended := time.Now()
	if r.Code != 0 {
		t.Fatalf("spike operator backup during the load: %s", r)
	}
	time.Sleep(settle)
	var sum loadSummary
	load.Stop(t, &sum)
	if sum.Failed > 0 {
		t.Errorf("the load saw %d failed calls: %q", sum.Failed, sum.Errors)
	}
	var doc backupDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || doc.Events == 0 {
		t.Fatalf("spike operator backup said %q: %v", r.Stdout, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != doc.FileBytes {
		t.Fatalf("backup file: %v, %v (want mode 0600 and %d bytes)", fi, err, doc.FileBytes)
	}
	if doc.VerifierKey != pre.VerifierKey {
		t.Errorf("the backup names verifier key %s, Nexus reported %s", doc.VerifierKey, pre.VerifierKey)
	}

	d.Nexus().Stop(t)
	if err := os.Rename(d.DataDir(), d.DataDir()+".before"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(d.DataDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	vkeyFile := filepath.Join(d.Dir(), "vkey.txt")
	if err := os.WriteFile(vkeyFile, []byte(pre.VerifierKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rr := d.Run(t, "restore-backup", system.Cmd{Bin: tb.Nexus(), Env: d.Env(),
		Args: []string{"restore-backup", "--from", out, "--data-dir", d.DataDir(), "--key", "@" + vkeyFile}})
	if rr.Code != 0 || !strings.Contains(rr.Stdout, "Restored "+strconv.FormatUint(doc.Events, 10)+" events") || !strings.Contains(rr.Stdout, doc.SHA256) {
		t.Fatalf("spike-nexus restore-backup: want exit 0, %d events and SHA-256 %s: %s", doc.Events, doc.SHA256, rr)
	}
	rep, err := eventlog.VerifyFile(context.Background(), filepath.Join(d.DataDir(), "events.db"), pre.VerifierKey, eventlog.VerifyOptions{})
	if err != nil || rep.Size != doc.Events {
		t.Fatalf("the restored log: %+v, %v (want %d events that verify)", rep, err, doc.Events)
	}

	d.StartNexus(t)
	d.WaitReady(t, "on the restored log, unsealed from the same keepers")
	var check checkReport
	loadkit.RunJSON(t, d, "check", system.Cmd{Bin: tb.Path(loadBin), Env: d.Env(roleEnv+"=check",
		journalsEnv+"="+preJournal+","+loadJournal, cutoffEnv+"="+strconv.FormatInt(began.UnixNano(), 10))}, &check)
	for i, p := range check.Problems {
		if i == 20 {
			t.Errorf("… and %d more", len(check.Problems)-i)
			break
		}
		t.Errorf("lost in the backup: %s", p)
	}
	if check.Checked <= pre.Puts {
		t.Errorf("checked %d versions: want the %d preloaded and some of the load's", check.Checked, pre.Puts)
	}

	before, during := latencies(t, loadJournal, began, ended)
	took := ended.Sub(began)
	t.Logf("hot backup: %d events, %.1f MB of log (%.1f MB file) in %v by spike operator backup (process start and SVID included): %.1f MB/s",
		doc.Events, mb(doc.Bytes), mb(doc.FileBytes), took.Round(time.Millisecond), mb(doc.FileBytes)/took.Seconds())
	t.Logf("load latency (8 SDK clients, put 256 B + get): before the backup p50 %v p99 %v over %d calls; during it p50 %v p99 %v over %d calls",
		pct(before, 50), pct(before, 99), len(before), pct(during, 50), pct(during, 99), len(during))
	t.Logf("restored: %d events verify offline against the pinned key; %d versions acknowledged before the backup began all read back from the restored Nexus",
		rep.Size, check.Checked)
}

// latencies are the load's call latencies that began in the baseline
// before the backup, and during it.
func latencies(t *testing.T, journal string, began, ended time.Time) (before, during []time.Duration) {
	t.Helper()
	from := began.Add(-baseline).UnixNano()
	err := loadkit.ReadLines(journal, func(e entry) {
		d := time.Duration(e.End - e.Start)
		switch {
		case e.Start >= from && e.Start < began.UnixNano():
			before = append(before, d)
		case e.Start >= began.UnixNano() && e.Start < ended.UnixNano():
			during = append(during, d)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(before)
	slices.Sort(during)
	return before, during
}

// pct is the p-th percentile of sorted ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return ds[min(len(ds)-1, len(ds)*p/100)].Round(10 * time.Microsecond)
}

func mb(n int64) float64 { return float64(n) / 1e6 }
