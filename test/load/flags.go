package main

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// mix is what each call of a cell does: a get with probability
// getPercent/100, a put otherwise.
type mix struct {
	name       string // as given: get, put, mixed or G/P
	getPercent int
}

// parseMixes reads -mix: a comma-separated list of get (audited reads
// only), put (durable writes only), mixed (90 % gets, 10 % puts) or G/P
// (G % gets and P % puts, G+P = 100).
func parseMixes(s string) ([]mix, error) {
	var out []mix
	for _, f := range splitList(s) {
		m := mix{name: f}
		switch f {
		case "get":
			m.getPercent = 100
		case "put":
			m.getPercent = 0
		case "mixed":
			m.name, m.getPercent = "90/10", 90
		default:
			g, p, ok := strings.Cut(f, "/")
			gi, err1 := strconv.Atoi(g)
			pi, err2 := strconv.Atoi(p)
			if !ok || err1 != nil || err2 != nil || gi < 0 || pi < 0 || gi+pi != 100 {
				return nil, fmt.Errorf("-mix %q: want get, put, mixed or G/P with G+P = 100", f)
			}
			m.getPercent = gi
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil, errors.New("-mix: empty")
	}
	return out, nil
}

// parseCallers reads -c: a comma-separated list of concurrencies, each
// from 1 to maxCallers.
func parseCallers(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > maxCallers {
			return nil, fmt.Errorf("-c %q: want whole numbers from 1 to %d", f, maxCallers)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("-c: empty")
	}
	return out, nil
}

// The clients a cell can drive a target with.
const (
	clientOurs   = "ours"    // spike's transport, one pooled client
	clientSDK    = "sdk"     // spike-sdk-go's types and status mapping, one keep-alive client per caller
	clientSDKNew = "sdk-new" // spike-sdk-go's API as it ships: a new mTLS connection per call
)

// parseClients reads -clients: a comma-separated list of ours, sdk and
// sdk-new, each at most once.
func parseClients(s string) ([]string, error) {
	var out []string
	for _, f := range splitList(s) {
		if f != clientOurs && f != clientSDK && f != clientSDKNew {
			return nil, fmt.Errorf("-clients %q: want ours, sdk or sdk-new", f)
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("-clients: %s twice", f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, errors.New("-clients: empty")
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// targetSpec is one -target: a Nexus to drive. With no URL it is a
// development cluster this program starts in a child process.
type targetSpec struct {
	name string
	url  string // https://host:port; "" for a development cluster
	// pids are the server processes whose CPU is summed for the target:
	// one Nexus, or every replica of a cluster; none: not measured.
	pids    []int
	svidDir string // the superuser's SVID files
	loadDir string // the load workload's SVID files (-policies); "" means svidDir/../load
}

// devTarget is the name that, alone, asks for a development cluster.
const devTarget = "dev"

// parseTarget reads one -target: "dev", or comma-separated key=value
// pairs name=, url=, pid=, svid-dir= and load-svid-dir=. A target with a
// url needs a svid-dir; one without is a development cluster. pid= may
// name several processes joined by + (P1+P2+P3), whose CPU is summed: a
// cluster's replicas, which all work for a call made to one of them.
func parseTarget(s string) (targetSpec, error) {
	s = strings.TrimSpace(s)
	if s == devTarget {
		return targetSpec{name: devTarget}, nil
	}
	var t targetSpec
	seen := map[string]bool{}
	for _, kv := range splitList(s) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return t, fmt.Errorf("-target %q: %q is not key=value", s, kv)
		}
		if seen[k] {
			return t, fmt.Errorf("-target %q: %s twice", s, k)
		}
		seen[k] = true
		switch k {
		case "name":
			t.name = v
		case "url":
			u, err := url.Parse(v)
			if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
				return t, fmt.Errorf("-target %q: url %q: want https://host:port", s, v)
			}
			t.url = "https://" + u.Host
		case "pid":
			pids, err := parsePIDs(v)
			if err != nil {
				return t, fmt.Errorf("-target %q: %w", s, err)
			}
			t.pids = pids
		case "svid-dir":
			t.svidDir = v
		case "load-svid-dir":
			t.loadDir = v
		default:
			return t, fmt.Errorf("-target %q: unknown key %q (want name, url, pid, svid-dir, load-svid-dir)", s, k)
		}
	}
	if t.name == "" || strings.ContainsAny(t.name, " \t|") {
		return t, fmt.Errorf("-target %q: want a name= without spaces or |", s)
	}
	if t.url == "" {
		if len(t.pids) > 0 || t.svidDir != "" || t.loadDir != "" {
			return t, fmt.Errorf("-target %q: pid and SVID directories need a url", s)
		}
		return t, nil
	}
	if t.svidDir == "" {
		return t, fmt.Errorf("-target %q: a url needs svid-dir (the superuser's SVID files)", s)
	}
	return t, nil
}

// parsePIDs reads a pid= value: process ids joined by +, each once.
func parsePIDs(v string) ([]int, error) {
	var pids []int
	for f := range strings.SplitSeq(v, "+") {
		pid, err := strconv.Atoi(f)
		if err != nil || pid < 1 {
			return nil, fmt.Errorf("pid %q: want a process id or several joined by +", v)
		}
		if slices.Contains(pids, pid) {
			return nil, fmt.Errorf("pid %q: %d twice", v, pid)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// targetList is the repeatable -target flag.
type targetList []targetSpec

func (l *targetList) String() string {
	names := make([]string, len(*l))
	for i, t := range *l {
		names[i] = t.name
	}
	return strings.Join(names, ",")
}

func (l *targetList) Set(s string) error {
	t, err := parseTarget(s)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(*l, func(o targetSpec) bool { return o.name == t.name }) {
		return fmt.Errorf("-target: name %q twice", t.name)
	}
	*l = append(*l, t)
	return nil
}
