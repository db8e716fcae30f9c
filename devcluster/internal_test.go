package devcluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/spikeledger/spike/internal/identity"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name               string
		o                  Options
		nexus, ops, td     string
		keepers, threshold int
	}{
		{"defaults", Options{}, DefaultNexusAddr, DefaultOpsAddr, identity.DefaultTrustRoot, 3, 2},
		{"ops off", Options{OpsAddr: OpsOff}, DefaultNexusAddr, "", identity.DefaultTrustRoot, 3, 2},
		{"ops off, spike-nexus spelling", Options{OpsAddr: "off"}, DefaultNexusAddr, "", identity.DefaultTrustRoot, 3, 2},
		{"bare port is loopback", Options{NexusAddr: "18553", OpsAddr: "19553"}, "127.0.0.1:18553", "127.0.0.1:19553", identity.DefaultTrustRoot, 3, 2},
		{"every interface", Options{NexusAddr: ":8553"}, ":8553", DefaultOpsAddr, identity.DefaultTrustRoot, 3, 2},
		{"one keeper", Options{Keepers: 1}, DefaultNexusAddr, DefaultOpsAddr, identity.DefaultTrustRoot, 1, 1},
		{"five keepers", Options{Keepers: 5, TrustDomain: "example.org"}, DefaultNexusAddr, DefaultOpsAddr, "example.org", 5, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := tc.o.settings()
			if err != nil {
				t.Fatal(err)
			}
			if s.nexusAddr != tc.nexus || s.opsAddr != tc.ops || s.td.Name() != tc.td || s.keepers != tc.keepers || s.threshold != tc.threshold || s.logger == nil {
				t.Fatalf("got %+v", s)
			}
		})
	}
}

func TestDialable(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:8553": "127.0.0.1:8553",
		"0.0.0.0:8553":   "127.0.0.1:8553",
		"[::]:8553":      "127.0.0.1:8553",
		"[::1]:8553":     "[::1]:8553",
		"host:1":         "host:1",
	} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/tmp/spike-dev-1/svid/demo": "/tmp/spike-dev-1/svid/demo",
		"https://127.0.0.1:8553":     "https://127.0.0.1:8553",
		"/home/me/my data":           "'/home/me/my data'",
		"/tmp/it's":                  `'/tmp/it'\''s'`,
		"/tmp/$HOME;rm":              "'/tmp/$HOME;rm'",
		"":                           "''",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

// The banner gives the two lines a second shell pastes, and every SVID
// directory Start wrote, so that each role can be used.
func TestBanner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		td        string
		dataDir   string
		temp      bool
		want, not []string
	}{
		{"temporary, default trust domain", identity.DefaultTrustRoot, "/tmp/spike-dev-1", true,
			[]string{
				"NOT FOR PRODUCTION",
				"export SPIKE_NEXUS_URL=https://127.0.0.1:8553 SPIKE_SVID_DIR=/tmp/spike-dev-1/svid/superuser ",
				"\n  SPIKE_SVID_DIR=/tmp/spike-dev-1/svid/demo spike-demo ",
				"/tmp/spike-dev-1/recover",
				"removed on exit",
				"Press Ctrl-C to stop.",
				"SVID directories, one per identity (SPIKE_SVID_DIR or --svid-dir picks one):\n",
				"\n  superuser  /tmp/spike-dev-1/svid/superuser  spiffe://spike.ist/spike/pilot/role/superuser\n",
				"\n  auditor    /tmp/spike-dev-1/svid/auditor  spiffe://spike.ist/spike/pilot/role/auditor\n",
				"\n  demo       /tmp/spike-dev-1/svid/demo  spiffe://spike.ist/workload/demo\n",
				"\n  admin      /tmp/spike-dev-1/svid/admin  spiffe://spike.ist/spike/pilot/role/admin\n",
				"\n  operator   /tmp/spike-dev-1/svid/operator  spiffe://spike.ist/spike/pilot/role/operator\n",
				"\n  recover    /tmp/spike-dev-1/svid/recover  spiffe://spike.ist/spike/pilot/role/recover\n",
				"\n  restore    /tmp/spike-dev-1/svid/restore  spiffe://spike.ist/spike/pilot/role/restore\n",
			},
			[]string{"SPIKE_TRUST_ROOT"}},
		{"kept, other trust domain, a space in the path", "example.org", "/home/me/spike dev", false,
			[]string{
				"SPIKE_TRUST_ROOT=example.org SPIKE_SVID_DIR='/home/me/spike dev/svid/superuser'",
				"SPIKE_SVID_DIR='/home/me/spike dev/svid/demo' spike-demo",
				"\n  recover    '/home/me/spike dev/svid/recover'  spiffe://example.org/spike/pilot/role/recover\n",
			},
			[]string{"removed on exit"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Cluster{s: settings{dataDir: tc.dataDir, td: spiffeid.RequireTrustDomainFromString(tc.td)},
				temp: tc.temp, nexusURL: "https://127.0.0.1:8553"}
			b := c.banner()
			for _, w := range tc.want {
				if !strings.Contains(b, w) {
					t.Errorf("banner lacks %q:\n%s", w, b)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(b, n) {
					t.Errorf("banner holds %q:\n%s", n, b)
				}
			}
		})
	}
}

func TestRenewReissuesFilesAndSources(t *testing.T) {
	t.Parallel()
	is, err := newIssuer(spiffeid.RequireTrustDomainFromString("example.org"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "svid", "demo")
	if err := is.writeDir("/workload/demo", dir); err != nil {
		t.Fatal(err)
	}
	src, err := is.source(identity.PathNexus)
	if err != nil {
		t.Fatal(err)
	}
	files := identity.FilesIn(dir)
	before, _ := os.ReadFile(files.Cert)
	svidBefore, _ := src.GetX509SVID()

	if err := is.renew(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(files.Cert)
	if bytes.Equal(before, after) {
		t.Error("renew left the certificate file as it was")
	}
	svid, bundle, err := identity.LoadSVIDFiles(files)
	if err != nil {
		t.Fatalf("renewed files: %v", err)
	}
	if svid.ID.String() != "spiffe://example.org/workload/demo" || bundle.TrustDomain().Name() != "example.org" {
		t.Errorf("renewed files hold %s from %s", svid.ID, bundle.TrustDomain())
	}
	for _, f := range []string{files.Cert, files.Key, files.Bundle} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s after renew: %v %v", f, fi.Mode(), err)
		}
	}
	svidAfter, _ := src.GetX509SVID()
	if svidAfter.Certificates[0].Equal(svidBefore.Certificates[0]) || svidAfter.ID != svidBefore.ID {
		t.Error("renew did not give the source a new SVID of the same identity")
	}

	if err := is.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.GetX509SVID(); err == nil {
		t.Error("source still serves after close")
	}
	if err := is.writeDir("/workload/late", t.TempDir()); err == nil {
		t.Error("writeDir after close succeeded")
	}
}

func TestWriteDirRejectsBadPaths(t *testing.T) {
	t.Parallel()
	is, err := newIssuer(spiffeid.RequireTrustDomainFromString("example.org"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", "workload/x", "/workload/../x", "/workload/x/"} {
		if err := is.writeDir(p, t.TempDir()); err == nil {
			t.Errorf("writeDir(%q) succeeded", p)
		}
	}
}

func TestJoinErrors(t *testing.T) {
	t.Parallel()
	a, b := errors.New("a"), errors.New("b")
	for _, tc := range []struct {
		in   []error
		want string
	}{
		{nil, ""},
		{[]error{nil, nil}, ""},
		{[]error{nil, a}, "a"},
		{[]error{a, nil, b}, "a; b"},
	} {
		err := joinErrors(tc.in...)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("joinErrors(%v) = %q, want %q", tc.in, got, tc.want)
		}
		for _, e := range tc.in {
			if e != nil && !errors.Is(err, e) {
				t.Errorf("joinErrors(%v) does not wrap %v", tc.in, e)
			}
		}
	}
}
