package main

import (
	"time"

	"github.com/hashicorp/go-hclog"
)

// durations is poold's logger with every time.Duration value written as
// Go writes it ("1.5s", "250ms"). hclog's JSON format wrote a duration
// as its number of nanoseconds ("delay":104132632), a unit a log
// pipeline (jq, Loki, Elasticsearch) cannot guess; the text format
// already wrote "104.13ms", and still does. Sub-loggers keep the wrapper.
type durations struct{ hclog.Logger }

func withDurations(l hclog.Logger) hclog.Logger { return durations{l} }

// spell returns args with each time.Duration value as its string.
func spell(args []any) []any {
	var out []any
	for i, v := range args {
		d, ok := v.(time.Duration)
		if !ok || i%2 == 0 { // keys are at even positions
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = d.String()
	}
	if out == nil {
		return args
	}
	return out
}

func (l durations) Log(level hclog.Level, msg string, args ...any) {
	l.Logger.Log(level, msg, spell(args)...)
}
func (l durations) Trace(msg string, args ...any) { l.Logger.Trace(msg, spell(args)...) }
func (l durations) Debug(msg string, args ...any) { l.Logger.Debug(msg, spell(args)...) }
func (l durations) Info(msg string, args ...any)  { l.Logger.Info(msg, spell(args)...) }
func (l durations) Warn(msg string, args ...any)  { l.Logger.Warn(msg, spell(args)...) }
func (l durations) Error(msg string, args ...any) { l.Logger.Error(msg, spell(args)...) }

func (l durations) With(args ...any) hclog.Logger { return durations{l.Logger.With(spell(args)...)} }
func (l durations) Named(name string) hclog.Logger {
	return durations{l.Logger.Named(name)}
}
func (l durations) ResetNamed(name string) hclog.Logger {
	return durations{l.Logger.ResetNamed(name)}
}
