//go:build linux

package monitoring

// The load: the test binary re-executed under workload identities, with
// our client (package sdk) configured by the environment alone
// (SPIFFE_ENDPOINT_SOCKET, SPIKE_NEXUS_URL, SPIKE_TRUST_ROOT). Each role
// prints one line with the calls it made and exits 0 when every call
// ended as expected; otherwise it says which did not on standard error
// and exits 1. No secret value is printed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/sdk"
)

// roleEnv makes the re-executed test binary play a role: "pilot"
// (spike/pilot/role/superuser) or "app" (appID, with a policy on
// appPrefix only).
const roleEnv = "SPIKE_E2E_MONITORING_ROLE"

const (
	appPolicy = "monitoring-app"
	appPrefix = "monitoring/app/"
	// loadPaths is how many paths the superuser writes and reads.
	loadPaths = 120
	// appPaths is how many paths the app writes and reads under its
	// policy; appDenied how many of its calls are refused.
	appPaths  = 20
	appDenied = 8
	// workers is how many calls a role has in flight.
	workers = 4
)

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	os.Exit(m.Run())
}

func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := sdk.New(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "monitoring role %s: sdk.New: %v\n", role, err)
		return 1
	}
	defer c.Close()
	l := &loader{c: c}
	switch role {
	case "pilot":
		err = l.pilot(ctx)
	case "app":
		err = l.app(ctx)
	default:
		err = fmt.Errorf("no role %q", role)
	}
	fmt.Printf("%d calls\n", l.calls.Load())
	if err != nil {
		fmt.Fprintf(os.Stderr, "monitoring role %s: %v\n", role, err)
		return 1
	}
	return 0
}

// loader makes calls and counts them.
type loader struct {
	c     *sdk.Client
	calls atomic.Int64
}

// each runs f for 0 … n-1 on workers goroutines and returns the first
// error.
func (l *loader) each(n int, f func(i int) error) error {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				err := f(i)
				l.calls.Add(1)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func loadPath(i int) string { return "monitoring/load/" + strconv.Itoa(i) }

// pilot, as the superuser: the app's policy, writes and reads over many
// paths, a list, cipher calls in both modes (one failing), and reads of
// paths that hold nothing.
func (l *loader) pilot(ctx context.Context) error {
	c := l.c
	l.calls.Add(1)
	if err := c.PutPolicy(ctx, sdk.Policy{Name: appPolicy,
		SPIFFEIDPattern: `^spiffe://spike\.test/workload/monitoring$`, PathPattern: "^" + appPrefix + ".*$",
		Permissions: []api.Permission{api.PermRead, api.PermWrite}}); err != nil {
		return fmt.Errorf("put policy: %w", err)
	}
	if err := l.each(loadPaths, func(i int) error {
		if _, err := c.PutSecret(ctx, loadPath(i), map[string]string{"n": strconv.Itoa(i)}); err != nil {
			return fmt.Errorf("put %s: %w", loadPath(i), err)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := l.each(loadPaths, func(i int) error {
		s, err := c.GetSecret(ctx, loadPath(i), 0)
		if err == nil && s.Data["n"] != strconv.Itoa(i) {
			err = errors.New("other data than written")
		}
		if err != nil {
			return fmt.Errorf("get %s: %w", loadPath(i), err)
		}
		return nil
	}); err != nil {
		return err
	}
	if err := l.each(5, func(i int) error {
		if _, err := c.GetSecret(ctx, "monitoring/none/"+strconv.Itoa(i), 0); !errors.Is(err, sdk.ErrNotFound) {
			return fmt.Errorf("get of an empty path: %v, want ErrNotFound", err)
		}
		return nil
	}); err != nil {
		return err
	}
	l.calls.Add(1)
	if _, _, err := c.ListSecrets(ctx, sdk.ListOptions{Prefix: "monitoring/"}); err != nil {
		return fmt.Errorf("list: %w", err)
	}
	plain := []byte("monitoring: a plaintext for the cipher")
	if err := l.each(10, func(i int) error {
		if i%2 == 0 {
			env, err := c.Encrypt(ctx, plain)
			if err != nil {
				return fmt.Errorf("encrypt: %w", err)
			}
			got, err := c.Decrypt(ctx, env)
			if err == nil && !bytes.Equal(got, plain) {
				err = errors.New("other bytes")
			}
			if err != nil {
				return fmt.Errorf("decrypt: %w", err)
			}
			return nil
		}
		env, err := c.EncryptStream(ctx, bytes.NewReader(plain))
		if err != nil {
			return fmt.Errorf("encrypt stream: %w", err)
		}
		got, err := c.DecryptStream(ctx, bytes.NewReader(env))
		if err == nil && !bytes.Equal(got, plain) {
			err = errors.New("other bytes")
		}
		if err != nil {
			return fmt.Errorf("decrypt stream: %w", err)
		}
		return nil
	}); err != nil {
		return err
	}
	// A tampered envelope: a cipher operation that fails.
	env, err := c.EncryptStream(ctx, bytes.NewReader(plain))
	if err != nil {
		return fmt.Errorf("encrypt stream: %w", err)
	}
	env[len(env)-1] ^= 1
	l.calls.Add(2)
	if _, err := c.DecryptStream(ctx, bytes.NewReader(env)); !errors.Is(err, api.CodeDecryptionFailed) {
		return fmt.Errorf("decrypt of a tampered envelope: %v, want %s", err, api.CodeDecryptionFailed)
	}
	return nil
}

// app, a workload with a policy on appPrefix: writes and reads there
// (allowed by the policy), then reads and writes elsewhere (denied).
func (l *loader) app(ctx context.Context) error {
	c := l.c
	if err := l.each(appPaths, func(i int) error {
		p := appPrefix + strconv.Itoa(i)
		if _, err := c.PutSecret(ctx, p, map[string]string{"n": strconv.Itoa(i)}); err != nil {
			return fmt.Errorf("put %s: %w", p, err)
		}
		if _, err := c.GetSecret(ctx, p, 0); err != nil {
			return fmt.Errorf("get %s: %w", p, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return l.each(appDenied, func(i int) error {
		var err error
		if i%2 == 0 {
			_, err = c.GetSecret(ctx, loadPath(i), 0)
		} else {
			_, err = c.PutSecret(ctx, "monitoring/other/"+strconv.Itoa(i), map[string]string{"n": "x"})
		}
		if !errors.Is(err, sdk.ErrUnauthorized) {
			return fmt.Errorf("call outside the policy: %v, want ErrUnauthorized", err)
		}
		return nil
	})
}
