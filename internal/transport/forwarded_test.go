package transport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

// seen is what a handler saw of a request.
type seen struct {
	Peer, Via, Body string
}

// forwardingServer serves /v1/who (echoes Peer and Via) and /v1/pilot
// (pilot superuser only), trusting nexus peers to forward, admitting
// members of td except blocked at the handshake. forward, if set, is
// its Forward option.
func forwardingServer(t *testing.T, p *pki, blocked spiffeid.ID, forward func(http.ResponseWriter, *http.Request, *Request) bool) (url string, calls *[]seen, log *logBuffer) {
	t.Helper()
	var mu sync.Mutex
	calls = new([]seen)
	who := func(ctx context.Context, r *Request) Response {
		mu.Lock()
		defer mu.Unlock()
		s := seen{Peer: r.Peer.String(), Body: string(r.Body)}
		if !r.Via.IsZero() {
			s.Via = r.Via.String()
		}
		*calls = append(*calls, s)
		return Response{Body: s}
	}
	log = &logBuffer{}
	src := p.source(nexusID)
	srv, err := NewServer(ServerOptions{
		SVID: src, Bundle: src, MaxBody: 64,
		Authorizer: tlsconfig.AdaptMatcher(func(id spiffeid.ID) error {
			if id.MemberOf(td) && id != blocked {
				return nil
			}
			return errors.New("refused")
		}),
		TrustForwarded: func(id spiffeid.ID) bool { return id == nexusID },
		Forward:        forward,
		Logger:         slog.New(slog.NewJSONHandler(log, nil)),
	}, []Route{
		{Name: "who", Path: "/v1/who", Handler: who},
		{Name: "pilot", Path: "/v1/pilot", Allow: func(id spiffeid.ID) bool { return id == pilotID }, Handler: who},
	})
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serveLoopback(t, srv)
	return "https://" + addr, calls, log
}

// rawClient posts with whatever headers a test wants, as id.
func rawClient(t *testing.T, p *pki, id spiffeid.ID) *http.Client {
	t.Helper()
	src := p.source(id)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(nexusID))}}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func post(t *testing.T, hc *http.Client, url, body string, forwarded ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range forwarded {
		req.Header.Add(HeaderForwardedPeer, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

func TestForwardedPeer(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	blocked := spiffeid.RequireFromPath(td, "/workload/blocked")
	url, calls, log := forwardingServer(t, p, blocked, nil)
	nexus, app := rawClient(t, p, nexusID), rawClient(t, p, appID)
	for _, tc := range []struct {
		name      string
		hc        *http.Client
		path      string
		forwarded []string
		status    int
		want      seen // when status is 200
		reason    api.Reason
	}{
		{name: "nexus forwards for a workload", hc: nexus, path: "/v1/who", forwarded: []string{appID.String()},
			status: 200, want: seen{Peer: appID.String(), Via: nexusID.String()}},
		{name: "nexus without the header is itself", hc: nexus, path: "/v1/who",
			status: 200, want: seen{Peer: nexusID.String()}},
		{name: "a workload's header is ignored", hc: app, path: "/v1/who", forwarded: []string{pilotID.String()},
			status: 200, want: seen{Peer: appID.String()}},
		{name: "a workload's malformed header is ignored too", hc: app, path: "/v1/who", forwarded: []string{"%%"},
			status: 200, want: seen{Peer: appID.String()}},
		{name: "the route authorises the forwarded caller", hc: nexus, path: "/v1/pilot", forwarded: []string{pilotID.String()},
			status: 200, want: seen{Peer: pilotID.String(), Via: nexusID.String()}},
		{name: "the route refuses the forwarded caller", hc: nexus, path: "/v1/pilot", forwarded: []string{appID.String()}, status: 401},
		{name: "a workload cannot borrow the pilot's ID", hc: app, path: "/v1/pilot", forwarded: []string{pilotID.String()}, status: 401},
		{name: "the listener refuses the forwarded caller", hc: nexus, path: "/v1/who", forwarded: []string{blocked.String()}, status: 401},
		{name: "not a SPIFFE ID", hc: nexus, path: "/v1/who", forwarded: []string{"workload/app"}, status: 400, reason: api.ReasonInvalid},
		{name: "empty", hc: nexus, path: "/v1/who", forwarded: []string{""}, status: 400, reason: api.ReasonInvalid},
		{name: "not normalised", hc: nexus, path: "/v1/who", forwarded: []string{"spiffe://spike.test/a/../workload/app"}, status: 400, reason: api.ReasonInvalid},
		{name: "upper case trust domain", hc: nexus, path: "/v1/who", forwarded: []string{"spiffe://SPIKE.test/workload/app"}, status: 400, reason: api.ReasonInvalid},
		{name: "untrusted trust domain", hc: nexus, path: "/v1/who", forwarded: []string{"spiffe://elsewhere.test/workload/app"}, status: 400, reason: api.ReasonInvalid},
		{name: "two values", hc: nexus, path: "/v1/who", forwarded: []string{appID.String(), pilotID.String()}, status: 400, reason: api.ReasonInvalid},
	} {
		before := len(*calls)
		status, body := post(t, tc.hc, url+tc.path, "{}", tc.forwarded...)
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, body)
			continue
		}
		if status != 200 {
			var pr api.Problem
			if err := json.Unmarshal(body, &pr); err != nil || pr.Reason != tc.reason || pr.Err != api.CodeForStatus(status) {
				t.Errorf("%s: body %s, want err %s reason %q", tc.name, body, api.CodeForStatus(status), tc.reason)
			}
			if status == 400 && !strings.Contains(pr.Message, HeaderForwardedPeer) {
				t.Errorf("%s: message %q does not name the header", tc.name, pr.Message)
			}
			if n := len(*calls) - before; n != 0 {
				t.Errorf("%s: a refused request reached the handler", tc.name)
			}
			continue
		}
		var got seen
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		tc.want.Body = "{}"
		if got != tc.want {
			t.Errorf("%s: handler saw %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if !strings.Contains(log.String(), `"via":"`+nexusID.String()+`"`) {
		t.Errorf("access log does not name the forwarding peer: %s", log.String())
	}
}

func TestForwardOption(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	type offer struct {
		peer, body string
		err        bool
	}
	offers := make(chan offer, 10)
	forward := func(w http.ResponseWriter, r *http.Request, req *Request) bool {
		b, err := io.ReadAll(r.Body)
		offers <- offer{peer: req.Peer.String(), body: string(b), err: err != nil}
		if string(b) == `"here"` {
			return false // serve it locally; the route reads nothing more
		}
		w.WriteHeader(http.StatusTeapot)
		return true
	}
	url, calls, log := forwardingServer(t, p, spiffeid.ID{}, forward)
	nexus, app := rawClient(t, p, nexusID), rawClient(t, p, appID)

	if status, _ := post(t, app, url+"/v1/who", `"there"`); status != http.StatusTeapot {
		t.Fatalf("offered request: status %d, want Forward's answer", status)
	}
	if o := <-offers; o != (offer{peer: appID.String(), body: `"there"`}) {
		t.Fatalf("Forward got %+v", o)
	}
	if len(*calls) != 0 {
		t.Fatal("a forwarded request reached the handler too")
	}
	if !strings.Contains(log.String(), `"msg":"request forwarded"`) {
		t.Errorf("access log does not say the request was forwarded: %s", log.String())
	}
	// Forward may decline; the route then serves the request.
	if status, _ := post(t, app, url+"/v1/who", `"here"`); status != 200 || len(*calls) != 1 {
		t.Fatalf("declined request: status %d, handler calls %d", status, len(*calls))
	}
	<-offers
	// Forward reads at most the route's limit (64 bytes here).
	post(t, app, url+"/v1/who", `"`+strings.Repeat("x", 100)+`"`)
	if o := <-offers; !o.err {
		t.Fatal("Forward read a body over the limit")
	}
	// Not offered: a request already forwarded, one no route takes, one
	// the route refuses.
	for _, tc := range []struct {
		name      string
		hc        *http.Client
		path      string
		forwarded string
		status    int
	}{
		{"already forwarded", nexus, "/v1/who", appID.String(), 200},
		{"unknown route", app, "/v1/nope", "", 400},
		{"route refuses", app, "/v1/pilot", "", 401},
	} {
		var fwd []string
		if tc.forwarded != "" {
			fwd = []string{tc.forwarded}
		}
		if status, body := post(t, tc.hc, url+tc.path, "{}", fwd...); status != tc.status {
			t.Errorf("%s: status %d, want %d (%s)", tc.name, status, tc.status, body)
		}
	}
	select {
	case o := <-offers:
		t.Fatalf("Forward was offered %+v", o)
	default:
	}
}

func TestAbortHandlerCutsTheConnection(t *testing.T) {
	t.Parallel()
	p := newPKI(t, td)
	forward := func(w http.ResponseWriter, r *http.Request, req *Request) bool {
		w.Header().Set("Content-Type", api.ContentTypeNDJSON)
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "{}\n")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	url, _, log := forwardingServer(t, p, spiffeid.ID{}, forward)
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/who", strings.NewReader("{}"))
	resp, err := rawClient(t, p, appID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// A chunked answer cut off must not read as one that ended.
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("an aborted answer read as complete")
	}
	waitLog(t, log, `"aborted":true`)
	if strings.Contains(log.String(), "handler panicked") {
		t.Fatalf("an abort was reported as a panic: %s", log.String())
	}
}

// waitLog waits for s in the log: the access log is written after the
// answer.
func waitLog(t *testing.T, log *logBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(log.String(), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log lacks %s: %s", s, log.String())
}

func FuzzParseForwardedPeer(f *testing.F) {
	for _, s := range []string{"spiffe://spike.test/workload/app", "spiffe://spike.test", "spiffe://spike.test/", "spiffe://elsewhere.test/x", "%%", "spiffe://spike.test/a//b", "spiffe://spike.test/a/./b"} {
		f.Add(s)
	}
	ca, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	var bundles x509bundle.Source = ca.Bundle()
	f.Fuzz(func(t *testing.T, s string) {
		id, ok, err := parseForwardedPeer([]string{s}, bundles)
		if !ok {
			t.Fatal("a header value was not seen")
		}
		if err != nil {
			if !errors.Is(err, errForwardedPeer) {
				t.Fatalf("error %v is not a forwarded-peer error", err)
			}
			return
		}
		if id.String() != s || !id.MemberOf(td) {
			t.Fatalf("%q accepted as %q", s, id)
		}
	})
}
