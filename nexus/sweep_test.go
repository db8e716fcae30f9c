package nexus

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/spikeledger/spike/api"
	"github.com/spikeledger/spike/internal/identity"
	"github.com/spikeledger/spike/nexus/internal/custody"
	"github.com/spikeledger/spike/nexus/internal/service"
)

// Callers of the sweep, by SPIFFE ID path.
const (
	sweepNobody    = "/workload/nobody" // no grant of any kind
	sweepKeeper    = "/spike/keeper/1"
	sweepBootstrap = "/spike/bootstrap"
	sweepRecover   = "/spike/pilot/role/recover"
	sweepRestore   = "/spike/pilot/role/restore"
	sweepAuditor   = "/spike/pilot/role/auditor"
)

// sweepPath is the one secret the sweep stores; sweepPolicy its policy.
const (
	sweepPath   = "ok/path"
	sweepPolicy = "sweep-policy"
)

// sweepCase is one hostile request and what it must get: a status, an
// error code (checked when set) and exactly the events it records.
type sweepCase struct {
	name string
	op   api.Op
	// who calls (default: a caller the route admits, admittedCaller).
	who string
	// method (default POST), target (default the op's path and action).
	method, target string
	body           string
	contentType    string // default application/json
	status         int
	code           api.ErrorCode
	events         []string
}

// validBodies are a well-formed request for every Nexus route, which the
// callers without the right grant or role send. A route missing here
// fails the sweep, so a new route cannot go unswept.
var validBodies = map[api.Op]string{
	api.OpSecretPut:            `{"path":"ok/path","values":{"k":"v2"}}`,
	api.OpSecretGet:            `{"path":"ok/path"}`,
	api.OpSecretDelete:         `{"path":"ok/path","versions":[1]}`,
	api.OpSecretUndelete:       `{"path":"ok/path","versions":[1]}`,
	api.OpSecretList:           `{}`,
	api.OpSecretMetadataGet:    `{"path":"ok/path"}`,
	api.OpPolicyPut:            `{"name":"other","spiffeidPattern":"^spiffe://spike.test/x$","pathPattern":"^a$","permissions":["read"]}`,
	api.OpPolicyGet:            `{"name":"sweep-policy"}`,
	api.OpPolicyDelete:         `{"name":"sweep-policy"}`,
	api.OpPolicyList:           `{}`,
	api.OpCipherEncrypt:        `{"plaintext":"aGk="}`,
	api.OpCipherDecrypt:        `{"version":1,"nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
	api.OpBootstrapVerify:      `{"nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAA"}`,
	api.OpOperatorRecover:      `{}`,
	api.OpOperatorRestore:      `{"id":1,"shard":[` + strings.TrimSuffix(strings.Repeat("1,", api.ShardSize), ",") + `]}`,
	api.OpSecretDestroy:        `{"path":"ok/path","versions":[1]}`,
	api.OpSecretSettingsPut:    `{"path":"ok/path","maxVersions":5}`,
	api.OpSecretSettingsGet:    `{"path":"ok/path"}`,
	api.OpSecretHistory:        `{"path":"ok/path"}`,
	api.OpAuditList:            `{}`,
	api.OpAuditCheckpoint:      `{}`,
	api.OpAuditProof:           `{"seq":1}`,
	api.OpAuditConsistency:     `{"oldSize":1}`,
	api.OpRestorePointApply:    `{"paths":["ok/path"],"asOfSeq":1}`,
	api.OpRestorePointList:     `{}`,
	api.OpBootstrapStatus:      `{}`,
	api.OpSecretPatch:          `{"path":"ok/path","values":{"k":"v3"}}`,
	api.OpSecretRollback:       `{"path":"ok/path","version":1}`,
	api.OpSecretMetadataDelete: `{"path":"ok/path"}`,
	api.OpSystemStatus:         `{}`,
	api.OpExportStart:          `{"format":"json"}`,
	api.OpExportGet:            `{"id":"x","offset":0}`,
	api.OpAuditTail:            `{}`,
	api.OpRestorePlan:          `{"paths":["ok/path"],"asOfSeq":1}`,
	api.OpClusterList:          `{}`,
	api.OpClusterAdd:           `{"id":"n2","raftAddress":"10.0.0.2:8300"}`,
	api.OpClusterRemove:        `{"id":"n2"}`,
	api.OpOperatorBackup:       `{}`,
}

// custodyOps work while sealed and check the caller's role before any
// body: a refusal there records nothing (docs/auditor.md).
var custodyOps = map[api.Op]bool{api.OpBootstrapStatus: true, api.OpBootstrapVerify: true, api.OpOperatorRecover: true, api.OpOperatorRestore: true, api.OpSystemStatus: true}

// admittedCaller is a caller the route lets past its role check.
func admittedCaller(op api.Op) string {
	switch op {
	case api.OpBootstrapVerify:
		return sweepBootstrap
	case api.OpOperatorRecover:
		return sweepRecover
	case api.OpOperatorRestore:
		return sweepRestore
	}
	return superuser
}

// sweptOps are the ops of the route table Nexus registers.
func sweptOps(t *testing.T, roles *identity.Roles) []api.Op {
	t.Helper()
	byName := map[string]api.Op{}
	for _, op := range api.Ops() {
		byName[op.String()] = op
	}
	var ops []api.Op
	for _, r := range (&custody.Custody{}).Routes(roles) {
		op, ok := byName[r.Name]
		if !ok || op.Path() != r.Path || string(op.Action()) != r.Action {
			t.Fatalf("route %q (%s?action=%s) is no api.Op: the sweep cannot build its cases", r.Name, r.Path, r.Action)
		}
		ops = append(ops, op)
	}
	return ops
}

func target(op api.Op) string {
	if op.Action() == api.ActionDefault {
		return op.Path()
	}
	return op.Path() + "?action=" + string(op.Action())
}

// genericCases are the hostile requests every route must refuse the same
// way: wrong methods, paths and actions (refused by the router, before
// any handler), and bodies that do not decode.
func genericCases(op api.Op) []sweepCase {
	bad := func(name string, c sweepCase) sweepCase {
		c.name, c.op = op.String()+": "+name, op
		if c.status == 0 {
			c.status, c.code = http.StatusBadRequest, api.CodeBadRequest
		}
		return c
	}
	valid := validBodies[op]
	cases := []sweepCase{
		bad("GET", sweepCase{method: http.MethodGet, body: valid}),
		bad("PUT", sweepCase{method: http.MethodPut, body: valid}),
		bad("DELETE", sweepCase{method: http.MethodDelete, body: valid}),
		bad("unknown action", sweepCase{target: op.Path() + "?action=explode", body: valid}),
		bad("trailing slash", sweepCase{target: op.Path() + "/?action=" + string(op.Action()), body: valid}),
		bad("NUL in the path", sweepCase{target: op.Path() + "%00?action=" + string(op.Action()), body: valid}),
		bad("escape sequence in the path", sweepCase{target: op.Path() + "%1b%5b2J?action=" + string(op.Action()), body: valid}),
		bad("8 KiB path", sweepCase{target: op.Path() + "/" + strings.Repeat("a", 8<<10) + "?action=" + string(op.Action()), body: valid}),
		bad("body over the route's limit", sweepCase{body: `{"x":"` + strings.Repeat("a", int(op.BodyLimit())) + `"}`}),
	}
	if op.Action() != api.ActionDefault {
		cases = append(cases, bad("action in capitals", sweepCase{target: op.Path() + "?action=" + strings.ToUpper(string(op.Action())), body: valid}))
	}
	// Bodies that do not decode. The cipher reads its body after
	// authorisation, so there each is a cipher.used event.
	var events []string
	if op == api.OpCipherEncrypt || op == api.OpCipherDecrypt {
		events = []string{"cipher.used"}
	}
	for _, b := range []struct{ name, body string }{
		{"empty body", ``},
		{"truncated JSON", `{"path":`},
		{"array", `[1,2]`},
		{"string", `"a string"`},
		{"number", `12`},
		{"boolean", `true`},
		{"two objects", `{}{}`},
		{"nested 20000 deep", strings.Repeat("[", 20000) + strings.Repeat("]", 20000)},
		{"invalid UTF-8 outside strings", "{\xff\xfe}"},
	} {
		cases = append(cases, bad(b.name, sweepCase{body: b.body, events: events}))
	}
	return cases
}

// refusedCallers are callers without a grant or role for the route: a
// workload with no policy, a keeper, and the bootstrap on what is not
// its own. Each sends a well-formed request.
func refusedCallers(op api.Op) []sweepCase {
	var cases []sweepCase
	for _, who := range []string{sweepNobody, sweepKeeper, sweepBootstrap} {
		if who == sweepBootstrap && (op == api.OpBootstrapStatus || op == api.OpBootstrapVerify) {
			continue // its own routes
		}
		c := sweepCase{name: fmt.Sprintf("%s: %s", op, who), op: op, who: who, body: validBodies[op],
			status: http.StatusUnauthorized, code: api.CodeUnauthorized}
		switch {
		case custodyOps[op]:
		case op == api.OpSecretList:
			// Shows the caller what it may read (nothing) instead.
			c.status, c.code = http.StatusOK, ""
		default:
			c.events = []string{"access.denied"}
		}
		cases = append(cases, c)
	}
	return cases
}

// fieldCases break one field's rule per route; the admitted caller gets
// 400 (or the state's refusal), the rest as docs/auditor.md says.
func fieldCases() []sweepCase {
	const bad, den = http.StatusBadRequest, http.StatusUnauthorized
	huge := strings.Repeat("a/", 1<<20)
	none := []string(nil)
	c := func(name string, op api.Op, who, body string, status int, code api.ErrorCode, events []string) sweepCase {
		return sweepCase{name: op.String() + ": " + name, op: op, who: who, body: body, status: status, code: code, events: events}
	}
	return []sweepCase{
		c("2 MiB path", api.OpSecretPut, "", `{"path":"`+huge+`","values":{"k":"v"}}`, bad, api.CodeBadRequest, none),
		c("2 MiB path, no grant", api.OpSecretPut, sweepNobody, `{"path":"`+huge+`","values":{"k":"v"}}`, bad, api.CodeBadRequest, none),
		c("escape sequence in the path", api.OpSecretPut, "", `{"path":"a/\u001b[2Jb","values":{"k":"v"}}`, bad, api.CodeBadRequest, none),
		c("escape sequence in the path, no grant", api.OpSecretGet, sweepNobody, `{"path":"a/\u001b[2Jb"}`, bad, api.CodeBadRequest, none),
		c("NUL in the path", api.OpSecretGet, "", `{"path":"a\u0000b"}`, bad, api.CodeBadRequest, none),
		c("invalid UTF-8 in the path", api.OpSecretGet, "", "{\"path\":\"a\xffb\"}", bad, api.CodeBadRequest, none),
		c("key with a dot", api.OpSecretPut, "", `{"path":"ok/path","values":{"db.host":"v"}}`, bad, api.CodeBadRequest, none),
		c("key with a newline", api.OpSecretPut, "", `{"path":"ok/path","values":{"a\nb":"v"}}`, bad, api.CodeBadRequest, none),
		c("values over the size limit", api.OpSecretPut, "", `{"path":"ok/path","values":{"k":"`+strings.Repeat("v", service.DefaultMaxSecretSize+1)+`"}}`, bad, api.CodeBadRequest, none),
		c("values of the wrong type", api.OpSecretPut, "", `{"path":"ok/path","values":[1]}`, bad, api.CodeBadRequest, none),
		c("path of the wrong type", api.OpSecretGet, "", `{"path":17}`, bad, api.CodeBadRequest, none),
		c("version of the wrong type", api.OpSecretGet, "", `{"path":"ok/path","version":"two"}`, bad, api.CodeBadRequest, none),
		c("negative version", api.OpSecretGet, "", `{"path":"ok/path","version":-1}`, bad, api.CodeBadRequest, none),
		c("version past int64", api.OpSecretGet, "", `{"path":"ok/path","version":1e30}`, bad, api.CodeBadRequest, none),
		c("version past MaxVersion", api.OpSecretGet, "", `{"path":"ok/path","version":4611686018427387904}`, bad, api.CodeBadRequest, none),
		c("version never written", api.OpSecretGet, "", fmt.Sprintf(`{"path":"ok/path","version":%d}`, api.MaxVersion), http.StatusNotFound, api.CodeNotFound, []string{"secret.read"}),
		c("negative version", api.OpSecretMetadataGet, "", `{"path":"ok/path","version":-7}`, bad, api.CodeBadRequest, none),
		c("negative version", api.OpSecretDelete, "", `{"path":"ok/path","versions":[-1]}`, bad, api.CodeBadRequest, none),
		c("negative version", api.OpSecretUndelete, "", `{"path":"ok/path","versions":[-1]}`, bad, api.CodeBadRequest, none),
		c("negative version", api.OpSecretDestroy, "", `{"path":"ok/path","versions":[-1]}`, bad, api.CodeBadRequest, none),
		c("versions of the wrong type", api.OpSecretDestroy, "", `{"path":"ok/path","versions":"1"}`, bad, api.CodeBadRequest, none),
		c("negative version", api.OpSecretRollback, "", `{"path":"ok/path","version":-1}`, bad, api.CodeBadRequest, none),
		c("version past MaxVersion", api.OpSecretRollback, "", `{"path":"ok/path","version":4611686018427387904}`, bad, api.CodeBadRequest, none),
		c("version never written", api.OpSecretRollback, "", fmt.Sprintf(`{"path":"ok/path","version":%d}`, api.MaxVersion), http.StatusNotFound, api.CodeNotFound, []string{"request.refused"}),
		c("negative max versions", api.OpSecretSettingsPut, "", `{"path":"ok/path","maxVersions":-1}`, bad, api.CodeBadRequest, none),
		c("patch removing a key with a dot", api.OpSecretPatch, "", `{"path":"ok/path","remove":["a.b"]}`, bad, api.CodeBadRequest, none),
		c("pattern that does not compile", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"(","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("SPIFFE ID pattern that does not compile", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"[","pathPattern":"^a$","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("repeat count past RE2's", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"a{1001}","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("nested repeats too large", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"((((a{100}){100}){100}){100})","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("60 KB pattern", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"`+strings.Repeat("(a|b)", 12000)+`","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("Perl lookahead", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"(?=a)","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("unknown permission", api.OpPolicyPut, "", `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"^a$","permissions":["root"]}`, bad, api.CodeBadRequest, none),
		c("name with an escape sequence", api.OpPolicyPut, "", `{"name":"p\u001b[2J","spiffeidPattern":"^spiffe://x/y$","pathPattern":"^a$","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("10 KB name", api.OpPolicyPut, "", `{"name":"`+strings.Repeat("n", 10<<10)+`","spiffeidPattern":"^spiffe://x/y$","pathPattern":"^a$","permissions":["read"]}`, bad, api.CodeBadRequest, none),
		c("pattern that does not compile, no grant", api.OpPolicyPut, sweepNobody, `{"name":"p","spiffeidPattern":"^spiffe://x/y$","pathPattern":"(","permissions":["read"]}`, den, api.CodeUnauthorized, []string{"access.denied"}),
		c("unknown event type", api.OpAuditList, sweepAuditor, `{"types":["NOT A TYPE"]}`, bad, api.CodeBadRequest, none),
		c("unknown outcome", api.OpAuditList, sweepAuditor, `{"outcomes":["bogus"]}`, bad, api.CodeBadRequest, none),
		c("negative limit", api.OpAuditList, sweepAuditor, `{"limit":-1}`, bad, api.CodeBadRequest, none),
		c("huge limit", api.OpAuditList, sweepAuditor, `{"limit":1099511627776}`, bad, api.CodeBadRequest, none),
		c("actor not a SPIFFE ID", api.OpAuditList, sweepAuditor, `{"actor":"root"}`, bad, api.CodeBadRequest, none),
		c("until before since", api.OpAuditList, sweepAuditor, `{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, bad, api.CodeBadRequest, none),
		c("negative sequence", api.OpAuditProof, sweepAuditor, `{"seq":-1}`, bad, api.CodeBadRequest, none),
		c("old size past new size", api.OpAuditConsistency, sweepAuditor, `{"oldSize":5,"newSize":2}`, bad, api.CodeBadRequest, none),
		c("unknown event type", api.OpAuditTail, sweepAuditor, `{"types":["NOT A TYPE"]}`, bad, api.CodeBadRequest, none),
		c("unknown format", api.OpExportStart, "", `{"format":"zip"}`, bad, api.CodeBadRequest, none),
		c("negative offset", api.OpExportGet, "", `{"id":"x","offset":-1}`, bad, api.CodeBadRequest, none),
		c("no point in time", api.OpRestorePointApply, "", `{"paths":["ok/path"]}`, bad, api.CodeBadRequest, none),
		c("two points in time, no grant", api.OpRestorePointApply, sweepNobody, `{"paths":["ok/path"],"asOfSeq":1,"point":1}`, bad, api.CodeBadRequest, none),
		c("paths and prefix", api.OpRestorePointApply, "", `{"paths":["ok/path"],"prefix":"ok/","asOfSeq":1}`, bad, api.CodeBadRequest, none),
		c("control character in a path", api.OpRestorePlan, "", `{"paths":["a\u0007"],"asOfSeq":1}`, bad, api.CodeBadRequest, none),
		c("plaintext over the payload limit", api.OpCipherEncrypt, "", `{"plaintext":"`+base64.StdEncoding.EncodeToString(make([]byte, api.MaxCipherPayload+1))+`"}`, bad, "", []string{"cipher.used"}),
		c("unsupported version", api.OpCipherDecrypt, "", `{"version":9,"nonce":"AAAAAAAAAAAAAAAA","ciphertext":"AAAA"}`, bad, "", []string{"cipher.used"}),
		c("no shard", api.OpOperatorRestore, "", `{"id":1}`, bad, api.CodeBadRequest, none),
		c("while unsealed", api.OpOperatorRestore, "", validBodies[api.OpOperatorRestore], http.StatusConflict, api.CodeConflict, none),
		c("unknown fields are ignored, not a way past a refusal", api.OpSecretGet, sweepNobody, `{"path":"ok/path","admin":true,"x":{"y":[1,2]}}`, den, api.CodeUnauthorized, []string{"access.denied"}),
		c("auditor writing", api.OpSecretPut, sweepAuditor, validBodies[api.OpSecretPut], den, api.CodeUnauthorized, []string{"access.denied"}),
		c("auditor changing policy", api.OpPolicyPut, sweepAuditor, validBodies[api.OpPolicyPut], den, api.CodeUnauthorized, []string{"access.denied"}),
		c("id in capitals", api.OpClusterAdd, "", `{"id":"N2","raftAddress":"10.0.0.2:8300"}`, bad, api.CodeBadRequest, none),
		c("escape sequence in the address, no grant", api.OpClusterAdd, sweepNobody, `{"id":"n2","raftAddress":"a\u001b[2J:1"}`, bad, api.CodeBadRequest, none),
		c("port 0", api.OpClusterAdd, "", `{"id":"n2","raftAddress":"10.0.0.2:0"}`, bad, api.CodeBadRequest, none),
		c("no id", api.OpClusterRemove, "", `{}`, bad, api.CodeBadRequest, none),
		c("auditor listing members", api.OpClusterList, sweepAuditor, `{}`, den, api.CodeUnauthorized, []string{"access.denied"}),
		c("clustering off", api.OpClusterList, "", `{}`, http.StatusConflict, api.CodeConflict, none),
		c("clustering off", api.OpClusterAdd, "", validBodies[api.OpClusterAdd], http.StatusConflict, api.CodeConflict, none),
		c("clustering off", api.OpClusterRemove, "", validBodies[api.OpClusterRemove], http.StatusConflict, api.CodeConflict, none),
	}
}

// sweeper makes the requests: one mTLS client per caller.
type sweeper struct {
	t       *testing.T
	c       *keeperSet
	n       *nexusProc
	clients map[string]*http.Client
}

func (s *sweeper) client(who string) *http.Client {
	if hc, ok := s.clients[who]; ok {
		return hc
	}
	src := s.c.Source(who)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: tlsconfig.MTLSClientConfig(src, src, identity.AuthorizeRoles(s.c.Roles.IsNexus))}}
	s.t.Cleanup(hc.CloseIdleConnections)
	s.clients[who] = hc
	return hc
}

// do sends one case and returns the status, the error code and the body.
func (s *sweeper) do(tc sweepCase) (int, api.ErrorCode, []byte, error) {
	who, method, tgt, ct := tc.who, tc.method, tc.target, tc.contentType
	if who == "" {
		who = admittedCaller(tc.op)
	}
	if method == "" {
		method = http.MethodPost
	}
	if tgt == "" {
		tgt = target(tc.op)
	}
	if ct == "" {
		ct = api.ContentTypeJSON
	}
	req, err := http.NewRequest(method, s.n.api+tgt, strings.NewReader(tc.body))
	if err != nil {
		return 0, "", nil, err
	}
	req.Header.Set("Content-Type", ct)
	resp, err := s.client(who).Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, "", nil, err
	}
	var eb api.ErrorResponse
	json.Unmarshal(b, &eb)
	return resp.StatusCode, eb.Err, b, nil
}

// eventsAfter returns the types of the events after seq, and the last
// seq; the auditor's audit queries are not events themselves.
func (s *sweeper) eventsAfter(seq uint64) ([]string, uint64) {
	s.t.Helper()
	var types []string
	for {
		var resp api.AuditListResponse
		if err := s.call(sweepAuditor, api.OpAuditList, api.AuditListRequest{Page: api.Page{After: seq, Limit: api.MaxPageSize}}, &resp); err != nil {
			s.t.Fatalf("audit list: %v", err)
		}
		for _, e := range resp.Events {
			types, seq = append(types, e.Type), e.Seq
		}
		if resp.Next == 0 || len(resp.Events) == 0 {
			return types, seq
		}
	}
}

// call makes one well-formed call that must succeed.
func (s *sweeper) call(who string, op api.Op, req, resp any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	st, code, body, err := s.do(sweepCase{op: op, who: who, body: string(b)})
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return fmt.Errorf("%s: %d %s", op, st, code)
	}
	return json.Unmarshal(body, resp)
}

// settled waits until Nexus has recorded the shards' distribution after
// the bootstrap, the last event it writes of its own accord here, and
// returns the log's head.
func (s *sweeper) settled() uint64 {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		types, head := s.eventsAfter(0)
		if slices.Contains(types, "shards.distributed") {
			return head
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("no shards.distributed event after 20 s; events %q", types)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sweepState is what the sweep must leave as it was: every path, the
// stored secret's metadata and settings, and the policies.
type sweepState struct {
	Paths    api.SecretListResponse
	Meta     api.SecretMetadataGetResponse
	Settings api.SecretSettingsGetResponse
	Policies api.PolicyListResponse
}

func (s *sweeper) state() sweepState {
	s.t.Helper()
	var st sweepState
	for _, q := range []struct {
		op       api.Op
		req, out any
	}{
		{api.OpSecretList, api.SecretListRequest{}, &st.Paths},
		{api.OpSecretMetadataGet, api.SecretMetadataGetRequest{Path: sweepPath, IncludeDeleted: true}, &st.Meta},
		{api.OpSecretSettingsGet, api.SecretSettingsGetRequest{Path: sweepPath}, &st.Settings},
		{api.OpPolicyList, api.PolicyListRequest{}, &st.Policies},
	} {
		if err := s.call(superuser, q.op, q.req, q.out); err != nil {
			s.t.Fatalf("state: %v", err)
		}
	}
	return st
}

// TestHostileSweep sends every Nexus route, as the router registers it,
// hostile requests: wrong methods, paths and actions, bodies that do not
// decode or exceed the route's limit, fields that break their rules, and
// callers without the grant or role. Each must get its documented status
// and code, and the log must grow by exactly the refusal events
// docs/auditor.md names for it (access.denied, request.refused, the
// cipher's and the get's own) and nothing else; secrets and policies are
// as they were. Handshake refusals (TestHostileHandshakes) record nothing.
func TestHostileSweep(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	s := &sweeper{t: t, c: c, n: n, clients: map[string]*http.Client{}}
	if err := s.call(superuser, api.OpSecretPut, api.SecretPutRequest{Path: sweepPath, Values: map[string]string{"k": "v"}}, new(api.SecretPutResponse)); err != nil {
		t.Fatal(err)
	}
	if err := s.call(superuser, api.OpPolicyPut, api.PolicyPutRequest{Name: sweepPolicy, SPIFFEIDPattern: "^spiffe://spike.test/app$", PathPattern: "^ok/.*$",
		Permissions: []api.Permission{api.PermRead}}, new(api.PolicyPutResponse)); err != nil {
		t.Fatal(err)
	}

	ops := sweptOps(t, c.Roles)
	var cases []sweepCase
	for _, op := range ops {
		if _, ok := validBodies[op]; !ok {
			t.Errorf("route %s has no sweep cases: add a well-formed body to validBodies and its own cases to fieldCases", op)
			continue
		}
		cases = append(cases, genericCases(op)...)
		cases = append(cases, refusedCallers(op)...)
	}
	cases = append(cases, fieldCases()...)

	head := s.settled()
	before := s.state()
	statuses := map[int]int{}
	for _, tc := range cases {
		st, code, _, err := s.do(tc)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		statuses[st]++
		if st != tc.status || (tc.code != "" && code != tc.code) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, st, code, tc.status, tc.code)
		}
		var got []string
		got, head = s.eventsAfter(head)
		if !slices.Equal(got, tc.events) {
			t.Errorf("%s: recorded %q, want %q", tc.name, got, tc.events)
		}
	}
	if after := s.state(); !reflect.DeepEqual(before, after) {
		t.Errorf("state changed:\nbefore %+v\nafter  %+v", before, after)
	}
	var got api.SecretGetResponse
	if err := s.call(superuser, api.OpSecretGet, api.SecretGetRequest{Path: sweepPath}, &got); err != nil || got.Data["k"] != "v" {
		t.Errorf("the secret reads %v, %v; want k=v", got.Data, err)
	}
	t.Logf("%d routes, %d cases; statuses %v", len(ops), len(cases), statuses)
}

// TestHostileHandshakes: certificates Nexus must not accept — expired,
// of another trust domain, of its own trust domain from another CA, none
// at all — are refused at the handshake, and nothing is recorded.
func TestHostileHandshakes(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3)
	n := c.startNexus(2)
	c.bootstrap(n, 2)
	waitReady(t, n, true)
	s := &sweeper{t: t, c: c, n: n, clients: map[string]*http.Client{}}
	head := s.settled()

	superID := spiffeid.RequireFromPath(c.CA.TrustDomain(), superuser)
	expired, err := c.CA.Issue(superID, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // past its NotAfter
	otherTD, err := identity.NewDevCA(spiffeid.RequireTrustDomainFromString("evil.test"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := otherTD.Issue(spiffeid.RequireFromPath(otherTD.TrustDomain(), superuser), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA, err := identity.NewDevCA(c.CA.TrustDomain(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := otherCA.Issue(superID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// The server is verified with the real bundle: only the client's
	// certificate is hostile.
	bundle := c.CA.Bundle()
	for _, tc := range []struct {
		name string
		svid *x509svid.SVID
	}{
		{"expired certificate", expired},
		{"another trust domain", foreign},
		{"own trust domain, another CA", impostor},
		{"no certificate", nil},
	} {
		conf := tlsconfig.TLSClientConfig(bundle, identity.AuthorizeRoles(c.Roles.IsNexus))
		if tc.svid != nil {
			conf = tlsconfig.MTLSClientConfig(identity.NewStaticSource(tc.svid, bundle), bundle, identity.AuthorizeRoles(c.Roles.IsNexus))
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
		resp, err := hc.Post(n.api+target(api.OpSecretGet), api.ContentTypeJSON, strings.NewReader(validBodies[api.OpSecretGet]))
		hc.CloseIdleConnections()
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: answered %d, want the handshake refused", tc.name, resp.StatusCode)
			continue
		}
		if !strings.Contains(err.Error(), "tls: ") {
			t.Errorf("%s: %v, want a TLS alert", tc.name, err)
		}
	}
	if got, _ := s.eventsAfter(head); len(got) != 0 {
		t.Errorf("refused handshakes recorded %q", got)
	}
	// The client side of the harness works: a good certificate is served.
	var meta api.SecretListResponse
	if err := s.call(superuser, api.OpSecretList, api.SecretListRequest{}, &meta); err != nil {
		t.Fatalf("good certificate: %v", err)
	}
}
