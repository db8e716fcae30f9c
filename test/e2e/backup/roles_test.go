//go:build linux

package backup

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spikeledger/spike/sdk"
	"github.com/spikeledger/spike/test/e2e/loadkit"
)

// The roles' settings, passed in the environment.
const (
	journalEnv  = "SPIKE_E2E_BACKUP_JOURNAL"  // where a role writes its journal
	journalsEnv = "SPIKE_E2E_BACKUP_JOURNALS" // the journals the check reads, comma-separated
	preloadEnv  = "SPIKE_E2E_BACKUP_PRELOAD"  // how many secrets the preload writes
	cutoffEnv   = "SPIKE_E2E_BACKUP_CUTOFF"   // the check's instant, Unix nanoseconds
)

// entry is one operation of a journal: a put acknowledged with its
// version and the digest of its value, or a get; Start and End are when
// the call began and returned (Unix nanoseconds), for latencies.
type entry struct {
	Op      string `json:"op"`
	Path    string `json:"path"`
	Version int    `json:"version,omitempty"`
	Sum     string `json:"sum,omitempty"`
	Start   int64  `json:"start"`
	End     int64  `json:"end"`
}

// workers is how many clients each role runs.
const workers = 8

func newClient(ctx context.Context) (*sdk.Client, error) {
	return sdk.New(ctx, sdk.WithRetry(10*time.Second), sdk.WithLogger(slog.New(slog.DiscardHandler)))
}

// value is a random value of n hex characters and its digest.
func value(n int) (string, string) {
	b := make([]byte, n/2)
	rand.Read(b)
	v := hex.EncodeToString(b)
	s := sha256.Sum256([]byte(v))
	return v, hex.EncodeToString(s[:])
}

// put writes a new secret at path and journals it.
func put(ctx context.Context, c *sdk.Client, path string, size int) (entry, error) {
	v, sum := value(size)
	start := time.Now()
	ver, err := c.PutSecret(ctx, path, map[string]string{"v": v})
	return entry{Op: "put", Path: path, Version: ver, Sum: sum, Start: start.UnixNano(), End: time.Now().UnixNano()}, err
}

// preloadReport is what the preload role prints.
type preloadReport struct {
	Puts        int    `json:"puts"`
	Took        string `json:"took"`
	VerifierKey string `json:"verifierKey"`
}

// preloadRole writes SPIKE_E2E_BACKUP_PRELOAD secrets of 2 KiB, so that
// the backup has a log of some size to copy, and reports the verifier
// key Nexus gives.
func preloadRole(ctx context.Context) error {
	n, err := loadkit.IntEnv(preloadEnv, 20000, 1)
	if err != nil {
		return err
	}
	begin := time.Now()
	var next atomic.Int64
	journals := make([][]entry, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c, err := newClient(ctx)
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			for i := next.Add(1); i <= int64(n); i = next.Add(1) {
				e, err := put(ctx, c, fmt.Sprintf("preload/w%d/%d", w, i), 2048)
				if err != nil {
					errs[w] = fmt.Errorf("preload put %s: %w", e.Path, err)
					return
				}
				journals[w] = append(journals[w], e)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := loadkit.WriteLines(os.Getenv(journalEnv), slices.Concat(journals...)); err != nil {
		return err
	}
	c, err := newClient(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	cp, err := loadkit.Checkpoint(ctx, c)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(preloadReport{Puts: n, Took: time.Since(begin).Round(time.Millisecond).String(), VerifierKey: cp.VerifierKey})
}

// loadSummary is what the load role prints.
type loadSummary struct {
	Acked  int      `json:"acked"`
	Failed int      `json:"failed"`
	Errors []string `json:"errors,omitempty"`
}

// loadRole puts a new 256-byte secret and reads it back, in a loop on
// each client, until standard input closes, journaling every call
// acknowledged.
func loadRole(ctx context.Context) error {
	var stop atomic.Bool
	go func() {
		io.Copy(io.Discard, os.Stdin)
		stop.Store(true)
	}()
	journals := make([][]entry, workers)
	var mu sync.Mutex
	var sum loadSummary
	failed := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		sum.Failed++
		if len(sum.Errors) < 10 {
			sum.Errors = append(sum.Errors, err.Error())
		}
	}
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c, err := newClient(ctx)
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			for i := 0; !stop.Load(); i++ {
				e, err := put(ctx, c, fmt.Sprintf("load/w%d/%d", w, i), 256)
				if err != nil {
					failed(err)
					continue
				}
				journals[w] = append(journals[w], e)
				start := time.Now()
				if _, err := c.GetSecret(ctx, e.Path, e.Version); err != nil {
					failed(err)
					continue
				}
				journals[w] = append(journals[w], entry{Op: "get", Path: e.Path, Version: e.Version, Start: start.UnixNano(), End: time.Now().UnixNano()})
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	all := slices.Concat(journals...)
	sum.Acked = len(all)
	if err := loadkit.WriteLines(os.Getenv(journalEnv), all); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(sum)
}

// checkReport is what the check role prints.
type checkReport struct {
	Checked  int      `json:"checked"`
	Problems []string `json:"problems,omitempty"`
}

// checkRole reads back every put of the journals acknowledged before
// the cutoff: the version must be there, with the value written.
func checkRole(ctx context.Context) error {
	cutoff, err := strconv.ParseInt(os.Getenv(cutoffEnv), 10, 64)
	if err != nil {
		return fmt.Errorf("%s: %w", cutoffEnv, err)
	}
	var want []entry
	for _, path := range strings.Split(os.Getenv(journalsEnv), ",") {
		err := loadkit.ReadLines(path, func(e entry) {
			if e.Op == "put" && e.End < cutoff {
				want = append(want, e)
			}
		})
		if err != nil {
			return err
		}
	}
	var rep checkReport
	var mu sync.Mutex
	problem := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...))
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			c, err := newClient(ctx)
			if err != nil {
				errs[w] = err
				return
			}
			defer c.Close()
			for i := next.Add(1) - 1; i < int64(len(want)); i = next.Add(1) - 1 {
				e := want[i]
				s, err := c.GetSecret(ctx, e.Path, e.Version)
				if err != nil {
					problem("%s version %d, acknowledged before the backup: %v", e.Path, e.Version, err)
					continue
				}
				got := sha256.Sum256([]byte(s.Data["v"]))
				if hex.EncodeToString(got[:]) != e.Sum {
					problem("%s version %d: another value than the one written", e.Path, e.Version)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	rep.Checked = len(want)
	return json.NewEncoder(os.Stdout).Encode(rep)
}
