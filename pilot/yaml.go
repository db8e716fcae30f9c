package pilot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// marshalYAML renders v as a YAML document. v goes through encoding/json
// first, so the field names and shapes are exactly those of the JSON
// output; the YAML is the same document in block style. Strings are
// always double-quoted with JSON's escapes, which YAML's double-quoted
// scalars share, so no value can be misread as a number, a boolean or
// null. Map keys are sorted.
func marshalYAML(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	for _, line := range yamlLines(doc) {
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// yamlLines renders one value as lines without indentation. A scalar, an
// empty map or an empty list is one line; anything else is a block.
func yamlLines(v any) []string {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 0 {
			return []string{"{}"}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var out []string
		for _, k := range keys {
			out = append(out, yamlEntry(yamlKey(k)+":", v[k])...)
		}
		return out
	case []any:
		if len(v) == 0 {
			return []string{"[]"}
		}
		var out []string
		for _, item := range v {
			out = append(out, yamlItem(item)...)
		}
		return out
	}
	return []string{yamlScalar(v)}
}

// yamlEntry renders "key: value", with a block value on the lines below,
// indented.
func yamlEntry(key string, v any) []string {
	lines := yamlLines(v)
	if !isBlock(v) {
		return []string{key + " " + lines[0]}
	}
	out := []string{key}
	for _, l := range lines {
		out = append(out, "  "+l)
	}
	return out
}

// yamlItem renders a list item: "- " before the value's first line and
// its other lines indented to match.
func yamlItem(v any) []string {
	lines := yamlLines(v)
	out := []string{"- " + lines[0]}
	for _, l := range lines[1:] {
		out = append(out, "  "+l)
	}
	return out
}

func isBlock(v any) bool {
	switch v := v.(type) {
	case map[string]any:
		return len(v) > 0
	case []any:
		return len(v) > 0
	}
	return false
}

func yamlScalar(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		if v {
			return "true"
		}
		return "false"
	case json.Number:
		return v.String()
	case string:
		return quoteYAML(v)
	}
	// Unreachable for values decoded from JSON.
	return quoteYAML(fmt.Sprint(v))
}

// plainKey is a key that YAML reads back as the same string when written
// unquoted.
var plainKey = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

func yamlKey(k string) string {
	if plainKey.MatchString(k) && !yamlReserved(k) {
		return k
	}
	return quoteYAML(k)
}

// yamlReserved reports words YAML 1.1 readers take for booleans or null.
func yamlReserved(s string) bool {
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "on", "off", "true", "false", "null":
		return true
	}
	return false
}

// quoteYAML quotes s as a JSON string, which is a valid YAML
// double-quoted scalar.
func quoteYAML(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
