package seal

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

func fixedKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	key := fixedKey(1)
	a, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		plaintext []byte
		aad       []byte
	}{
		{"empty", nil, nil},
		{"empty with aad", []byte{}, []byte("header")},
		{"one byte", []byte{0}, nil},
		{"text", []byte("attack at dawn"), []byte("v1")},
		{"block sized", bytes.Repeat([]byte{0xAB}, 16), []byte("x")},
		{"large", bytes.Repeat([]byte("0123456789"), 10000), bytes.Repeat([]byte("a"), 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sealed := a.Seal(nil, tc.plaintext, tc.aad)
			if len(sealed) != len(tc.plaintext)+Overhead {
				t.Fatalf("sealed %d bytes, want %d", len(sealed), len(tc.plaintext)+Overhead)
			}
			if len(tc.plaintext) >= 8 && bytes.Contains(sealed, tc.plaintext[:8]) {
				t.Fatal("sealed message contains the plaintext")
			}
			got, err := a.Open(nil, sealed, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("opened %q, want %q", got, tc.plaintext)
			}

			// The one-shot forms interoperate with the AEAD value.
			got, err = Open(key, sealed, tc.aad)
			if err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("one-shot Open = %q, %v", got, err)
			}
			sealed2, err := Seal(key, tc.plaintext, tc.aad)
			if err != nil {
				t.Fatal(err)
			}
			got, err = a.Open(nil, sealed2, tc.aad)
			if err != nil || !bytes.Equal(got, tc.plaintext) {
				t.Fatalf("Open of one-shot Seal = %q, %v", got, err)
			}
		})
	}
}

func TestSealOpenAppendToDst(t *testing.T) {
	t.Parallel()
	a, err := New(fixedKey(2))
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix:")
	sealed := a.Seal(bytes.Clone(prefix), []byte("payload"), nil)
	if !bytes.HasPrefix(sealed, prefix) || len(sealed) != len(prefix)+len("payload")+Overhead {
		t.Fatalf("Seal did not append to dst: %q", sealed)
	}
	out, err := a.Open(bytes.Clone(prefix), sealed[len(prefix):], nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "prefix:payload" {
		t.Fatalf("Open did not append to dst: %q", out)
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	key := fixedKey(3)
	plaintext := []byte("the quick brown fox")
	aad := []byte("associated")
	sealed, err := Seal(key, plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	otherKey := fixedKey(4)
	for _, tc := range []struct {
		name   string
		key    []byte
		sealed []byte
		aad    []byte
	}{
		{"wrong key", otherKey, sealed, aad},
		{"key differs in last bit", append(bytes.Clone(key[:KeySize-1]), key[KeySize-1]^1), sealed, aad},
		{"wrong aad", key, sealed, []byte("associatee")},
		{"missing aad", key, sealed, nil},
		{"extra aad", key, sealed, append(bytes.Clone(aad), 0)},
		{"empty", key, nil, aad},
		{"overhead minus one", key, sealed[:Overhead-1], aad},
		{"overhead only", key, sealed[:Overhead], aad},
		{"last byte dropped", key, sealed[:len(sealed)-1], aad},
		{"first byte dropped", key, sealed[1:], aad},
		{"byte appended", key, append(bytes.Clone(sealed), 0), aad},
		{"all zero", key, make([]byte, len(sealed)), aad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Open(tc.key, tc.sealed, tc.aad)
			if !errors.Is(err, ErrOpen) {
				t.Fatalf("Open = %q, %v; want ErrOpen", got, err)
			}
			if got != nil {
				t.Fatalf("Open returned plaintext %q with an error", got)
			}
		})
	}
}

func TestOpenRejectsEveryFlippedBit(t *testing.T) {
	t.Parallel()
	a, err := New(fixedKey(5))
	if err != nil {
		t.Fatal(err)
	}
	aad := []byte("aad")
	sealed := a.Seal(nil, []byte("sixteen byte msg"), aad)
	for i := range len(sealed) * 8 {
		mod := bytes.Clone(sealed)
		mod[i/8] ^= 1 << (i % 8)
		if got, err := a.Open(nil, mod, aad); !errors.Is(err, ErrOpen) {
			t.Fatalf("bit %d flipped: Open = %q, %v; want ErrOpen", i, got, err)
		}
	}
	// Flipping bits of the associated data is caught the same way.
	for i := range len(aad) * 8 {
		mod := bytes.Clone(aad)
		mod[i/8] ^= 1 << (i % 8)
		if _, err := a.Open(nil, sealed, mod); !errors.Is(err, ErrOpen) {
			t.Fatalf("aad bit %d flipped: err = %v; want ErrOpen", i, err)
		}
	}
	// The original still opens: the loop above did not alter it.
	if _, err := a.Open(nil, sealed, aad); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsEveryTruncation(t *testing.T) {
	t.Parallel()
	a, err := New(fixedKey(6))
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.Seal(nil, []byte("truncate me"), nil)
	for n := range len(sealed) {
		if _, err := a.Open(nil, sealed[:n], nil); !errors.Is(err, ErrOpen) {
			t.Fatalf("prefix of %d bytes: err = %v; want ErrOpen", n, err)
		}
		if _, err := a.Open(nil, sealed[len(sealed)-n:], nil); !errors.Is(err, ErrOpen) {
			t.Fatalf("suffix of %d bytes: err = %v; want ErrOpen", n, err)
		}
	}
}

func TestWrongKeySizes(t *testing.T) {
	t.Parallel()
	good, err := Seal(fixedKey(7), []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 16 and 24 bytes are valid AES keys; the package must still refuse
	// them, since it promises AES-256.
	for _, n := range []int{0, 1, 16, 24, 31, 33, 64} {
		key := bytes.Repeat([]byte{7}, n)
		if a, err := New(key); err == nil || a != nil {
			t.Errorf("New(%d-byte key) = %v, %v; want error", n, a, err)
		}
		if out, err := Seal(key, []byte("x"), nil); err == nil || out != nil {
			t.Errorf("Seal(%d-byte key) = %x, %v; want error", n, out, err)
		}
		if out, err := Open(key, good, nil); err == nil || out != nil {
			t.Errorf("Open(%d-byte key) = %q, %v; want error", n, out, err)
		}
	}
}

func TestNoncesDiffer(t *testing.T) {
	t.Parallel()
	a, err := New(fixedKey(8))
	if err != nil {
		t.Fatal(err)
	}
	plaintext := []byte("same plaintext every time")
	seen := map[string]bool{}
	for range 64 {
		s := a.Seal(nil, plaintext, nil)
		nonce := string(s[:12])
		if seen[nonce] {
			t.Fatalf("nonce %x reused", nonce)
		}
		seen[nonce] = true
	}
	s1, s2 := a.Seal(nil, plaintext, nil), a.Seal(nil, plaintext, nil)
	if bytes.Equal(s1, s2) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	if bytes.Equal(s1[12:], s2[12:]) {
		t.Fatal("ciphertexts identical despite different nonces")
	}
}

func TestNewKey(t *testing.T) {
	t.Parallel()
	k1, k2 := NewKey(), NewKey()
	if len(k1) != KeySize || len(k2) != KeySize {
		t.Fatalf("key sizes %d, %d; want %d", len(k1), len(k2), KeySize)
	}
	if bytes.Equal(k1, k2) {
		t.Fatal("NewKey returned the same key twice")
	}
	if bytes.Equal(k1, make([]byte, KeySize)) {
		t.Fatal("NewKey returned all zeros")
	}
	if _, err := New(k1); err != nil {
		t.Fatal(err)
	}
}

func TestDerive(t *testing.T) {
	t.Parallel()
	secret := []byte("root secret material, 32 bytes!!")
	salt := []byte("log-id-0123456789")
	const label Label = "spike/test/purpose/v1"
	base, err := Derive(secret, salt, label)
	if err != nil {
		t.Fatal(err)
	}
	if len(base) != KeySize {
		t.Fatalf("derived %d bytes, want %d", len(base), KeySize)
	}
	again, err := Derive(bytes.Clone(secret), bytes.Clone(salt), label)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(base, again) {
		t.Fatal("same inputs gave different keys")
	}

	for _, tc := range []struct {
		name   string
		secret []byte
		salt   []byte
		label  Label
	}{
		{"other label", secret, salt, "spike/test/purpose/v2"},
		{"label with trailing NUL", secret, salt, label + "\x00"},
		{"label prefix", secret, salt, label[:len(label)-1]},
		{"other salt", secret, []byte("log-id-0123456788"), label},
		{"nil salt", secret, nil, label},
		{"other secret", []byte("root secret material, 32 bytes!?"), salt, label},
		{"secret prefix", secret[:len(secret)-1], salt, label},
		{"salt moved into label", secret, nil, Label(string(salt)) + label},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := Derive(tc.secret, tc.salt, tc.label)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(k, base) {
				t.Fatalf("%s: derived the same key", tc.name)
			}
		})
	}
}

func TestDeriveRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		secret []byte
		label  Label
		n      int
	}{
		{"nil secret", nil, "spike/test/v1", KeySize},
		{"empty secret", []byte{}, "spike/test/v1", KeySize},
		{"empty label", []byte("s"), "", KeySize},
		{"blank label", []byte("s"), " \t\n", KeySize},
		{"too long output", []byte("s"), "spike/test/v1", 255*32 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if k, err := DeriveN(tc.secret, []byte("salt"), tc.label, tc.n); err == nil || k != nil {
				t.Fatalf("DeriveN = %x, %v; want error", k, err)
			}
			if tc.n == KeySize {
				if k, err := Derive(tc.secret, []byte("salt"), tc.label); err == nil || k != nil {
					t.Fatalf("Derive = %x, %v; want error", k, err)
				}
			}
		})
	}
}

func TestDeriveN(t *testing.T) {
	t.Parallel()
	secret, salt := []byte("secret"), []byte("salt")
	const label Label = "spike/test/n/v1"
	k32, err := Derive(secret, salt, label)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 16, 32, 64, 255 * 32} {
		k, err := DeriveN(secret, salt, label, n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(k) != n {
			t.Fatalf("n=%d: got %d bytes", n, len(k))
		}
		// HKDF-Expand output is a stream: shorter outputs are prefixes.
		m := min(n, KeySize)
		if !bytes.Equal(k[:m], k32[:m]) {
			t.Fatalf("n=%d: output is not an extension of the 32-byte key", n)
		}
	}
}

func TestDerivedKeysSeal(t *testing.T) {
	t.Parallel()
	k1, err := Derive([]byte("secret"), []byte("salt"), "spike/test/a/v1")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Derive([]byte("secret"), []byte("salt"), "spike/test/b/v1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Seal(k1, []byte("msg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(k2, s, nil); !errors.Is(err, ErrOpen) {
		t.Fatalf("key for another label opened the message: %v", err)
	}
	if got, err := Open(k1, s, nil); err != nil || string(got) != "msg" {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func TestZero(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 31, 32, 33, 4096} {
		b := bytes.Repeat([]byte{0xFF}, n)
		Zero(b)
		if !bytes.Equal(b, make([]byte, n)) {
			t.Fatalf("Zero left %x", b)
		}
	}
	Zero(nil) // must not panic

	// Zero clears through the slice it is given, including the backing
	// array that other slices share.
	backing := bytes.Repeat([]byte{0xAA}, 64)
	Zero(backing[16:48])
	for i, c := range backing {
		want := byte(0xAA)
		if i >= 16 && i < 48 {
			want = 0
		}
		if c != want {
			t.Fatalf("byte %d = %#x after Zero of [16:48], want %#x", i, c, want)
		}
	}
}

func TestZeroAll(t *testing.T) {
	t.Parallel()
	a, b, c := NewKey(), NewKey(), bytes.Repeat([]byte{1}, 5)
	ZeroAll(a, nil, b, c)
	for i, k := range [][]byte{a, b, c} {
		if !bytes.Equal(k, make([]byte, len(k))) {
			t.Fatalf("buffer %d not zeroed: %x", i, k)
		}
	}
	ZeroAll() // must not panic
}

// FuzzOpen feeds arbitrary bytes to Open as a sealed message. It must
// never panic and never authenticate anything but the genuine message.
func FuzzOpen(f *testing.F) {
	key := fixedKey(9)
	aad := []byte("fuzz aad")
	a, err := New(key)
	if err != nil {
		f.Fatal(err)
	}
	// Fuzz workers are separate processes, so the genuine message must be
	// the same in all of them: it was sealed once, with a random nonce.
	valid, err := hex.DecodeString("5e57af9cc64dec49b44b73e77599bb66698e384023a87c04f87863bf3761bfaabcb511")
	if err != nil {
		f.Fatal(err)
	}
	if got, err := a.Open(nil, valid, aad); err != nil || string(got) != "genuine" {
		f.Fatalf("genuine message does not open: %q, %v", got, err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[:Overhead])
	f.Add([]byte{})
	f.Add(make([]byte, Overhead))
	f.Add(make([]byte, 100))
	f.Fuzz(func(t *testing.T, sealed []byte) {
		got, err := a.Open(nil, sealed, aad)
		if bytes.Equal(sealed, valid) {
			if err != nil || string(got) != "genuine" {
				t.Fatalf("genuine message: %q, %v", got, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("forged message %x authenticated as %q", sealed, got)
		}
		if !errors.Is(err, ErrOpen) || got != nil {
			t.Fatalf("Open = %q, %v; want nil, ErrOpen", got, err)
		}
	})
}
