package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMixes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []mix
		err  string
	}{
		{in: "get", want: []mix{{"get", 100}}},
		{in: "get,put", want: []mix{{"get", 100}, {"put", 0}}},
		{in: " get , mixed ", want: []mix{{"get", 100}, {"90/10", 90}}},
		{in: "70/30,0/100", want: []mix{{"70/30", 70}, {"0/100", 0}}},
		{in: "", err: "empty"},
		{in: "delete", err: "want get, put, mixed"},
		{in: "70/20", err: "G+P = 100"},
		{in: "-10/110", err: "G+P = 100"},
		{in: "a/b", err: "G+P = 100"},
		{in: "90/", err: "G+P = 100"},
	} {
		got, err := parseMixes(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseMixes(%q) = %v, %v; want %v, error with %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseCallers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []int
		err  string
	}{
		{in: "1,8,32,64", want: []int{1, 8, 32, 64}},
		{in: "16", want: []int{16}},
		{in: "1024", want: []int{1024}},
		{in: "1025", err: "from 1 to 1024"},
		{in: "0", err: "from 1 to 1024"},
		{in: "1,x", err: "from 1 to 1024"},
		{in: ",", err: "empty"},
	} {
		got, err := parseCallers(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseCallers(%q) = %v, %v; want %v, error with %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseClients(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []string
		err  string
	}{
		{in: "ours,sdk,sdk-new", want: []string{"ours", "sdk", "sdk-new"}},
		{in: "sdk-new", want: []string{"sdk-new"}},
		{in: "ours,ours", err: "twice"},
		{in: "vault", err: "want ours, sdk or sdk-new"},
		{in: "", err: "empty"},
	} {
		got, err := parseClients(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseClients(%q) = %v, %v; want %v, error with %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want targetSpec
		err  string
	}{
		{in: "dev", want: targetSpec{name: "dev"}},
		{in: "name=mine", want: targetSpec{name: "mine"}},
		{in: "name=spike,url=https://127.0.0.1:18553,pid=42,svid-dir=/s/su",
			want: targetSpec{name: "spike", url: "https://127.0.0.1:18553", pids: []int{42}, svidDir: "/s/su"}},
		{in: "name=cluster,url=https://h:1,pid=42+43+44,svid-dir=/s/su",
			want: targetSpec{name: "cluster", url: "https://h:1", pids: []int{42, 43, 44}, svidDir: "/s/su"}},
		{in: "name=x,url=https://h:1,svid-dir=/a,pid=42+42", err: "42 twice"},
		{in: "name=x,url=https://h:1,svid-dir=/a,pid=42+", err: "want a process id"},
		{in: "name=x,url=https://h:1,svid-dir=/a,pid=+42", err: "want a process id"},
		{in: "url=https://h:1/,svid-dir=/a,load-svid-dir=/b,name=x",
			want: targetSpec{name: "x", url: "https://h:1", svidDir: "/a", loadDir: "/b"}},
		{in: "url=https://h:1,svid-dir=/a", err: "want a name="},
		{in: "name=a b", err: "without spaces"},
		{in: "name=x,url=http://h:1,svid-dir=/a", err: "want https://host:port"},
		{in: "name=x,url=https://h:1/v1,svid-dir=/a", err: "want https://host:port"},
		{in: "name=x,url=https://h:1", err: "needs svid-dir"},
		{in: "name=x,pid=3", err: "need a url"},
		{in: "name=x,url=https://h:1,svid-dir=/a,pid=0", err: "want a process id"},
		{in: "name=x,url=https://h:1,svid-dir=/a,pid=p", err: "want a process id"},
		{in: "name=x,name=y", err: "name twice"},
		{in: "name=x,port=1", err: "unknown key"},
		{in: "name", err: "not key=value"},
		{in: "name=", err: "not key=value"},
	} {
		got, err := parseTarget(tc.in)
		if !errMatches(err, tc.err) || (tc.err == "" && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("parseTarget(%q) = %+v, %v; want %+v, error with %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseOptions(t *testing.T) {
	t.Parallel()
	dev := targetList{{name: "dev"}}
	for _, tc := range []struct {
		name string
		args []string
		want func(*options) // the fields that differ from the defaults
		err  string
	}{
		{name: "defaults are make bench's matrix", args: nil, want: func(*options) {}},
		{name: "lists", args: []string{"-mix", "mixed", "-c", "8", "-clients", "sdk-new", "-d", "1s", "-format", "md"},
			want: func(o *options) {
				o.mixes, o.callers, o.clients, o.duration, o.format = []mix{{"90/10", 90}}, []int{8}, []string{"sdk-new"}, time.Second, "md"
			}},
		{name: "-op is a one-entry -mix", args: []string{"-op", "put"}, want: func(o *options) { o.mixes = []mix{{"put", 0}} }},
		{name: "targets side by side with a reference",
			args: []string{"-target", "dev", "-target", "name=s,url=https://h:1,svid-dir=/d,pid=7", "-ref", "s", "-versions", "20", "-policies", "100"},
			want: func(o *options) {
				o.targets = targetList{{name: "dev"}, {name: "s", url: "https://h:1", svidDir: "/d", pids: []int{7}}}
				o.ref, o.versions, o.policies = "s", 20, 100
			}},
		{name: "old -nexus spelling", args: []string{"-nexus", "https://h:2", "-svid-dir", "/su", "-server-pid", "9"},
			want: func(o *options) {
				o.targets = targetList{{name: "nexus", url: "https://h:2", svidDir: "/su", pids: []int{9}}}
			}},
		{name: "-nexus without -svid-dir", args: []string{"-nexus", "https://h:2"}, err: "needs svid-dir"},
		{name: "-svid-dir alone", args: []string{"-svid-dir", "/su"}, err: "go with -nexus"},
		{name: "-op delete", args: []string{"-op", "delete"}, err: "want get or put"},
		{name: "same target twice", args: []string{"-target", "dev", "-target", "dev"}, err: "twice"},
		{name: "unknown -ref", args: []string{"-ref", "spike"}, err: "no -target of that name"},
		{name: "zero duration", args: []string{"-d", "0s"}, err: "-d must be positive"},
		{name: "zero paths", args: []string{"-paths", "0"}, err: "must be positive"},
		{name: "too many paths", args: []string{"-paths", "1000001"}, err: "at most"},
		{name: "negative policies", args: []string{"-policies", "-1"}, err: "0 or more"},
		{name: "bad format", args: []string{"-format", "csv"}, err: "want text or md"},
		{name: "stray argument", args: []string{"get"}, err: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseOptions(tc.args, io.Discard)
			if !errMatches(err, tc.err) {
				t.Fatalf("error %v, want one with %q", err, tc.err)
			}
			if tc.err != "" {
				return
			}
			want := options{targets: dev, mixes: []mix{{"get", 100}, {"put", 0}}, callers: []int{1, 8, 32, 64},
				clients: []string{"ours", "sdk"}, duration: 5 * time.Second, paths: 1000, versions: 1, valueSize: 100, format: "text"}
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

// errMatches reports whether err is nil when want is "" and otherwise
// contains want.
func errMatches(err error, want string) bool {
	if want == "" {
		return err == nil
	}
	return err != nil && strings.Contains(err.Error(), want)
}
