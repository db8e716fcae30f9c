package projections

import "time"

// Observer hears what the projection does, for metrics. Its methods must
// be quick: Applied runs on Nexus's command loop, Queried on every read.
type Observer interface {
	// Applied reports a batch of events applied and how long it took.
	Applied(events int, took time.Duration)
	// Queried reports one read by its query name (one of Queries).
	Queried(query string, took time.Duration)
	// Rebuilt reports the projection built afresh from the log: how many
	// events and how long it took.
	Rebuilt(events uint64, took time.Duration)
}

// Queries are the names Observer.Queried reports, one per exported read.
var Queries = []string{"secret", "value_key", "version_data", "metadata", "paths", "paths_with_delete_after",
	"stored", "legacy_paths", "version_floor", "policy", "policies", "history"}

type noObserver struct{}

func (noObserver) Applied(int, time.Duration)    {}
func (noObserver) Queried(string, time.Duration) {}
func (noObserver) Rebuilt(uint64, time.Duration) {}

// observer is the projection's Observer; projections built without Open
// (BuildAsOf's) have none.
func (p *Projection) observer() Observer {
	if p.opts.Observer == nil {
		return noObserver{}
	}
	return p.opts.Observer
}

// timed reports a query's duration when the func it returns is called:
// defer p.timed("secret")().
func (p *Projection) timed(query string) func() {
	start := time.Now()
	return func() { p.observer().Queried(query, time.Since(start)) }
}
