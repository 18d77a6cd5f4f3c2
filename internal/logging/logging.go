// Package logging builds servelab's structured loggers (log/slog), so that
// every subcommand logs in one format chosen by --log-format (json, the
// default, or text) at a level chosen by --log-level, with the same value
// conventions: durations as strings ("1.5s"), floats rounded to three
// decimals (at least three significant digits).
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
)

// Formats of --log-format.
const (
	JSON = "json"
	Text = "text"
)

// Formats lists the accepted --log-format values.
var Formats = []string{JSON, Text}

// ParseLevel reads a --log-level value: debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// ValidFormat checks a --log-format value.
func ValidFormat(format string) error {
	if format != JSON && format != Text {
		return fmt.Errorf("--log-format %q: want json or text", format)
	}
	return nil
}

// Handler returns a handler writing format to w at level.
func Handler(w io.Writer, format string, level slog.Leveler) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: replace}
	switch format {
	case JSON:
		return slog.NewJSONHandler(w, opts), nil
	case Text:
		return slog.NewTextHandler(w, opts), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

// New returns a logger writing format to w at the named level.
func New(w io.Writer, format, level string) (*slog.Logger, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	h, err := Handler(w, format, l)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// replace writes durations as strings and rounds floats.
func replace(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		return slog.String(a.Key, a.Value.Duration().String())
	case slog.KindFloat64:
		return slog.Float64(a.Key, Round(a.Value.Float64()))
	}
	return a
}

// Round keeps three decimals of x, or three significant digits when |x|
// is below 0.1, so log values stay readable without losing small ones.
func Round(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	if math.Abs(x) >= 0.1 {
		return math.Round(x*1000) / 1000
	}
	v, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	if err != nil {
		return x
	}
	return v
}
