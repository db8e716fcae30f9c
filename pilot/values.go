package pilot

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxValueInput bounds one value read from a file or standard input: the
// most Nexus stores in a version, 1 MiB, and a little more so that Nexus,
// not the CLI, says what the limit is.
const maxValueInput = 1<<20 + 1

// parsePairs turns SPIKE's KEY=VALUE arguments into a secret's values.
// Besides a literal VALUE it accepts KEY=@FILE (the file's bytes,
// verbatim), KEY=- (standard input, less one trailing newline; at most
// one pair may read it) and KEY=@@TEXT (the literal "@TEXT"), so that
// values need not appear in the shell's history or the process list.
//
// Errors name the pair by position, never its text: a mistyped pair may
// be a value.
func parsePairs(args []string, stdin io.Reader) (map[string]string, error) {
	values := make(map[string]string, len(args))
	usedStdin := false
	for i, arg := range args {
		key, value, ok := strings.Cut(arg, "=")
		if !ok || key == "" {
			return nil, usagef("value %d is not KEY=VALUE (or KEY=@FILE, KEY=-)", i+1)
		}
		if _, dup := values[key]; dup {
			return nil, usagef("key %q is given twice", key)
		}
		switch {
		case value == "-":
			if usedStdin {
				return nil, usagef("only one value can be read from standard input (KEY=-)")
			}
			usedStdin = true
			v, err := readValue(stdin, "standard input")
			if err != nil {
				return nil, err
			}
			v = strings.TrimSuffix(v, "\n")
			values[key] = strings.TrimSuffix(v, "\r")
		case strings.HasPrefix(value, "@@"):
			values[key] = value[1:]
		case strings.HasPrefix(value, "@"):
			name := value[1:]
			f, err := os.Open(name)
			if err != nil {
				return nil, usagef("value of %q: %v", key, err)
			}
			v, err := readValue(f, name)
			f.Close()
			if err != nil {
				return nil, err
			}
			values[key] = v
		default:
			values[key] = value
		}
	}
	return values, nil
}

func readValue(r io.Reader, name string) (string, error) {
	if r == nil {
		return "", usagef("no %s to read a value from", name)
	}
	b, err := io.ReadAll(io.LimitReader(r, maxValueInput+1))
	if err != nil {
		return "", fmt.Errorf("read value from %s: %w", name, err)
	}
	if len(b) > maxValueInput {
		return "", usagef("value in %s is larger than a secret can be (1 MiB)", name)
	}
	return string(b), nil
}

// parseLabels turns KEY=VALUE arguments into a map, for metadata that is
// not secret (custom metadata): errors may quote it.
func parseLabels(args []string) (map[string]string, error) {
	out := make(map[string]string, len(args))
	for _, arg := range args {
		k, v, ok := strings.Cut(arg, "=")
		if !ok || k == "" {
			return nil, usagef("%q is not KEY=VALUE", arg)
		}
		if _, dup := out[k]; dup {
			return nil, usagef("key %q is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}
