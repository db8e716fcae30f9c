package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spikeledger/spike/devcluster"
)

func TestRunAgainstDevCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, err := devcluster.Start(ctx, devcluster.Options{DataDir: t.TempDir(), NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	su := c.SVIDDir("superuser")
	if err := c.IssueSVIDDir(ctx, "/workload/load", su[:strings.LastIndex(su, "/")+1]+"load"); err != nil {
		t.Fatal(err)
	}
	for _, o := range []options{
		{op: "get", workers: 4},
		{op: "get", workers: 2, policies: 3},
		{op: "put", workers: 4},
	} {
		o.nexus, o.svidDir, o.serverPID, o.duration, o.valueSize = c.NexusURL(), su, os.Getpid(), 300*time.Millisecond, 16
		var out bytes.Buffer
		if err := run(ctx, o, &out); err != nil {
			t.Fatalf("%+v: %v\n%s", o, err, out.String())
		}
		for _, want := range []string{"errors 0", "latency: p50", "server CPU:", "load CPU:"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%+v: output lacks %q:\n%s", o, want, out.String())
			}
		}
	}
}

func TestRunRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []options{
		{op: "delete", workers: 1, duration: time.Second, valueSize: 1},
		{op: "get", workers: 0, duration: time.Second, valueSize: 1},
		{op: "get", workers: maxCallers + 1, duration: time.Second, valueSize: 1},
		{op: "get", workers: 1, duration: 0, valueSize: 1},
		{op: "get", workers: 1, duration: time.Second, valueSize: 1, policies: -1},
		{op: "get", workers: 1, duration: time.Second, valueSize: 1, nexus: "https://127.0.0.1:1"}, // no -svid-dir
	} {
		if err := run(context.Background(), o, &bytes.Buffer{}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestProcCPU(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	d, err := procCPU(os.Getpid())
	if err != nil || d < 0 {
		t.Fatalf("procCPU = %v, %v", d, err)
	}
	if _, err := procCPU(0); err == nil {
		t.Fatal("pid 0 accepted")
	}
}
