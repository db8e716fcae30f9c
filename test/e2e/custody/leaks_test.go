//go:build linux

package custody

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// shardForms returns the ways a 32-byte shard could be written down by
// mistake: raw, hex (both cases, whole and in halves), base64, and as
// Go, JSON and comma lists of its decimal bytes.
func shardForms(shard []byte) map[string][]byte {
	dec := make([]string, len(shard))
	for i, b := range shard {
		dec[i] = strconv.Itoa(int(b))
	}
	var arr [32]byte
	copy(arr[:], shard)
	js, _ := json.Marshal(arr)
	h := hex.EncodeToString(shard)
	return map[string][]byte{
		"raw bytes":          shard,
		"hex":                []byte(h),
		"upper-case hex":     []byte(strings.ToUpper(h)),
		"first half in hex":  []byte(h[:32]),
		"second half in hex": []byte(h[32:]),
		"base64":             []byte(base64.StdEncoding.EncodeToString(shard)),
		"raw url base64":     []byte(base64.RawURLEncoding.EncodeToString(shard)),
		"Go decimal list":    []byte(fmt.Sprint(arr)),
		"JSON array":         js,
		"space-separated":    []byte(strings.Join(dec, " ")),
		"comma-space list":   []byte(strings.Join(dec, ", ")),
		"comma-separated":    []byte(strings.Join(dec, ",")),
		"Go quoted string":   []byte(strings.Trim(strconv.Quote(string(shard)), `"`)),
	}
}

// assertNoShardLeaks reads every process log and command output in the
// log directory and every file under the Nexus data directory (SQLite's
// WAL and journal included) and fails if any shard appears in any form.
// The recovery directory, where the operator asked for them, is the one
// place they are meant to be, and is not searched.
func (s *deployment) assertNoShardLeaks(files []recoveryFile) {
	s.t.Helper()
	type form struct {
		what string
		b    []byte
	}
	var forms []form
	for _, f := range files {
		for name, b := range shardForms(f.shard) {
			forms = append(forms, form{fmt.Sprintf("shard %d as %s", f.id, name), b})
		}
	}
	// The root key the shards make, in the same forms: the threshold's
	// worth of any of them rebuilds it.
	key := rootKeyOf(s.t, files[:s.Threshold()]...)
	for name, b := range shardForms(bytes.Clone(key[:])) {
		forms = append(forms, form{"the root key as " + name, b})
	}
	scanned, bytesRead := 0, 0
	for _, dir := range []string{s.LogDir(), s.DataDir()} {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !d.Type().IsRegular() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned++
			bytesRead += len(b)
			for _, f := range forms {
				if i := bytes.Index(b, f.b); i >= 0 {
					s.t.Errorf("%s found in %s at byte %d", f.what, path, i)
				}
			}
			return nil
		})
		if err != nil {
			s.t.Fatalf("scan %s: %v", dir, err)
		}
	}
	if scanned == 0 {
		s.t.Fatal("no log or data file to scan")
	}
	// A control: the search does find each shard where it is meant to be.
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			s.t.Fatal(err)
		}
		if !bytes.Contains(b, shardForms(f.shard)["hex"]) {
			s.t.Fatalf("the leak search does not find shard %d in its own recovery file", f.id)
		}
	}
	s.t.Logf("no shard and no root key in any of %d files (%d bytes) of logs, command output and the nexus data directory", scanned, bytesRead)
}
