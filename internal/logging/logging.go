package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// The formats New writes.
const (
	// FormatJSON is one JSON object a line: slog's JSONHandler.
	FormatJSON = "json"
	// FormatText is slog's key=value TextHandler.
	FormatText = "text"
)

// The environment variables every program reads, besides the flags of
// Flags.
const (
	EnvLevel  = "SPIKE_SYSTEM_LOG_LEVEL"
	EnvFormat = "SPIKE_SYSTEM_LOG_FORMAT"
)

// New returns a logger writing format ("json" or "text", any case) to w,
// dropping records below level. Any other format is an error naming the
// setting.
func New(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if f == FormatText {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}

// ParseFormat returns s as FormatJSON or FormatText, or an error naming
// the setting and the values it takes.
func ParseFormat(s string) (string, error) {
	switch f := strings.ToLower(strings.TrimSpace(s)); f {
	case FormatJSON, FormatText:
		return f, nil
	}
	return "", fmt.Errorf("log format (--log-format, %s) %q: want json or text", EnvFormat, s)
}

// ParseLevel reads a level as slog writes it: debug, info, warn or error,
// in any case, optionally with an offset (warn+2). Anything else is an
// error naming the setting.
func ParseLevel(s string) (slog.Level, error) {
	l, ok := parseLevel(s)
	if !ok {
		return 0, fmt.Errorf("log level (--log-level, %s) %q: want debug, info, warn or error", EnvLevel, s)
	}
	return l, nil
}

func parseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	err := l.UnmarshalText([]byte(strings.TrimSpace(s)))
	return l, err == nil
}

// LevelFromEnv returns the level SPIKE_SYSTEM_LOG_LEVEL names, read
// through lookup (os.LookupEnv in production), or def when it is unset or
// empty. It is how the interactive programs, which take no --log-level,
// pick their level.
func LevelFromEnv(lookup func(string) (string, bool), def slog.Level) (slog.Level, error) {
	v, ok := lookup(EnvLevel)
	if !ok || strings.TrimSpace(v) == "" {
		return def, nil
	}
	l, ok := parseLevel(v)
	if !ok {
		return 0, fmt.Errorf("log level (%s) %q: want debug, info, warn or error", EnvLevel, v)
	}
	return l, nil
}

// Flags are the logging settings of a server's command line, for
// embedding in a kong struct: JSON at info unless told otherwise.
type Flags struct {
	LogLevel  string `name:"log-level" env:"SPIKE_SYSTEM_LOG_LEVEL" default:"info" help:"Log level: debug, info, warn or error."`
	LogFormat string `name:"log-format" env:"SPIKE_SYSTEM_LOG_FORMAT" default:"json" help:"Log format: json (one object a line) or text (key=value)."`
}

// Settings is a checked Flags.
type Settings struct {
	Level  slog.Level
	Format string
}

// Check parses both settings; its error names the one that is wrong.
func (f Flags) Check() (Settings, error) {
	level, err := ParseLevel(f.LogLevel)
	if err != nil {
		return Settings{}, err
	}
	format, err := ParseFormat(f.LogFormat)
	if err != nil {
		return Settings{}, err
	}
	return Settings{Level: level, Format: format}, nil
}

// New returns the logger s describes, writing to w.
func (s Settings) New(w io.Writer) *slog.Logger {
	l, err := New(w, s.Format, s.Level)
	if err != nil {
		// A zero Settings (no format) is JSON, as the servers default.
		l, _ = New(w, FormatJSON, s.Level)
	}
	return l
}
