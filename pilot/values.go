package pilot

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spikeledger/spike/api"
)

// maxValueInput bounds one value read from a file or standard input: the
// most Nexus reads in a write request (api.SecretBodyLimit, 4 MiB).
// Within that, Nexus says whether the version fits its limit
// (--max-secret-size: 1 MiB by default), since only it knows the limit.
const maxValueInput = api.SecretBodyLimit

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
			if stdin == nil {
				return nil, usagef("value of %q: no standard input to read it from", key)
			}
			v, err := readValue(stdin, key, "standard input")
			if err != nil {
				return nil, err
			}
			v = strings.TrimSuffix(v, "\n")
			values[key] = strings.TrimSuffix(v, "\r")
		case strings.HasPrefix(value, "@@"):
			values[key] = value[1:]
		case strings.HasPrefix(value, "@"):
			v, err := readValueFile(key, value[1:])
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

// readValueFile reads the file KEY=@FILE names. Its errors name the
// file, as every command's do: it is a name the user typed, in the shell
// history already; a value meant literally is written KEY=@@VALUE, which
// the error says.
func readValueFile(key, name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", usagef("value of %q: cannot open the file %s (%v); write %s=@@... for a literal value starting with @",
			key, name, pathless(err), key)
	}
	defer f.Close()
	return readValue(f, key, "the file "+name)
}

// readValue reads the value of key from r, which from says in words.
func readValue(r io.Reader, key, from string) (string, error) {
	b, err := readAtMost(r, maxValueInput, fmt.Sprintf("the value of %q (from %s)", key, from))
	defer clear(b)
	if err != nil {
		return "", err
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
