// Package telemetry holds what every spike server shares to expose
// Prometheus metrics: a registry with the Go runtime and process
// collectors, the /metrics handler, and the bucket layouts and label
// helpers the components' own metrics use.
//
// There is no global registry: each server makes its own with
// NewRegistry and hands it (as a prometheus.Registerer) to the parts that
// count, so two servers in one process (tests, the demo) never share or
// collide on series. Label values only ever come from fixed sets (route
// names, status codes, event types, job names): never a path, a SPIFFE
// ID or a policy name, so the number of series does not grow with
// traffic.
package telemetry
