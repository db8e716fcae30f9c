package pilot

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePolicySpec(t *testing.T) {
	t.Parallel()
	want := policySpec{Name: "web", SPIFFEIDPattern: `^spiffe://example\.org/web/.*$`, PathPattern: "^secrets/web/db$", Permissions: []string{"read", "write"}}
	for _, tc := range []struct {
		name string
		in   string
		err  string // substring; "" for success
	}{
		{name: "SPIKE's example, unquoted", in: "name: web\nspiffeidPattern: ^spiffe://example\\.org/web/.*$\npathPattern: ^secrets/web/db$\npermissions:\n  - read\n  - write\n"},
		{name: "single quotes and comments", in: "# policy\n---\nname: 'web'   # the name\nspiffeidPattern: '^spiffe://example\\.org/web/.*$'\npathPattern: \"^secrets/web/db$\"\npermissions: [read, 'write']\n"},
		{name: "list at column 0", in: "name: web\nspiffeidPattern: ^spiffe://example\\.org/web/.*$\npathPattern: ^secrets/web/db$\npermissions:\n- read\n- write\n"},
		{name: "double quotes with escaped backslash", in: "name: \"web\"\nspiffeidPattern: \"^spiffe://example\\\\.org/web/.*$\"\npathPattern: ^secrets/web/db$\npermissions: [read, write]\n"},
		{name: "JSON", in: `{"name":"web","spiffeidPattern":"^spiffe://example\\.org/web/.*$","pathPattern":"^secrets/web/db$","permissions":["read","write"]}`},
		{name: "SPIKE's broken example: \\. in double quotes", in: "name: web\nspiffeidPattern: \"^spiffe://example\\.org/web/.*$\"\npathPattern: x\npermissions: [read]\n", err: "bad double-quoted value"},
		{name: "missing key", in: "name: web\npathPattern: x\npermissions: [read]\n", err: "spiffeidPattern is missing"},
		{name: "no permissions", in: "name: web\nspiffeidPattern: x\npathPattern: x\npermissions: []\n", err: "permissions are missing"},
		{name: "unknown key", in: "name: web\nspifeidPattern: x\n", err: `unknown key "spifeidPattern"`},
		{name: "duplicate key", in: "name: a\nname: b\n", err: "name is given twice"},
		{name: "indented key", in: "name: a\n  pathPattern: x\n", err: "unexpected indentation"},
		{name: "not key value", in: "just words\n", err: "want key: value"},
		{name: "JSON unknown field", in: `{"name":"web","extra":1}`, err: "unknown field"},
		{name: "unquoted flow value", in: "name: [x]\n", err: "quote it"},
	} {
		got, err := parsePolicySpec([]byte(tc.in))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want it to mention %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case got.Name != want.Name || got.SPIFFEIDPattern != want.SPIFFEIDPattern || got.PathPattern != want.PathPattern || !slices.Equal(got.Permissions, want.Permissions):
			t.Errorf("%s: %+v, want %+v", tc.name, got, want)
		}
	}
}

func FuzzParsePolicySpec(f *testing.F) {
	f.Add([]byte("name: web\nspiffeidPattern: '^a$'\npathPattern: x # c\npermissions:\n  - read\n"))
	f.Add([]byte(`{"name":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parsePolicySpec(b)
		if err == nil && (s.Name == "" || s.SPIFFEIDPattern == "" || s.PathPattern == "" || len(s.Permissions) == 0) {
			t.Fatalf("accepted an incomplete policy: %+v", s)
		}
	})
}

// The documents policy get prints parse back, read-only fields and all.
func TestParsePolicySpecReadOnlyFields(t *testing.T) {
	t.Parallel()
	doc := policyDoc{Name: "web", SPIFFEIDPattern: `^spiffe://example\.org/web/"x"$`, PathPattern: "^secrets/web/db$", Permissions: []string{"read", "write"},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 7, time.UTC)}
	for _, f := range []format{formatYAML, formatJSON} {
		b, err := render(f, doc, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parsePolicySpec(b)
		if err != nil || got.Name != doc.Name || got.SPIFFEIDPattern != doc.SPIFFEIDPattern || got.PathPattern != doc.PathPattern || !slices.Equal(got.Permissions, doc.Permissions) {
			t.Errorf("%s: %+v, %v\n%s", f, got, err, b)
		}
	}
	for _, tc := range []struct{ in, err string }{
		{"name: web\nid: \"\"\ncreatedBy: spiffe://a/b\nspiffeidPattern: x\npathPattern: x\npermissions: [read]\n", ""},
		{`{"id":"","name":"web","spiffiedPattern":"x","pathPattern":"x","permissions":["read"],"createdAt":"2026-01-02T03:04:05Z","createdBy":null}`, ""},
		{`{"name":"web","spiffeidPattern":"x","spiffiedPattern":"y","pathPattern":"x","permissions":["read"]}`, "differ"},
		{"name: web\ncreatedAt: 1\ncreatedAt: 2\n", "createdAt is given twice"},
		{"name: web\ncreated: 1\n", `unknown key "created"`},
	} {
		_, err := parsePolicySpec([]byte(tc.in))
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.err)
		}
	}
}
