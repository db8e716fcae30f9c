package migrations

import (
	"encoding/json"
	"testing"

	"github.com/spikeledger/spike/events"
)

// FuzzUpcast feeds arbitrary old payloads through the upcasters: they
// must never panic, and whatever they accept must decode as the current
// schema or be rejected by the decoder with an error.
func FuzzUpcast(f *testing.F) {
	f.Add("policy.put", uint32(1), []byte(`{"name":"p","permissions":"read, write"}`))
	f.Add("policy.put", uint32(1), []byte(`{"name":"p","permissions":["read"]}`))
	f.Add("policy.put", uint32(2), []byte(`{"name":"p","permissions":["read"]}`))
	f.Add("secret.read", uint32(0), []byte(`{}`))
	f.Fuzz(func(t *testing.T, typ string, schema uint32, payload []byte) {
		got, out, err := Upcast(typ, schema, payload)
		if err != nil {
			return
		}
		cur, _ := events.CurrentSchema(typ)
		if got != cur {
			t.Fatalf("upcast %s/%d stopped at %d, current is %d", typ, schema, got, cur)
		}
		if schema < cur && !json.Valid(out) {
			t.Fatalf("upcaster produced invalid JSON %q", out)
		}
		events.Decode(typ, got, out) // may fail; must not panic
	})
}
