package eventlog

import "time"

// Observer hears what the writer does, for metrics. Its methods are
// called from the writer goroutine, on the append path: they must be
// quick and must not call back into the log.
type Observer interface {
	// Committed reports one group commit made durable: how many events
	// it held and how long making them durable took (the journal's write
	// and fdatasync, or the bbolt commit).
	Committed(events int, sync time.Duration)
	// Appended reports one durable event by type, and how long its
	// append waited from Submit until durable.
	Appended(typ string, wait time.Duration)
	// Failed reports a commit that failed: nothing of it was written.
	Failed()
}

// noObserver is the Observer of a log opened without one.
type noObserver struct{}

func (noObserver) Committed(int, time.Duration)   {}
func (noObserver) Appended(string, time.Duration) {}
func (noObserver) Failed()                        {}

// observe reports a durable batch to the observer.
func (w *writer) observe(batch []*request, events int, sync time.Duration) {
	o := w.l.opts.Observer
	o.Committed(events, sync)
	now := time.Now()
	for _, r := range batch {
		if r.err != nil {
			continue
		}
		wait := now.Sub(r.submitted)
		for i := range r.records {
			o.Appended(r.records[i].Header.Type, wait)
		}
	}
}
