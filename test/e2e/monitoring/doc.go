// Package monitoring checks spike's monitoring artefacts in deploy/: the
// Grafana dashboard (deploy/grafana/spike-dashboard.json), the example
// Prometheus configuration and the alert rules (deploy/prometheus/).
//
// The fast tests, which also run under -short, need only promtool (from
// Debian's prometheus package, installed with apt-get when the test runs
// as root and it is missing; otherwise they skip, naming the command):
// promtool check config and check rules pass, every dashboard expression
// parses, the dashboard is importable (a Prometheus data source variable,
// job and instance variables, every panel on it), every metric it and
// the rules name is one docs/metrics.md describes, and every alert has a
// severity, a summary and a runbook, and every alert has its section in
// docs/monitoring.md (opening with the rule's severity and delay, saying
// what it means and what to do), which has no section for an alert that
// is gone.
//
// The end-to-end test (Linux, skipped under -short) deploys Nexus and
// three keepers under a real SPIRE (package test/e2e/system), starts a
// real Prometheus on loopback with a temporary data directory, scraping
// their operations listeners every second with the alert rules loaded,
// and runs a short load through workload identities: secret writes and
// reads over many paths, cipher calls and denied requests. Through
// Prometheus's HTTP API, every dashboard and alert expression must then
// evaluate without error, every dashboard query must return data, every
// rule must be loaded and healthy, and every alert's expression but the
// latency one must be empty. Then it stops one keeper (the
// keepers-at-threshold warning's expression must return a series), and
// another, and restarts Nexus: the keepers-below-threshold alert's
// expression must return a series, and so must the sealed alert's.
// Alerts are judged by their expressions, never by waiting out their
// "for" durations.
package monitoring
