//go:build linux

package faults

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/sdk"
)

// The test binary re-executes itself under role names (hard links with
// their own SPIRE registrations); these variables tell the child what to
// do.
const (
	roleEnv     = "SPIKE_E2E_FAULTS_ROLE"     // load (peek and contribute are system.RunKeeperRole's)
	keepersEnv  = "SPIKE_E2E_FAULTS_KEEPERS"  // comma list of keeper URLs; keeper N is spike/keeper/N
	durationEnv = "SPIKE_E2E_FAULTS_DURATION" // load: how long to keep calling
	workersEnv  = "SPIKE_E2E_FAULTS_WORKERS"  // load: how many callers
	nameEnv     = "SPIKE_E2E_FAULTS_NAME"     // load: this client's name, in its secret paths
)

// runRole is the child's main.
func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	var err error
	switch role {
	case "load":
		err = loadRole(ctx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "faults role %s: %v\n", role, err)
		return 1
	}
	return 0
}

// loadReport is what one load client did and saw.
type loadReport struct {
	Calls    int      `json:"calls"`
	Failed   int      `json:"failed"`
	Failures []string `json:"failures,omitempty"` // the first few
	// Serials are the leaf certificate serials seen, in order of first
	// sight: the client's own SVIDs, Nexus's, and each keeper's (by URL).
	Own    []string            `json:"own"`
	Nexus  []string            `json:"nexus"`
	Keeper map[string][]string `json:"keeper"`
}

// loadRole runs workers that write and read back their own secrets
// through the SDK, without retries (a call that fails counts), each
// opening a new client every few calls so that handshakes keep happening
// across SVID rotations. Beside them an observer records, twice a
// second, the serial of this client's SVID and of the certificate Nexus
// and each keeper present at a fresh handshake.
func loadRole(ctx context.Context) error {
	d, err := time.ParseDuration(os.Getenv(durationEnv))
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	workers, err := strconv.Atoi(os.Getenv(workersEnv))
	if err != nil || workers < 1 {
		return fmt.Errorf("workers %q: want a positive number", os.Getenv(workersEnv))
	}
	src, err := identity.NewWorkloadSource(ctx, "", 30*time.Second)
	if err != nil {
		return err
	}
	defer src.Close()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	rep := loadReport{Keeper: map[string][]string{}}
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		rep.Failed++
		if len(rep.Failures) < 10 {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%s: %v", time.Now().UTC().Format(time.TimeOnly), err))
		}
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			n := loadWorker(ctx, src, fmt.Sprintf("load/%s/%d", os.Getenv(nameEnv), w), fail)
			mu.Lock()
			rep.Calls += n
			mu.Unlock()
		})
	}
	wg.Go(func() { observe(ctx, src, &mu, &rep) })
	wg.Wait()
	return json.NewEncoder(os.Stdout).Encode(rep)
}

// callsPerClient is how many calls a load worker makes on one SDK client
// before it opens the next (and so makes new handshakes).
const callsPerClient = 20

// loadWorker writes and reads back path until ctx ends, and returns how
// many calls it made; each failure goes to fail.
func loadWorker(ctx context.Context, src *identity.WorkloadSource, path string, fail func(error)) int {
	calls := 0
	for i := 0; ctx.Err() == nil; {
		c, err := sdk.New(ctx, sdk.WithSource(src, src), sdk.WithRetry(0))
		if err != nil {
			fail(fmt.Errorf("sdk.New: %w", err))
			continue
		}
		for range callsPerClient / 2 {
			if ctx.Err() != nil {
				break
			}
			i++
			want := strconv.Itoa(i)
			_, err := c.PutSecret(ctx, path, map[string]string{"n": want})
			if ctx.Err() != nil {
				break // the run ended during the call: not a failure
			}
			calls++
			if err != nil {
				fail(fmt.Errorf("put %s: %w", path, err))
				continue
			}
			s, err := c.GetSecret(ctx, path, 0)
			if ctx.Err() != nil {
				break
			}
			calls++
			switch {
			case err != nil:
				fail(fmt.Errorf("get %s: %w", path, err))
			case s.Data["n"] != want:
				fail(fmt.Errorf("get %s: read %q after writing %q", path, s.Data["n"], want))
			}
		}
		c.Close()
	}
	return calls
}

// observe records serials until ctx ends.
func observe(ctx context.Context, src *identity.WorkloadSource, mu *sync.Mutex, rep *loadReport) {
	keepers := strings.Split(os.Getenv(keepersEnv), ",")
	nexus := os.Getenv("SPIKE_NEXUS_URL")
	conf := tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeAny())
	see := func(list *[]string, serial string) {
		if serial != "" && !slices.Contains(*list, serial) {
			*list = append(*list, serial)
		}
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		own := ""
		if svid, err := src.GetX509SVID(); err == nil {
			own = svid.Certificates[0].SerialNumber.String()
		}
		ns := serverSerial(ctx, conf, nexus)
		ks := make([]string, len(keepers))
		for i, k := range keepers {
			ks[i] = serverSerial(ctx, conf, k)
		}
		mu.Lock()
		see(&rep.Own, own)
		see(&rep.Nexus, ns)
		for i, k := range keepers {
			l := rep.Keeper[k]
			see(&l, ks[i])
			rep.Keeper[k] = l
		}
		mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// serverSerial makes a fresh TLS handshake with the server at base (an
// https URL) and returns the serial of its leaf certificate, or "". A
// keeper refuses this client's identity once it has checked it, but its
// certificate is already in hand by then.
func serverSerial(ctx context.Context, conf *tls.Config, base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return ""
	}
	defer raw.Close()
	c := tls.Client(raw, conf.Clone())
	c.HandshakeContext(ctx)
	if certs := c.ConnectionState().PeerCertificates; len(certs) > 0 {
		return certs[0].SerialNumber.String()
	}
	return ""
}
