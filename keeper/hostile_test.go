package keeper_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
)

// keeperBodies are a well-formed request for every Keeper route; a
// Keeper op missing here fails the sweep.
var keeperBodies = map[api.Op]string{
	api.OpShardContribute: `{"shard":[` + strings.TrimSuffix(strings.Repeat("9,", api.ShardSize), ",") + `]}`,
	api.OpShardGet:        `{}`,
}

// withEpoch is a well-formed contribution but for its epoch.
func withEpoch(epoch string) string {
	return strings.TrimSuffix(keeperBodies[api.OpShardContribute], "}") + `,"epoch":` + epoch + `}`
}

// TestHostileKeeperSweep sends every Keeper route hostile requests as
// Nexus (wrong methods, paths and actions; bodies that do not decode or
// pass the limit) and well-formed ones as the Bootstrap where it has no
// business: each gets its documented 4xx, and the held shard is the same
// afterwards.
func TestHostileKeeperSweep(t *testing.T) {
	t.Parallel()
	e := start(t)
	held := randomShard(t)
	if err := e.contribute(e.client(nexusID), held); err != nil {
		t.Fatal(err)
	}
	clients := map[spiffeid.ID]*http.Client{}
	post := func(who spiffeid.ID, method, target, body string) (int, api.ErrorCode) {
		t.Helper()
		hc, ok := clients[who]
		if !ok {
			src := e.source(who)
			hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, tlsconfig.AuthorizeID(keeperID))}}
			t.Cleanup(hc.CloseIdleConnections)
			clients[who] = hc
		}
		req, err := http.NewRequest(method, e.url+target, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", api.ContentTypeJSON)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s as %s: %v", method, target, who, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var eb api.ErrorResponse
		json.Unmarshal(b, &eb)
		return resp.StatusCode, eb.Err
	}
	type kcase struct {
		name                 string
		who                  spiffeid.ID
		method, target, body string
		status               int
		code                 api.ErrorCode
	}
	var cases []kcase
	routes := 0
	for _, op := range api.Ops() {
		if op.Service() != api.ServiceKeeper {
			continue
		}
		routes++
		valid, ok := keeperBodies[op]
		if !ok {
			t.Errorf("keeper route %s has no sweep cases: add a well-formed body to keeperBodies", op)
			continue
		}
		tgt := op.Path()
		if op.Action() != api.ActionDefault {
			tgt += "?action=" + string(op.Action())
		}
		bad := func(name, method, target, body string) kcase {
			return kcase{op.String() + ": " + name, nexusID, method, target, body, http.StatusBadRequest, api.CodeBadRequest}
		}
		cases = append(cases,
			bad("GET", http.MethodGet, tgt, valid),
			bad("PUT", http.MethodPut, tgt, valid),
			bad("DELETE", http.MethodDelete, tgt, valid),
			bad("unknown action", http.MethodPost, op.Path()+"?action=explode", valid),
			bad("trailing slash", http.MethodPost, op.Path()+"/", valid),
			bad("NUL in the path", http.MethodPost, op.Path()+"%00", valid),
			bad("8 KiB path", http.MethodPost, op.Path()+"/"+strings.Repeat("a", 8<<10), valid),
			bad("body over the limit", http.MethodPost, tgt, `{"x":"`+strings.Repeat("a", int(op.BodyLimit()))+`"}`),
		)
		for _, b := range []struct{ name, body string }{
			{"empty body", ``}, {"truncated JSON", `{"shard":`}, {"array", `[1]`}, {"string", `"s"`}, {"number", `7`},
			{"two objects", `{}{}`}, {"nested 20000 deep", strings.Repeat("[", 20000) + strings.Repeat("]", 20000)}, {"invalid UTF-8", "{\xff}"},
		} {
			cases = append(cases, bad(b.name, http.MethodPost, tgt, b.body))
		}
	}
	cases = append(cases,
		kcase{"shard.get: the bootstrap", bootstrapID, http.MethodPost, api.PathKeeperShard, `{}`, http.StatusUnauthorized, api.CodeUnauthorized},
		kcase{"shard.contribute: shard of the wrong type", nexusID, http.MethodPost, api.PathKeeperContribute, `{"shard":{"0":1}}`, http.StatusBadRequest, api.CodeBadRequest},
		kcase{"shard.contribute: epoch past uint64", nexusID, http.MethodPost, api.PathKeeperContribute, withEpoch("1e400"), http.StatusBadRequest, api.CodeBadRequest},
		kcase{"shard.contribute: negative epoch", nexusID, http.MethodPost, api.PathKeeperContribute, withEpoch("-1"), http.StatusBadRequest, api.CodeBadRequest},
	)
	for _, tc := range cases {
		if status, code := post(tc.who, tc.method, tc.target, tc.body); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %q, want %d %q", tc.name, status, code, tc.status, tc.code)
		}
	}
	if got, err := e.shard(e.client(nexusID)); err != nil || got != held {
		t.Fatalf("the held shard changed (%v)", err)
	}
	t.Logf("%d keeper routes, %d cases", routes, len(cases))
}

// TestHostileKeeperHandshakes: Nexus's own ID on a certificate the
// keeper must not accept — expired, of another trust domain, from
// another CA of its trust domain — and no certificate at all are
// refused at the handshake; the shard is untouched.
func TestHostileKeeperHandshakes(t *testing.T) {
	t.Parallel()
	e := start(t)
	held := randomShard(t)
	if err := e.contribute(e.client(nexusID), held); err != nil {
		t.Fatal(err)
	}
	issue := func(ca *identity.DevCA, id spiffeid.ID, ttl time.Duration) *x509svid.SVID {
		svid, err := ca.Issue(id, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return svid
	}
	evil, err := identity.NewDevCA(spiffeid.RequireTrustDomainFromString("evil.test"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := identity.NewDevCA(td, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	expired := issue(e.ca, nexusID, time.Nanosecond)
	time.Sleep(10 * time.Millisecond)
	for _, tc := range []struct {
		name string
		svid *x509svid.SVID
	}{
		{"expired certificate", expired},
		{"another trust domain", issue(evil, spiffeid.RequireFromPath(evil.TrustDomain(), "/spike/nexus"), time.Hour)},
		{"own trust domain, another CA", issue(otherCA, nexusID, time.Hour)},
		{"no certificate", nil},
	} {
		bundle := e.ca.Bundle()
		conf := tlsconfig.TLSClientConfig(bundle, tlsconfig.AuthorizeID(keeperID))
		if tc.svid != nil {
			conf = tlsconfig.MTLSClientConfig(identity.NewStaticSource(tc.svid, bundle), bundle, tlsconfig.AuthorizeID(keeperID))
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
		for _, body := range []struct{ path, body string }{{api.PathKeeperShard, `{}`}, {api.PathKeeperContribute, keeperBodies[api.OpShardContribute]}} {
			resp, err := hc.Post(e.url+body.path, api.ContentTypeJSON, strings.NewReader(body.body))
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: %s answered %d, want the handshake refused", tc.name, body.path, resp.StatusCode)
			} else if !strings.Contains(err.Error(), "tls: ") {
				t.Errorf("%s: %v, want a TLS alert", tc.name, err)
			}
		}
		hc.CloseIdleConnections()
	}
	if got, err := e.shard(e.client(nexusID)); err != nil || got != held {
		t.Fatalf("the held shard changed (%v)", err)
	}
}
