package seal

import (
	"bytes"
	"errors"
	"testing"
)

func TestLockedKey(t *testing.T) {
	t.Parallel()
	k, lockErr, err := NewLockedKey()
	if err != nil {
		t.Fatal(err)
	}
	if lockErr != nil {
		t.Logf("not locked (allowed, warned): %v", lockErr)
	}
	if err := k.Set([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
	want := bytes.Repeat([]byte{7}, KeySize)
	if err := k.Set(want); err != nil {
		t.Fatal(err)
	}
	var seen []byte
	k.Use(func(key []byte) error { seen = bytes.Clone(key); return nil })
	if !bytes.Equal(seen, want) {
		t.Fatal("key not kept")
	}
	k.Destroy()
	k.Destroy() // idempotent
	if err := k.Use(func([]byte) error { return nil }); !errors.Is(err, ErrDestroyed) {
		t.Fatalf("use after destroy: %v", err)
	}
}
