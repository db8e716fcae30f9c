package pilot

import (
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// The verifier key (--key of the audit commands) is checked when the
// command line is parsed: kong calls Validate on the selected command,
// and on the keyFlag it embeds. A key that does not parse, or a key file
// that cannot be read, is then the command line's mistake (exit 2),
// reported before anything is sent, instead of surfacing later as a
// checkpoint "Nexus served" that fails verification.

// Validate checks --key, when given.
func (k keyFlag) Validate() error { return checkVerifierKey(k.Key) }

// Validate checks audit verify's --key.
func (c *auditVerifyCmd) Validate() error { return checkVerifierKey(c.Key) }

// checkVerifierKey reads key (or the @FILE it names) and parses it as a
// note verifier key; "" is no key, which is not this check's business.
func checkVerifierKey(key string) error {
	if key == "" {
		return nil
	}
	vkey, err := keyFlag{Key: key}.load()
	if err != nil {
		return err
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		what := "--key is not a verifier key"
		if strings.HasPrefix(key, "@") {
			what = "--key " + key + ": the file holds no verifier key"
		}
		return fmt.Errorf("%s (%v): give the key spike audit checkpoint prints (NAME+HASH+KEY), or @FILE holding it", what, err)
	}
	return nil
}
