package events

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Meta rides on every event.
type Meta struct {
	// Actor is the SPIFFE ID of the caller that caused the event, or the
	// component's own ID for events Nexus records on its own (jobs).
	Actor string `json:"actor,omitempty"`
	// RequestID ties the event to the request (and access log line) that
	// caused it.
	RequestID string `json:"request_id,omitempty"`
	// Time is the event's time from the log header; it is not encoded in
	// the payload.
	Time time.Time `json:"-"`
}

// EventMeta returns the event's common fields.
func (m *Meta) EventMeta() *Meta { return m }

// Payload is implemented by every event payload.
type Payload interface {
	// Type is the stable type name stored in the log header.
	Type() string
	// Schema is the payload's current schema version.
	Schema() uint32
	// EventMeta returns the common fields.
	EventMeta() *Meta
}

// descriptor is how the catalogue knows a type.
type descriptor struct {
	schema uint32
	make   func() Payload
}

// catalogue maps type names to their descriptors. It is built once from
// the list in catalogue.go and never modified.
var catalogue = func() map[string]descriptor {
	m := make(map[string]descriptor, len(all))
	for _, mk := range all {
		p := mk()
		if _, dup := m[p.Type()]; dup {
			panic("events: duplicate type " + p.Type())
		}
		m[p.Type()] = descriptor{schema: p.Schema(), make: mk}
	}
	return m
}()

// Types returns every known event type name, sorted.
func Types() []string {
	out := make([]string, 0, len(catalogue))
	for t := range catalogue {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// CurrentSchema returns the current schema version of type typ, and
// whether the type is known.
func CurrentSchema(typ string) (uint32, bool) {
	d, ok := catalogue[typ]
	return d.schema, ok
}

// Encode returns the payload's encoding.
func Encode(p Payload) ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", p.Type(), err)
	}
	return b, nil
}

// Decode decodes a payload of type typ written at schema version schema.
// The schema must be the current one: older payloads go through an
// upcaster first (package migrations). The returned payload's Meta.Time is
// zero; the caller sets it from the log header.
func Decode(typ string, schema uint32, data []byte) (Payload, error) {
	d, ok := catalogue[typ]
	if !ok {
		return nil, fmt.Errorf("decode: unknown event type %q", typ)
	}
	if schema != d.schema {
		return nil, fmt.Errorf("decode %s: schema %d, this build reads %d (upcast it first)", typ, schema, d.schema)
	}
	p := d.make()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("decode %s: %w", typ, err)
	}
	if v, ok := p.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return nil, fmt.Errorf("decode %s: %w", typ, err)
		}
	}
	return p, nil
}
