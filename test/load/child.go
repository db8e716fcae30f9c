package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spikeledger/spike/devcluster"
	"github.com/spikeledger/spike/nexus"
)

type child struct {
	cmd                   *exec.Cmd
	stdin                 io.WriteCloser
	url, svidDir, loadDir string
}

// childStopWait is how long a child that was asked to stop has to close
// its cluster and remove its directory before it is killed.
const childStopWait = 30 * time.Second

// startChild runs this program with -serve and reads its READY line.
// When ctx ends the child is asked to stop by closing its standard input,
// not killed: a killed child would leave its temporary directory behind.
func startChild(ctx context.Context, profile string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-serve", "-server-cpuprofile", profile)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd.Cancel = stdin.Close
	cmd.WaitDelay = childStopWait
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
	if err != nil || len(f) != 4 || f[0] != "READY" {
		c.stop()
		return nil, fmt.Errorf("server did not start (%q): %v", line, err)
	}
	c.url, c.svidDir, c.loadDir = f[1], f[2], f[3]
	return c, nil
}

func (c *child) stop() {
	c.stdin.Close()
	c.cmd.Wait()
}

// serve is the child: a development cluster on a free port, the
// superuser's SVID directory and one for the load workload, until stdin
// closes or ctx ends (an interrupt reaches the child too). It prints
// "READY\t<Nexus URL>\t<superuser SVID dir>\t<load SVID dir>".
func serve(ctx context.Context, profile string) error {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(nexus.GCPercent) // as spike-nexus runs
	}
	return serveUntil(ctx, profile, os.Stdin, os.Stdout)
}

func serveUntil(ctx context.Context, profile string, stdin io.Reader, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "spike-load-")
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := devcluster.Start(ctx, devcluster.Options{DataDir: dir, NexusAddr: "127.0.0.1:0", OpsAddr: devcluster.OpsOff, Logger: logger})
	if err != nil {
		return err
	}
	defer c.Close()
	su := c.SVIDDir(devcluster.SVIDSuperuser)
	load := loadDir(su)
	if err := c.IssueSVIDDir(ctx, "/workload/load", load); err != nil {
		return fmt.Errorf("load workload SVID: %w", err)
	}
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return fmt.Errorf("server CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("server CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Fprintf(stdout, "READY\t%s\t%s\t%s\n", c.NexusURL(), su, load)
	closed := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(closed)
	}()
	select {
	case <-ctx.Done():
	case <-closed:
	}
	return nil
}
