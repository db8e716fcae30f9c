package pilot

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// policySpec is one policy as `spike policy apply --file` reads it, with
// SPIKE's keys.
type policySpec struct {
	Name            string   `json:"name"`
	SPIFFEIDPattern string   `json:"spiffeidPattern"`
	PathPattern     string   `json:"pathPattern"`
	Permissions     []string `json:"permissions"`
}

// policyJSON is a policy file in JSON: the spec, and the fields `spike
// policy get -f json` adds, which Nexus sets and a file cannot change.
type policyJSON struct {
	policySpec
	// SPIKE v0.8's responses spell the SPIFFE ID pattern's key so.
	Misspelt  *string         `json:"spiffiedPattern"`
	ID        json.RawMessage `json:"id"`
	CreatedAt json.RawMessage `json:"createdAt"`
	UpdatedAt json.RawMessage `json:"updatedAt"`
	CreatedBy json.RawMessage `json:"createdBy"`
	UpdatedBy json.RawMessage `json:"updatedBy"`
}

// readOnlyKeys are the keys of `spike policy get`'s output that Nexus
// sets: a policy file may carry them, so that what get prints applies
// as it is, and they are ignored.
var readOnlyKeys = map[string]bool{"id": true, "createdAt": true, "updatedAt": true, "createdBy": true, "updatedBy": true}

// maxPolicyFile bounds a policy file.
const maxPolicyFile = 64 << 10

// parsePolicySpec reads a policy file: SPIKE's YAML (the subset a policy
// needs: "key: scalar" lines and a permissions list in block or flow
// style, comments, plain, single- and double-quoted scalars) or the same
// document as JSON. All four keys are required. The read-only keys of
// `spike policy get`'s output (readOnlyKeys) are ignored, so that its
// output, YAML or JSON, applies unchanged; any other unknown key is
// refused rather than ignored, so a typo cannot drop a field.
func parsePolicySpec(b []byte) (policySpec, error) {
	var s policySpec
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var j policyJSON
		dec := json.NewDecoder(bytes.NewReader(t))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&j); err != nil {
			return s, fmt.Errorf("policy file: %w", err)
		}
		if dec.More() {
			return s, fmt.Errorf("policy file: more than one JSON document")
		}
		s = j.policySpec
		if j.Misspelt != nil {
			if s.SPIFFEIDPattern != "" && s.SPIFFEIDPattern != *j.Misspelt {
				return s, fmt.Errorf("policy file: spiffeidPattern and spiffiedPattern differ")
			}
			s.SPIFFEIDPattern = *j.Misspelt
		}
	} else if err := s.parseYAML(b); err != nil {
		return s, err
	}
	switch {
	case s.Name == "":
		return s, fmt.Errorf("policy file: name is missing")
	case s.SPIFFEIDPattern == "":
		return s, fmt.Errorf("policy file: spiffeidPattern is missing")
	case s.PathPattern == "":
		return s, fmt.Errorf("policy file: pathPattern is missing")
	case len(s.Permissions) == 0:
		return s, fmt.Errorf("policy file: permissions are missing")
	}
	return s, nil
}

func (s *policySpec) parseYAML(b []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	seen := map[string]bool{}
	inList := false
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimRight(stripComment(sc.Text()), " \t\r")
		if strings.TrimSpace(line) == "" || line == "---" {
			continue
		}
		if item, ok := strings.CutPrefix(strings.TrimSpace(line), "- "); ok && inList {
			v, err := yamlValue(item)
			if err != nil {
				return fmt.Errorf("policy file line %d: %w", n, err)
			}
			s.Permissions = append(s.Permissions, v)
			continue
		}
		inList = false
		if line[0] == ' ' || line[0] == '\t' {
			return fmt.Errorf("policy file line %d: unexpected indentation", n)
		}
		key, rest, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("policy file line %d: want key: value", n)
		}
		key, rest = strings.TrimSpace(key), strings.TrimSpace(rest)
		if seen[key] {
			return fmt.Errorf("policy file line %d: %s is given twice", n, key)
		}
		seen[key] = true
		var err error
		switch key {
		case "name":
			s.Name, err = yamlValue(rest)
		case "spiffeidPattern":
			s.SPIFFEIDPattern, err = yamlValue(rest)
		case "pathPattern":
			s.PathPattern, err = yamlValue(rest)
		case "permissions":
			if rest == "" {
				inList = true
				continue
			}
			s.Permissions, err = yamlFlowList(rest)
		default:
			if readOnlyKeys[key] {
				continue // set by Nexus: ignored
			}
			return fmt.Errorf("policy file line %d: unknown key %q (want name, spiffeidPattern, pathPattern, permissions)", n, key)
		}
		if err != nil {
			return fmt.Errorf("policy file line %d: %s: %w", n, key, err)
		}
	}
	return sc.Err()
}

// stripComment drops a "#" comment: at the start of the line or after a
// space, and not inside quotes.
func stripComment(line string) string {
	var quote byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			if i == 0 || line[i-1] == ' ' || line[i-1] == ':' || line[i-1] == '[' || line[i-1] == ',' || line[i-1] == '-' {
				quote = c
			}
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

// yamlValue decodes one scalar: plain, 'single-quoted' (a doubled quote
// stands for one) or "double-quoted" (Go escapes, which agree with YAML's
// for everything a policy holds; YAML refuses "\." as Go does).
func yamlValue(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("empty value")
	case s[0] == '\'':
		if len(s) < 2 || s[len(s)-1] != '\'' {
			return "", fmt.Errorf("unterminated single-quoted value")
		}
		inner := s[1 : len(s)-1]
		if strings.Count(inner, "'")%2 != 0 {
			return "", fmt.Errorf("stray quote in single-quoted value")
		}
		return strings.ReplaceAll(inner, "''", "'"), nil
	case s[0] == '"':
		v, err := strconv.Unquote(s)
		if err != nil {
			return "", fmt.Errorf("bad double-quoted value (write \\\\. for a literal \\. or use single quotes)")
		}
		return v, nil
	case strings.ContainsAny(s[:1], "[]{}&*!|>%@`"):
		return "", fmt.Errorf("value starts with %q: quote it", s[:1])
	}
	return s, nil
}

// yamlFlowList decodes "[a, b, 'c']".
func yamlFlowList(s string) ([]string, error) {
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return nil, fmt.Errorf("want a list: [read, write] or one \"- item\" per line")
	}
	inner := strings.TrimSpace(s[1 : len(s)-1])
	if inner == "" {
		return nil, nil
	}
	var out []string
	for _, part := range strings.Split(inner, ",") {
		v, err := yamlValue(part)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
