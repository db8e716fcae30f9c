//go:build linux

package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spikeledger/spike/test/e2e/system"
)

// scrapeInterval is how often the test's Prometheus scrapes and
// evaluates its rules: often, so that a short load leaves enough samples
// for the dashboard's rates.
const scrapeInterval = "1s"

// promServer is a Prometheus server the test started, and its HTTP API.
type promServer struct {
	base string // http://127.0.0.1:PORT
	log  string
	c    http.Client
}

// scrapeJob is one scrape job of the test's configuration.
type scrapeJob struct {
	name    string
	targets []string // host:port of /metrics
}

// startPrometheus starts Debian's prometheus (tool) on addr with a data
// directory and a configuration of t's: the jobs, scraped and the rules
// evaluated every scrapeInterval, with the rule files loaded. It is
// stopped when t ends, and dies with the test process.
func startPrometheus(t *testing.T, addr string, jobs []scrapeJob, ruleFiles ...string) *promServer {
	t.Helper()
	bin := tool(t, "prometheus")
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n", scrapeInterval, scrapeInterval, scrapeInterval)
	cfg.WriteString("rule_files:\n")
	for _, f := range ruleFiles {
		fmt.Fprintf(&cfg, "  - %q\n", f)
	}
	cfg.WriteString("scrape_configs:\n")
	for _, j := range jobs {
		quoted := make([]string, len(j.targets))
		for i, tg := range j.targets {
			quoted[i] = fmt.Sprintf("%q", tg)
		}
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%s]\n", j.name, strings.Join(quoted, ", "))
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &promServer{base: "http://" + addr, log: filepath.Join(dir, "prometheus.log"), c: http.Client{Timeout: 10 * time.Second}}
	logf, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start prometheus: %v", err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s ---\n%s", p.log, system.Tail(p.log))
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	t.Logf("prometheus %s on %s, log %s", version(bin), addr, p.log)
	poll(t, "prometheus ready", func() (bool, string) {
		select {
		case <-done:
			t.Fatalf("prometheus exited at start:\n%s", system.Tail(p.log))
		default:
		}
		code, body := system.HTTPGet(p.base + "/-/ready")
		return code == http.StatusOK, fmt.Sprintf("%d %q", code, body)
	})
	return p
}

// version returns the first line of prometheus --version.
func version(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// apiResponse is the envelope of every Prometheus API answer.
type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

// get calls the API at path with the query parameters and decodes data into
// out. A status other than success is an error, with Prometheus's reason.
func (p *promServer) get(ctx context.Context, path string, form url.Values, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path+"?"+form.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := p.c.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var r apiResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: HTTP %d, not JSON: %.200q", path, resp.StatusCode, b)
	}
	if r.Status != "success" {
		return fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	if err := json.Unmarshal(r.Data, out); err != nil {
		return fmt.Errorf("%s: data: %w", path, err)
	}
	return nil
}

// sample is one series of an instant vector.
type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s sample) String() string {
	return fmt.Sprintf("%v %v", s.Metric, s.Value[1])
}

// query evaluates expr now and returns its series: one for a scalar, none
// for an empty vector. A parse or evaluation error is an error.
func (p *promServer) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var out []sample
		if err := json.Unmarshal(data.Result, &out); err != nil {
			return nil, fmt.Errorf("vector: %w", err)
		}
		return out, nil
	case "scalar", "string":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, fmt.Errorf("%s: %w", data.ResultType, err)
		}
		return []sample{{Value: v}}, nil
	}
	return nil, fmt.Errorf("result type %q", data.ResultType)
}

// rule is an alerting or recording rule as /api/v1/rules shows it.
type rule struct {
	Name        string            `json:"name"`
	Query       string            `json:"query"`
	Type        string            `json:"type"`
	Health      string            `json:"health"`
	LastError   string            `json:"lastError"`
	State       string            `json:"state"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// rules returns every loaded rule, group by group.
func (p *promServer) rules(ctx context.Context) ([]rule, error) {
	var data struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", url.Values{}, &data); err != nil {
		return nil, err
	}
	var out []rule
	for _, g := range data.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// scrapeTarget is one active target as /api/v1/targets shows it.
type scrapeTarget struct {
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"`
	LastError string            `json:"lastError"`
}

// targets returns the active targets.
func (p *promServer) targets(ctx context.Context) ([]scrapeTarget, error) {
	var data struct {
		Active []scrapeTarget `json:"activeTargets"`
	}
	if err := p.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, err
	}
	return data.Active, nil
}

// poll calls cond every system.Poll until it holds, and fails t with what
// it last saw after system.ReadyWait.
func poll(t testing.TB, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	return system.WaitFor(t, what, nil, cond)
}
