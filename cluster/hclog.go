package cluster

import (
	"context"
	"io"
	"log"
	"log/slog"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"
)

// hcLogger is an hclog.Logger, which hashicorp/raft logs to, that writes
// to a slog.Logger. hclog's arguments are key/value pairs as slog's are,
// so they pass through; levels map to the nearest slog level (Trace is
// below Debug). Its level is the slog handler's, so SetLevel does nothing.
type hcLogger struct {
	logger *slog.Logger
	name   string
	args   []any
}

var _ hclog.Logger = (*hcLogger)(nil)

// levelTrace is slog's place for hclog's Trace, below Debug.
const levelTrace = slog.LevelDebug - 4

// NewHCLogger returns an hclog.Logger named name that logs to logger
// (slog.Default() if nil), for raft.Config.Logger and the transport.
func NewHCLogger(logger *slog.Logger, name string) hclog.Logger {
	if logger == nil {
		logger = slog.Default()
	}
	return &hcLogger{logger: logger, name: name}
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (l *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	lv := slogLevel(level)
	ctx := context.Background()
	if !l.logger.Enabled(ctx, lv) {
		return
	}
	all := make([]any, 0, 2+len(l.args)+len(args))
	if l.name != "" {
		all = append(all, "logger", l.name)
	}
	all = append(all, l.args...)
	l.logger.Log(ctx, lv, msg, append(all, args...)...)
}

func (l *hcLogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *hcLogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *hcLogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *hcLogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *hcLogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *hcLogger) enabled(level hclog.Level) bool {
	return l.logger.Enabled(context.Background(), slogLevel(level))
}

func (l *hcLogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *hcLogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *hcLogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *hcLogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *hcLogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *hcLogger) ImpliedArgs() []any { return slices.Clone(l.args) }

func (l *hcLogger) With(args ...any) hclog.Logger {
	return &hcLogger{logger: l.logger, name: l.name, args: append(slices.Clone(l.args), args...)}
}

func (l *hcLogger) Name() string { return l.name }

// Named appends name to the logger's name, as hclog does.
func (l *hcLogger) Named(name string) hclog.Logger {
	if l.name != "" {
		name = l.name + "." + name
	}
	return l.ResetNamed(name)
}

func (l *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{logger: l.logger, name: name, args: l.args}
}

// SetLevel does nothing: the slog handler decides what is logged.
func (l *hcLogger) SetLevel(hclog.Level) {}

// GetLevel reports the lowest hclog level the handler lets through.
func (l *hcLogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (l *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(l.StandardWriter(opts), "", 0)
}

// StandardWriter logs each line written at Info, or at opts.ForceLevel.
func (l *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return lineWriter{l: l, level: level}
}

type lineWriter struct {
	l     *hcLogger
	level hclog.Level
}

func (w lineWriter) Write(p []byte) (int, error) {
	w.l.Log(w.level, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
