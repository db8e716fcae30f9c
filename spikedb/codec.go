package spikedb

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Per-field nonce salts of secret_metadata: each field is sealed under the
// row's base nonce XORed with its salt.
const (
	saltCurrentVersion = "current_ver_"
	saltOldestVersion  = "oldest_ver__"
	saltMaxVersions    = "max_versions"
	saltCreatedTime    = "created_tim_"
	saltUpdatedTime    = "updated_tim_"
)

// datetimeLayout is how mattn/go-sqlite3, SPIKE's driver, writes a
// time.Time into a column.
const datetimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// datetimeLayouts are the layouts mattn/go-sqlite3 accepts when it reads a
// DATETIME column holding text, tried in order after one trailing "Z" is
// removed; times without an offset are UTC.
func datetimeLayouts() []string {
	return []string{
		datetimeLayout,
		"2006-01-02T15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999",
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05",
		"2006-01-02T15:04:05",
		"2006-01-02 15:04",
		"2006-01-02T15:04",
		"2006-01-02",
	}
}

// newAEAD returns AES-256-GCM keyed with rootKey. The cipher keeps its own
// expanded key; rootKey is not retained.
func newAEAD(rootKey []byte) (cipher.AEAD, error) {
	if len(rootKey) != KeySize {
		return nil, fmt.Errorf("root key is %d bytes, want %d", len(rootKey), KeySize)
	}
	block, err := aes.NewCipher(rootKey)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	return aead, nil
}

// newNonce returns a fresh random 12-byte nonce.
func newNonce() ([]byte, error) {
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return nonce, nil
}

// fieldNonce derives a metadata field's nonce: base XOR salt.
func fieldNonce(base []byte, salt string) ([]byte, error) {
	if len(base) != len(salt) {
		return nil, fmt.Errorf("nonce is %d bytes, want %d", len(base), len(salt))
	}
	out := make([]byte, len(base))
	for i := range base {
		out[i] = base[i] ^ salt[i]
	}
	return out, nil
}

// opener decrypts the fields of one file. Until one field has opened, a
// failure means the key is wrong; after that, the file is damaged.
type opener struct {
	aead   cipher.AEAD
	proven bool
}

// open decrypts ciphertext sealed under nonce with no associated data.
func (o *opener) open(nonce, ciphertext []byte) ([]byte, error) {
	if len(nonce) != nonceSize {
		return nil, fmt.Errorf("%w: nonce is %d bytes, want %d", ErrCorrupt, len(nonce), nonceSize)
	}
	plain, err := o.aead.Open(nil, nonce, ciphertext, nil)
	if err != nil {
		if !o.proven {
			return nil, ErrWrongKey
		}
		return nil, fmt.Errorf("%w: authentication failed", ErrCorrupt)
	}
	o.proven = true
	return plain, nil
}

// openMetaField decrypts one secret_metadata field and parses its decimal
// text.
func (o *opener) openMetaField(base []byte, salt string, ciphertext []byte) (int64, error) {
	nonce, err := fieldNonce(base, salt)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	plain, err := o.open(nonce, ciphertext)
	if err != nil {
		return 0, err
	}
	return parseDecimal(plain)
}

// parseDecimal parses the decimal text of a metadata field. The error never
// quotes the text.
func parseDecimal(b []byte) (int64, error) {
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		var numErr *strconv.NumError
		if errors.As(err, &numErr) {
			err = numErr.Err
		}
		return 0, fmt.Errorf("%w: metadata field is not a decimal integer: %w", ErrCorrupt, err)
	}
	return n, nil
}

// parseVersionNumber parses a metadata version count: a non-negative int.
func parseVersionNumber(n int64) (int, error) {
	if n < 0 || int64(int(n)) != n {
		return 0, fmt.Errorf("%w: version number %d out of range", ErrCorrupt, n)
	}
	return int(n), nil
}

// encodeData is the plaintext of secrets.encrypted_data.
func encodeData(data map[string]string) ([]byte, error) {
	if data == nil {
		data = map[string]string{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode values: %w", err)
	}
	return b, nil
}

// decodeData parses the plaintext of secrets.encrypted_data: a JSON object
// of strings. JSON "null" is an empty object. The error never quotes the
// plaintext.
func decodeData(plain []byte) (map[string]string, error) {
	var data map[string]string
	if err := json.Unmarshal(plain, &data); err != nil {
		return nil, fmt.Errorf("%w: values are not a JSON object of strings", ErrCorrupt)
	}
	if data == nil {
		data = map[string]string{}
	}
	return data, nil
}

// joinPermissions is the plaintext of policies.encrypted_permissions.
func joinPermissions(perms []string) string { return strings.Join(perms, ",") }

// splitPermissions parses policies.encrypted_permissions as SPIKE does:
// comma-separated, each trimmed of spaces, none for the empty string.
func splitPermissions(s string) []string {
	if s == "" {
		return nil
	}
	perms := strings.Split(s, ",")
	for i, p := range perms {
		perms[i] = strings.TrimSpace(p)
	}
	return perms
}

// formatDatetime renders t as SPIKE's driver writes a DATETIME, in UTC.
func formatDatetime(t time.Time) string { return t.UTC().Format(datetimeLayout) }

// parseDatetime parses DATETIME text as mattn/go-sqlite3 does, returning
// UTC. Unlike that driver, which yields the zero time, unknown text is an
// error.
func parseDatetime(s string) (time.Time, error) {
	trimmed := strings.TrimSuffix(s, "Z")
	for _, layout := range datetimeLayouts() {
		if t, err := time.ParseInLocation(layout, trimmed, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: unrecognised DATETIME text %q", ErrCorrupt, abbreviate(s))
}

// unixDatetime interprets an integer DATETIME as mattn/go-sqlite3 does:
// Unix milliseconds when its magnitude exceeds 1e12, else Unix seconds.
func unixDatetime(v int64) time.Time {
	if v > 1e12 || v < -1e12 {
		return time.UnixMilli(v).UTC()
	}
	return time.Unix(v, 0).UTC()
}

// decodeDatetime turns a DATETIME column value, in whatever Go type the
// driver delivers it, into a time. A NULL is ok=false.
func decodeDatetime(v any) (t time.Time, ok bool, err error) {
	switch v := v.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case string:
		t, err = parseDatetime(v)
	case []byte:
		t, err = parseDatetime(string(v))
	case int64:
		t = unixDatetime(v)
	default:
		err = fmt.Errorf("%w: DATETIME holds a %T", ErrCorrupt, v)
	}
	return t, err == nil, err
}

// checkDatetime reports whether t survives formatDatetime and parseDatetime:
// a four-digit year.
func checkDatetime(t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("year %d has no DATETIME text form", y)
	}
	return nil
}

// abbreviate shortens s for an error message.
func abbreviate(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
