package pilot

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

func TestMarshalYAML(t *testing.T) {
	t.Parallel()
	type inner struct {
		A int    `json:"a"`
		B string `json:"b"`
	}
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"string", "hello", "\"hello\"\n"},
		{"string that looks like other things", []string{"true", "1.5", "null", "- x", "a: b", "#c", ""}, "- \"true\"\n- \"1.5\"\n- \"null\"\n- \"- x\"\n- \"a: b\"\n- \"#c\"\n- \"\"\n"},
		{"escapes", "tab\there \"q\" \\ é <&> \n\u2028", "\"tab\\there \\\"q\\\" \\\\ é <&> \\n\\u2028\"\n"},
		{"scalars", []any{1, -2.5, true, false, nil}, "- 1\n- -2.5\n- true\n- false\n- null\n"},
		{"sorted map", map[string]int{"b": 2, "a": 1}, "a: 1\nb: 2\n"},
		{"quoted keys", map[string]int{"1": 1, "yes": 2, "with space": 3, "ok_key-1": 4}, "\"1\": 1\nok_key-1: 4\n\"with space\": 3\n\"yes\": 2\n"},
		{"empty collections", map[string]any{"m": map[string]int{}, "l": []int{}, "n": nil}, "l: []\nm: {}\n\"n\": null\n"},
		{"nested", map[string]any{"x": map[string]any{"y": []int{1, 2}}}, "x:\n  \"y\":\n    - 1\n    - 2\n"},
		{"list of maps", []inner{{1, "one"}, {2, "two"}}, "- a: 1\n  b: \"one\"\n- a: 2\n  b: \"two\"\n"},
		{"list of lists", [][]int{{1, 2}, {}}, "- - 1\n  - 2\n- []\n"},
		{"time and bytes as JSON has them", map[string]any{"t": time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), "b": []byte("hi")}, "b: \"aGk=\"\nt: \"2026-01-02T03:04:05Z\"\n"},
		{"empty list top level", []string{}, "[]\n"},
	} {
		got, err := marshalYAML(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	v := map[string]string{"k": "<v>"}
	human := func(w io.Writer) error {
		_, err := io.WriteString(w, "k=<v>\n")
		return err
	}
	for _, tc := range []struct {
		f    format
		want string
	}{
		{formatHuman, "k=<v>\n"},
		{formatJSON, "{\n  \"k\": \"<v>\"\n}\n"},
		{formatYAML, "k: \"<v>\"\n"},
	} {
		got, err := render(tc.f, v, human)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q, %v; want %q", tc.f, got, err, tc.want)
		}
	}
	for in, want := range map[string]format{"human": formatHuman, "h": formatHuman, "plain": formatHuman, "p": formatHuman,
		"json": formatJSON, "j": formatJSON, "yaml": formatYAML, "y": formatYAML} {
		if got := parseFormat(in); got != want {
			t.Errorf("parseFormat(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestTableTrimsPadding(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	tw := table(&b)
	fmt.Fprintln(tw, "A\tBB\t")
	fmt.Fprintln(tw, "AAA\tB\tlast")
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if want := "A    BB\nAAA  B   last\n"; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}
