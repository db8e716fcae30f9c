//go:build linux

package loadkit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// maxLine bounds one journal line.
const maxLine = 1 << 20

// ReadLines decodes the file at path, one JSON value of type T a line,
// calling add with each in order.
func ReadLines[T any](path string, add func(T)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		add(v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// WriteLines writes vs to a new file at path, one JSON value a line, and
// syncs it: a journal is evidence, read after the load has gone.
func WriteLines[T any](path string, vs []T) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	bw := bufio.NewWriter(f)
	enc := json.NewEncoder(bw)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			f.Close()
			return fmt.Errorf("journal: %w", err)
		}
	}
	if err := errors.Join(bw.Flush(), f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}
