package shamir

import (
	"crypto/rand"
	"strings"
	"testing"
)

func TestSplitCombineEverySubset(t *testing.T) {
	t.Parallel()
	for _, p := range []Params{{1, 1}, {3, 2}, {5, 3}, {7, 7}} {
		key := goldenKey("subset")
		shares, com, err := Split(&key, p)
		if err != nil {
			t.Fatal(err)
		}
		again, _, _ := Split(&key, p)
		for i := range shares {
			if shares[i] != again[i] {
				t.Fatalf("%+v: split is not deterministic", p)
			}
			if !Verify(shares[i], com) {
				t.Fatalf("%+v: shard %d does not verify", p, i+1)
			}
		}
		// Every subset of threshold shares recovers the key.
		for mask := 0; mask < 1<<p.Shares; mask++ {
			var sub []Share
			for i := range shares {
				if mask&(1<<i) != 0 {
					sub = append(sub, shares[i])
				}
			}
			got, err := Combine(p.Threshold, sub)
			if len(sub) < p.Threshold {
				if err == nil {
					t.Fatalf("%+v: %d shards recovered something", p, len(sub))
				}
				continue
			}
			if err != nil || got != key {
				t.Fatalf("%+v: subset %b: %v", p, mask, err)
			}
		}
	}
}

func TestRefreshMakesAnotherEpoch(t *testing.T) {
	t.Parallel()
	key := goldenKey("refresh")
	p := Params{Shares: 3, Threshold: 2}
	old, oldCom, _ := Split(&key, p)
	fresh, freshCom, err := SplitRefresh(&key, p, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if fresh[0] == old[0] {
		t.Fatal("refresh gave the same shards")
	}
	if got, err := Combine(2, fresh[1:]); err != nil || got != key {
		t.Fatalf("refreshed shards: %v", err)
	}
	// Mixing epochs silently yields a wrong key; commitments catch it.
	if got, _ := Combine(2, []Share{old[0], fresh[1]}); got == key {
		t.Fatal("shards of two epochs combined to the key")
	}
	if Verify(old[0], freshCom) || Verify(fresh[0], oldCom) {
		t.Fatal("a shard verified against another epoch's commitment")
	}
}

func TestCombineVerifiedLeavesOutBadShards(t *testing.T) {
	t.Parallel()
	key := goldenKey("corrupt")
	shares, com, _ := Split(&key, Params{Shares: 5, Threshold: 3})
	bad := shares[1]
	bad.Value[7] ^= 0x40
	wrongID := shares[3]
	wrongID.ID = 5 // keeper 4's value claimed by keeper 5
	got, rejected, err := CombineVerified([]Share{shares[0], bad, shares[2], wrongID, shares[4]}, com)
	if err != nil || got != key {
		t.Fatalf("recovery with two bad shards: %v", err)
	}
	if len(rejected) != 2 || rejected[0] != 2 || rejected[1] != 5 {
		t.Fatalf("rejected %v, want [2 5]", rejected)
	}
	// Unverified, the corrupted shard yields a wrong key.
	if got, _ := Combine(3, []Share{shares[0], bad, shares[2]}); got == key {
		t.Fatal("a corrupted shard recovered the key")
	}
	if _, _, err := CombineVerified([]Share{shares[0], bad, wrongID}, com); err == nil {
		t.Fatal("recovered from one good shard")
	}
}

func TestRejects(t *testing.T) {
	t.Parallel()
	key := goldenKey("x")
	var zero [KeySize]byte
	for name, f := range map[string]func() error{
		"threshold 0":        func() error { _, _, err := Split(&key, Params{Shares: 3, Threshold: 0}); return err },
		"shares < threshold": func() error { _, _, err := Split(&key, Params{Shares: 2, Threshold: 3}); return err },
		"too many":           func() error { _, _, err := Split(&key, Params{Shares: MaxShares + 1, Threshold: 2}); return err },
		"zero key":           func() error { _, _, err := Split(&zero, Params{Shares: 3, Threshold: 2}); return err },
		"key above order": func() error {
			k := [KeySize]byte{}
			for i := range k {
				k[i] = 0xff
			}
			_, _, err := Split(&k, Params{Shares: 3, Threshold: 2})
			return err
		},
		"duplicate ids": func() error {
			s, _, _ := Split(&key, Params{Shares: 3, Threshold: 2})
			_, err := Combine(2, []Share{s[0], s[0]})
			return err
		},
		"id 0": func() error { _, err := Combine(1, []Share{{ID: 0, Value: key}}); return err },
		"zero shard": func() error {
			_, err := Combine(1, []Share{{ID: 1}})
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRecoveryFiles(t *testing.T) {
	t.Parallel()
	key := goldenKey("files")
	shares, _, _ := Split(&key, Params{Shares: 3, Threshold: 2})
	for _, s := range shares {
		text := FormatRecovery(s)
		if !strings.HasPrefix(text, "spike:") || len(text) != len("spike:1:")+64 {
			t.Fatalf("recovery text %q", text)
		}
		back, err := ParseRecovery(" " + text + "\n")
		if err != nil || back != s {
			t.Fatalf("parse %q: %v", text, err)
		}
	}
	hex := strings.Repeat("ab", 32)
	for _, bad := range []string{"", "spike", "spike:1", "vault:1:" + hex, "spike:0:" + hex, "spike:x:" + hex, "spike:01:" + hex,
		"spike:1:" + hex[:62], "spike:1:" + hex + "00", "spike:1:" + strings.Repeat("zz", 32), "spike:1:" + strings.Repeat("00", 32),
		"spike:1001:" + hex, strings.Repeat("x", MaxRecoveryFile+1)} {
		_, err := ParseRecovery(bad)
		if err == nil {
			t.Errorf("ParseRecovery(%.40q) accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "abab") {
			t.Errorf("error quotes the shard: %v", err)
		}
	}
}

func FuzzParseRecovery(f *testing.F) {
	f.Add("spike:1:" + strings.Repeat("ab", 32))
	f.Add("spike:2:" + strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, text string) {
		s, err := ParseRecovery(text)
		if err != nil {
			return
		}
		back, err := ParseRecovery(FormatRecovery(s))
		if err != nil || back != s {
			t.Fatalf("round trip of %q: %v", text, err)
		}
	})
}

// FuzzShardDecoding feeds arbitrary shard values and commitment points
// to Combine and Verify: they must never panic, and a random value must
// not verify against a real commitment.
func FuzzShardDecoding(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{2, 3}, uint8(2))
	f.Fuzz(func(t *testing.T, data, point []byte, threshold uint8) {
		var shares []Share
		for i := 0; i+KeySize <= len(data) && len(shares) < 8; i += KeySize {
			s := Share{ID: len(shares) + 1}
			copy(s.Value[:], data[i:])
			shares = append(shares, s)
		}
		Combine(int(threshold%9), shares)
		Verify(Share{ID: 1, Value: goldenKey(string(data))}, Commitment{point})
		key := goldenKey("fuzz")
		real, com, _ := Split(&key, Params{Shares: 3, Threshold: 2})
		for _, s := range shares {
			if Verify(s, com) && (s.ID > len(real) || s != real[s.ID-1]) {
				t.Fatalf("random shard %d verified", s.ID)
			}
		}
	})
}

func TestSplitEpoch(t *testing.T) {
	t.Parallel()
	key := goldenKey("epochs")
	p := Params{Shares: 5, Threshold: 3}
	zero, _, _ := Split(&key, p)
	e0, _, err := SplitEpoch(&key, p, 0)
	if err != nil || e0[0] != zero[0] {
		t.Fatal("epoch 0 is not SPIKE's sharing")
	}
	e1, c1, _ := SplitEpoch(&key, p, 1)
	e1again, _, _ := SplitEpoch(&key, p, 1)
	e2, c2, _ := SplitEpoch(&key, p, 2)
	if e1[0] != e1again[0] {
		t.Fatal("an epoch's shares are not reproducible from the key")
	}
	if e1[0] == e0[0] || e1[0] == e2[0] {
		t.Fatal("epochs share shards")
	}
	if got, err := Combine(3, e2[2:]); err != nil || got != key {
		t.Fatalf("epoch 2 does not recover the key: %v", err)
	}
	if Verify(e1[0], c2) || !Verify(e1[0], c1) {
		t.Fatal("commitments do not tell epochs apart")
	}
}
