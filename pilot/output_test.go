package pilot

import (
	"strconv"
	"testing"
)

func TestOneLineAndShowValue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, line, value string }{
		{"plain text, with spaces", "plain text, with spaces", "plain text, with spaces"},
		{`back\slash`, `back\slash`, `back\slash`},
		{"é ✓ 日本", "é ✓ 日本", "é ✓ 日本"},
		{"a\nb\r\tc", `a\nb\r\tc`, `"a\nb\r\tc"`},
		{"esc\x1b[31mred", `esc\x1b[31mred`, `"esc\x1b[31mred"`},
		{"nul\x00del\x7f", `nul\x00del\x7f`, `"nul\x00del\x7f"`},
		{"c1\u009bline\u2028sep", `c1\u009bline\u2028sep`, `"c1\u009bline\u2028sep"`},
		{"bidi\u202eevil", `bidi\u202eevil`, `"bidi\u202eevil"`},
		{"bad\xffutf8", `bad\xffutf8`, `"bad\xffutf8"`},
		{"\uFFFD kept", "\uFFFD kept", "\uFFFD kept"},
		{`"starts with a quote`, `"starts with a quote`, `"\"starts with a quote"`},
		{"", "", ""},
	} {
		if got := oneLine(tc.in); got != tc.line {
			t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.line)
		}
		got := showValue(tc.in)
		if got != tc.value {
			t.Errorf("showValue(%q) = %q, want %q", tc.in, got, tc.value)
		}
		if got != tc.in {
			if back, err := strconv.Unquote(got); err != nil || back != tc.in {
				t.Errorf("showValue(%q) = %q does not unquote back: %q, %v", tc.in, got, back, err)
			}
		}
	}
}

func FuzzOneLine(f *testing.F) {
	f.Add("a\nb\x1b")
	f.Fuzz(func(t *testing.T, s string) {
		for _, out := range []string{oneLine(s), showValue(s)} {
			for _, r := range out {
				if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
					t.Fatalf("%q: control character %U in %q", s, r, out)
				}
			}
		}
	})
}
