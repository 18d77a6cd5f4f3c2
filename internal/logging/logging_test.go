package logging_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/logging"
)

func TestFormatsAndValues(t *testing.T) {
	t.Parallel()
	var js, txt bytes.Buffer
	jl, err := logging.New(&js, logging.JSON, "info")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := logging.New(&txt, logging.Text, "warn")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []interface{ Info(string, ...any) }{jl, tl} {
		l.Info("hello", "ttft", 1500*time.Millisecond, "throughput", 1234.56789, "small", 0.000123456, "n", 3)
	}
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatalf("json log %q: %v", js.String(), err)
	}
	if rec["ttft"] != "1.5s" || rec["throughput"] != 1234.568 || rec["small"] != 0.000123 || rec["n"] != 3.0 || rec["msg"] != "hello" {
		t.Errorf("json record %v", rec)
	}
	if txt.Len() != 0 {
		t.Errorf("info logged at level warn: %q", txt.String())
	}
	tl.Warn("w", "d", time.Second)
	if !strings.Contains(txt.String(), "level=WARN") || !strings.Contains(txt.String(), "d=1s") {
		t.Errorf("text record %q", txt.String())
	}
}

func TestBadValues(t *testing.T) {
	t.Parallel()
	if _, err := logging.New(nil, "xml", "info"); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Errorf("bad format: %v", err)
	}
	if _, err := logging.New(nil, logging.JSON, "loud"); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Errorf("bad level: %v", err)
	}
}
