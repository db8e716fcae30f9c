package api

import (
	"strings"
	"testing"
)

// spikeRoutes is SPIKE v0.8's routing table, written out from the
// reference (§3.1 and §4) rather than derived from the code under test.
var spikeRoutes = []struct {
	path, action string
	op           Op
	service      Service
}{
	{"/v1/store/secrets", "", OpSecretPut, ServiceNexus},
	{"/v1/store/secrets", "get", OpSecretGet, ServiceNexus},
	{"/v1/store/secrets", "delete", OpSecretDelete, ServiceNexus},
	{"/v1/store/secrets", "undelete", OpSecretUndelete, ServiceNexus},
	{"/v1/store/secrets", "list", OpSecretList, ServiceNexus},
	{"/v1/store/secrets/metadata", "get", OpSecretMetadataGet, ServiceNexus},
	{"/v1/acl/policy", "", OpPolicyPut, ServiceNexus},
	{"/v1/acl/policy", "get", OpPolicyGet, ServiceNexus},
	{"/v1/acl/policy", "delete", OpPolicyDelete, ServiceNexus},
	{"/v1/acl/policy", "list", OpPolicyList, ServiceNexus},
	{"/v1/cipher/encrypt", "", OpCipherEncrypt, ServiceNexus},
	{"/v1/cipher/decrypt", "", OpCipherDecrypt, ServiceNexus},
	{"/v1/bootstrap/verify", "", OpBootstrapVerify, ServiceNexus},
	{"/v1/operator/recover", "", OpOperatorRecover, ServiceNexus},
	{"/v1/operator/restore", "", OpOperatorRestore, ServiceNexus},
	{"/v1/store/contribute", "", OpShardContribute, ServiceKeeper},
	{"/v1/store/shard", "", OpShardGet, ServiceKeeper},
}

func TestRouteSPIKE(t *testing.T) {
	t.Parallel()
	for _, tc := range spikeRoutes {
		t.Run(tc.path+"?"+tc.action, func(t *testing.T) {
			t.Parallel()
			op, ok := Route(tc.path, tc.action)
			if !ok || op != tc.op {
				t.Fatalf("Route(%q, %q) = %v, %v; want %v", tc.path, tc.action, op, ok, tc.op)
			}
			if op.Extension() {
				t.Errorf("%v is marked as an extension", op)
			}
			if op.Service() != tc.service {
				t.Errorf("%v service = %v, want %v", op, op.Service(), tc.service)
			}
		})
	}
	var nexus, keeper int
	for _, op := range Ops() {
		if op.Extension() {
			continue
		}
		switch op.Service() {
		case ServiceNexus:
			nexus++
		case ServiceKeeper:
			keeper++
		}
	}
	if nexus != 15 || keeper != 2 {
		t.Errorf("non-extension ops: %d nexus, %d keeper; SPIKE v0.8 has 15 and 2", nexus, keeper)
	}
}

func TestRouteTableComplete(t *testing.T) {
	t.Parallel()
	seen := map[string]Op{}
	names := map[string]Op{}
	for _, op := range Ops() {
		key := op.Path() + "?" + string(op.Action())
		if prev, dup := seen[key]; dup {
			t.Errorf("%v and %v share %s", prev, op, key)
		}
		seen[key] = op
		if prev, dup := names[op.String()]; dup || op.String() == "unknown" {
			t.Errorf("%v and %v share the name %q", prev, op, op.String())
		}
		names[op.String()] = op
		if got, ok := Route(op.Path(), string(op.Action())); !ok || got != op {
			t.Errorf("Route(%v's path and action) = %v, %v", op, got, ok)
		}
		if !strings.HasPrefix(op.Path(), "/v1/") || strings.HasSuffix(op.Path(), "/") {
			t.Errorf("%v: odd path %q", op, op.Path())
		}
		if op.BodyLimit() <= 0 {
			t.Errorf("%v: no body limit", op)
		}
		if op.Service() != ServiceNexus && op.Service() != ServiceKeeper {
			t.Errorf("%v: no service", op)
		}
		switch op.Action() {
		case ActionDefault, ActionGet, ActionDelete, ActionUndelete, ActionList:
		default:
			t.Errorf("%v: action %q is not one of SPIKE's", op, op.Action())
		}
		// Extensions never take a (path, action) SPIKE serves, and SPIKE's
		// ops are exactly spikeRoutes.
		inSPIKE := false
		for _, r := range spikeRoutes {
			if r.path == op.Path() && r.action == string(op.Action()) {
				inSPIKE = true
			}
		}
		if inSPIKE == op.Extension() {
			t.Errorf("%v: extension=%v but in SPIKE's table=%v", op, op.Extension(), inSPIKE)
		}
	}
	if len(Ops()) != int(opEnd)-1 {
		t.Errorf("Ops() has %d ops, want %d", len(Ops()), int(opEnd)-1)
	}
}

func TestRouteUnknown(t *testing.T) {
	t.Parallel()
	cases := []struct{ path, action string }{
		{"/v1/store/secrets", "check"},             // defined by the SDK, unrouted
		{"/v1/store/secrets", "read"},              // likewise
		{"/v1/store/secrets", "GET"},               // no case folding
		{"/v1/store/secrets/", ""},                 // no trailing-slash normalisation
		{"/v1/store/secrets/metadata", ""},         // metadata has only get
		{"/v1/store/secrets/metadata", "list"},     //
		{"/v1/acl/policy", "undelete"},             //
		{"/v1/cipher/encrypt", "get"},              //
		{"/v1/auth/initialization", "check"},       // SDK's NexusInit: not served
		{"/v1/store/keep", ""},                     // SDK's KeeperKeep: not served
		{"/V1/store/secrets", ""},                  //
		{"v1/store/secrets", ""},                   //
		{"/v1/store//secrets", ""},                 //
		{"/v1/store/secrets?action=get", ""},       // the query is not part of the path
		{"", ""},                                   //
		{"/", ""},                                  //
		{"/v1/operator/restore-points", "get"},     //
		{"/v1/store/secrets/destroy", "undelete"},  //
		{"/v1/store/secrets/settings", "list"},     //
		{"/v1/store/secrets/history", ""},          //
		{"/v1/audit/events", ""},                   //
		{"/v1/store/secrets/metadata/ext", "get"},  //
		{"/v1/store/secrets\x00", ""},              //
		{"/v1/store/secrets", "get\x00"},           //
		{"/v1/store/secrets", " get"},              //
		{"/v1/store/shard", "get"},                 //
		{"/v1/store/contribute", "list"},           //
		{"/v1/bootstrap/verify", "delete"},         //
		{"/v1/operator/recover", "list"},           //
		{"/v1/operator/restore", "undelete"},       //
		{"/v1/store/secrets/metadata", "undelete"}, //
	}
	for _, tc := range cases {
		if op, ok := Route(tc.path, tc.action); ok || op != OpUnknown {
			t.Errorf("Route(%q, %q) = %v, %v; want no route", tc.path, tc.action, op, ok)
		}
	}
}

func TestOpURL(t *testing.T) {
	t.Parallel()
	cases := map[Op]string{
		OpSecretPut:         "/v1/store/secrets",
		OpSecretGet:         "/v1/store/secrets?action=get",
		OpSecretMetadataGet: "/v1/store/secrets/metadata?action=get",
		OpPolicyList:        "/v1/acl/policy?action=list",
		OpShardGet:          "/v1/store/shard",
		OpRestorePointList:  "/v1/operator/restore-points?action=list",
		OpRestorePlan:       "/v1/operator/restore-points/plan?action=get",
	}
	for op, want := range cases {
		if got := op.URL(); got != want {
			t.Errorf("%v.URL() = %q, want %q", op, got, want)
		}
	}
	if OpUnknown.String() != "unknown" || Op(200).String() != "unknown" || Op(200).Path() != "" {
		t.Error("unknown ops must describe themselves as unknown")
	}
	if Method != "POST" || QueryAction != "action" {
		t.Error("method or query parameter changed")
	}
}
