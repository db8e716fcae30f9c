package migrations

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spikeledger/spike/events"
)

// upcaster turns a payload at schema version from into version from+1.
type upcaster func(payload []byte) ([]byte, error)

type upcastKey struct {
	typ  string
	from uint32
}

// upcasters is the chain of every payload schema change, keyed by the
// version it upgrades from. It is read-only after package init.
var upcasters = map[upcastKey]upcaster{
	{"policy.put", 1}: policyPutV1toV2,
}

// Upcast brings a payload of type typ at schema version schema up to the
// current version, applying each step in turn. A payload already current
// is returned as is; one newer than this build knows is refused.
func Upcast(typ string, schema uint32, payload []byte) (uint32, []byte, error) {
	cur, ok := events.CurrentSchema(typ)
	if !ok {
		return schema, nil, fmt.Errorf("upcast: unknown event type %q", typ)
	}
	if schema > cur {
		return schema, nil, fmt.Errorf("upcast %s: schema %d is newer than this build's %d: upgrade spike", typ, schema, cur)
	}
	for schema < cur {
		up, ok := upcasters[upcastKey{typ, schema}]
		if !ok {
			return schema, nil, fmt.Errorf("upcast %s: no upcaster from schema %d", typ, schema)
		}
		var err error
		if payload, err = up(payload); err != nil {
			return schema, nil, fmt.Errorf("upcast %s from schema %d: %w", typ, schema, err)
		}
		schema++
	}
	return schema, payload, nil
}

// policyPutV1toV2: schema 1 stored permissions as one comma-joined string
// ("read,write"), the way SPIKE v0.8 stores them; schema 2 stores a list.
// Every other field is carried over untouched, including ones this code
// does not know.
func policyPutV1toV2(payload []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("payload is not a JSON object")
	}
	var perms []string
	if raw, ok := m["permissions"]; ok {
		var joined string
		if err := json.Unmarshal(raw, &joined); err != nil {
			return nil, fmt.Errorf("permissions: want a comma-joined string: %w", err)
		}
		for _, p := range strings.Split(joined, ",") {
			if p = strings.TrimSpace(p); p != "" {
				perms = append(perms, p)
			}
		}
	}
	b, err := json.Marshal(perms)
	if err != nil {
		return nil, err
	}
	m["permissions"] = b
	return json.Marshal(m)
}
