package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, format string
		level        slog.Level
		wantErr      string // substring; "" for none
		check        func(out string) bool
	}{
		{"json", "json", slog.LevelInfo, "", func(out string) bool {
			var m map[string]any
			return json.Unmarshal([]byte(out), &m) == nil && m["msg"] == "hello" && m["request_id"] == "r1" && m["level"] == "INFO"
		}},
		{"JSON in capitals", " JSON ", slog.LevelInfo, "", func(out string) bool { return strings.HasPrefix(out, "{") }},
		{"text", "text", slog.LevelInfo, "", func(out string) bool {
			return strings.Contains(out, "level=INFO msg=hello request_id=r1") && !strings.HasPrefix(out, "{")
		}},
		{"level drops info", "json", slog.LevelWarn, "", func(out string) bool { return out == "" }},
		{"empty format", "", slog.LevelInfo, "SPIKE_SYSTEM_LOG_FORMAT", nil},
		{"xml", "xml", slog.LevelInfo, `"xml": want json or text`, nil},
		{"logfmt", "logfmt", slog.LevelInfo, "--log-format", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			l, err := New(&buf, tc.format, tc.level)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || l != nil {
					t.Fatalf("New(%q) = %v, %v; want an error mentioning %q", tc.format, l, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Info("hello", "request_id", "r1")
			if !tc.check(buf.String()) {
				t.Fatalf("New(%q, %v) wrote %q", tc.format, tc.level, buf.String())
			}
		})
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want slog.Level
		ok   bool
	}{
		{"debug", slog.LevelDebug, true},
		{"INFO", slog.LevelInfo, true},
		{"Warn", slog.LevelWarn, true},
		{" error ", slog.LevelError, true},
		{"warn+2", slog.LevelWarn + 2, true},
		{"loud", 0, false},
		{"", 0, false},
		{"3", 0, false},
	} {
		got, err := ParseLevel(tc.in)
		switch {
		case tc.ok && (err != nil || got != tc.want):
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		case !tc.ok && (err == nil || !strings.Contains(err.Error(), EnvLevel)):
			t.Errorf("ParseLevel(%q) = %v, %v; want an error naming %s", tc.in, got, err, EnvLevel)
		}
	}
}

func TestLevelFromEnv(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) (string, bool) {
		return func(k string) (string, bool) {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1], true
				}
			}
			return "", false
		}
	}
	for _, tc := range []struct {
		name    string
		lookup  func(string) (string, bool)
		want    slog.Level
		wantErr bool
	}{
		{"unset: the default", env(), slog.LevelError, false},
		{"empty: the default", env(EnvLevel, ""), slog.LevelError, false},
		{"debug", env(EnvLevel, "debug"), slog.LevelDebug, false},
		{"WARN", env(EnvLevel, "WARN"), slog.LevelWarn, false},
		{"bad", env(EnvLevel, "verbose"), 0, true},
	} {
		got, err := LevelFromEnv(tc.lookup, slog.LevelError)
		if tc.wantErr {
			// The interactive programs have no --log-level: the error
			// names the variable only.
			if err == nil || !strings.Contains(err.Error(), EnvLevel) || strings.Contains(err.Error(), "--log-level") {
				t.Errorf("%s: %v, %v; want an error naming %s only", tc.name, got, err, EnvLevel)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}

func TestFlagsCheck(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		f       Flags
		want    Settings
		wantErr string
	}{
		{"defaults", Flags{LogLevel: "info", LogFormat: "json"}, Settings{slog.LevelInfo, FormatJSON}, ""},
		{"text debug", Flags{LogLevel: "DEBUG", LogFormat: "Text"}, Settings{slog.LevelDebug, FormatText}, ""},
		{"bad level", Flags{LogLevel: "chatty", LogFormat: "json"}, Settings{}, EnvLevel},
		{"bad format", Flags{LogLevel: "info", LogFormat: "yaml"}, Settings{}, EnvFormat},
	} {
		got, err := tc.f.Check()
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: %v, %v; want an error naming %s", tc.name, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v, %v; want %+v", tc.name, got, err, tc.want)
		}
	}
}

func TestSettingsNew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		s    Settings
		json bool
	}{
		{"json", Settings{Format: FormatJSON}, true},
		{"text", Settings{Format: FormatText}, false},
		{"zero is json", Settings{}, true},
	} {
		var buf bytes.Buffer
		tc.s.New(&buf).Info("x")
		if got := json.Valid(buf.Bytes()); got != tc.json {
			t.Errorf("%s: wrote %q, JSON %v, want %v", tc.name, buf.String(), got, tc.json)
		}
	}
}
