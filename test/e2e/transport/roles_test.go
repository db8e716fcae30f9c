//go:build linux

package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/internal/transport"
	"github.com/spikeledger/spike/test/e2e/system"
)

// The test binary re-executes itself under role names (hard links with
// their own SPIRE registrations); these environment variables tell the
// child what to do.
const (
	roleEnv  = "SPIKE_E2E_ROLE"  // server | client
	admitEnv = "SPIKE_E2E_ADMIT" // server: comma list of IDs admitted at the handshake ("" = trust domain)
	pinEnv   = "SPIKE_E2E_PIN"   // client: the server ID it insists on
	urlEnv   = "SPIKE_E2E_URL"   // client: server base URL
	planEnv  = "SPIKE_E2E_PLAN"  // client: JSON []step, or "loop:<seconds>"
)

type step struct {
	Path   string `json:"path"`
	Action string `json:"action"`
}

type outcome struct {
	Status int    `json:"status"` // 200, the refusal status, or 0 for a transport error
	Code   string `json:"code,omitempty"`
	Err    string `json:"err,omitempty"`
}

// loopReport is what a looping client reports.
type loopReport struct {
	Calls         int      `json:"calls"`
	Failures      []string `json:"failures"`
	ClientSerials []string `json:"client_serials"` // distinct serials of the client's own SVID, in order seen
	ServerSerials []string `json:"server_serials"` // distinct serials the server reported
}

func runRole(role string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	switch role {
	case "server":
		err = serverRole(ctx)
	case "client":
		err = clientRole(ctx)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "role %s: %v\n", role, err)
		return 1
	}
	return 0
}

func source(ctx context.Context) (*identity.WorkloadSource, error) {
	return identity.NewWorkloadSource(ctx, "", 20*time.Second)
}

func serial(src *identity.WorkloadSource) string {
	svid, err := src.GetX509SVID()
	if err != nil {
		return "error: " + err.Error()
	}
	return svid.Certificates[0].SerialNumber.String()
}

// serverRole serves /v1/echo (any admitted caller) and
// /v1/echo?action=pilot (pilot superuser only), prints its address, and
// serves until SIGTERM.
func serverRole(ctx context.Context) error {
	src, err := source(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	authz := tlsconfig.AuthorizeMemberOf(spiffeid.RequireTrustDomainFromString(system.TrustDomain))
	if admit := os.Getenv(admitEnv); admit != "" {
		var ids []spiffeid.ID
		for _, s := range strings.Split(admit, ",") {
			ids = append(ids, spiffeid.RequireFromString(s))
		}
		authz = tlsconfig.AuthorizeOneOf(ids...)
	}
	echo := func(ctx context.Context, r *transport.Request) transport.Response {
		return transport.Response{Body: map[string]string{"peer": r.Peer.String(), "server_serial": serial(src)}}
	}
	srv, err := transport.NewServer(transport.ServerOptions{SVID: src, Bundle: src, Authorizer: authz, Logger: slog.New(slog.DiscardHandler)}, []transport.Route{
		{Path: "/v1/echo", Handler: echo},
		{Path: "/v1/echo", Action: "pilot", Allow: func(id spiffeid.ID) bool { return strings.HasSuffix(id.Path(), "/spike/pilot/role/superuser") }, Handler: echo},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	fmt.Printf("LISTEN https://%s\n", ln.Addr())
	return srv.Serve(ctx, ln)
}

func clientRole(ctx context.Context) error {
	src, err := source(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	c, err := transport.NewClient(transport.ClientOptions{SVID: src, Bundle: src, Server: tlsconfig.AuthorizeID(spiffeid.RequireFromString(os.Getenv(pinEnv))),
		Timeout: 10 * time.Second, Retries: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer c.Close()
	plan := os.Getenv(planEnv)
	if secs, ok := strings.CutPrefix(plan, "loop:"); ok {
		d, err := time.ParseDuration(secs + "s")
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(loop(ctx, c, src, d))
	}
	var steps []step
	if err := json.Unmarshal([]byte(plan), &steps); err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	var out []outcome
	for _, s := range steps {
		out = append(out, call(ctx, c, s, nil))
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func call(ctx context.Context, c *transport.Client, s step, resp any) outcome {
	err := c.Do(ctx, transport.Call{BaseURL: os.Getenv(urlEnv), Path: s.Path, Action: s.Action, Request: struct{}{}, Response: resp})
	var se *transport.StatusError
	switch {
	case err == nil:
		return outcome{Status: http.StatusOK}
	case errors.As(err, &se):
		return outcome{Status: se.Status, Code: string(se.Code)}
	default:
		return outcome{Err: err.Error()}
	}
}

// loop calls the server for d (until both sides have rotated at least
// twice, or d runs out), closing idle connections every call so each call
// makes a fresh handshake with whatever certificates are current.
func loop(ctx context.Context, c *transport.Client, src *identity.WorkloadSource, d time.Duration) loopReport {
	var rep loopReport
	add := func(list *[]string, s string) {
		if len(*list) == 0 || (*list)[len(*list)-1] != s {
			*list = append(*list, s)
		}
	}
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) && (len(rep.ClientSerials) < 3 || len(rep.ServerSerials) < 3) {
		add(&rep.ClientSerials, serial(src))
		var body map[string]string
		o := call(ctx, c, step{Path: "/v1/echo"}, &body)
		rep.Calls++
		if o.Status != http.StatusOK {
			rep.Failures = append(rep.Failures, fmt.Sprintf("%d %s %s", o.Status, o.Code, o.Err))
		} else {
			add(&rep.ServerSerials, body["server_serial"])
		}
		c.Close()
		time.Sleep(100 * time.Millisecond) // pacing, not synchronisation
	}
	return rep
}
