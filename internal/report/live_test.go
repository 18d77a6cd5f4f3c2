package report

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

// TestReportOfALiveBench runs the real bench against an in-process sim,
// writes its JSON as `servelab bench` does, and reports it next to the
// recorded stack output: every run is a row carrying the run's own numbers.
func TestReportOfALiveBench(t *testing.T) {
	t.Parallel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sim.New(sim.Config{Flavour: engine.VLLM, Model: "live-model", TTFT: 2 * time.Millisecond, ITL: time.Millisecond,
		MaxOutputTokens: 8, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })

	runs, err := benchmarks.Run(context.Background(), benchmarks.Config{
		Targets:        []benchmarks.Target{{Label: "vllm-sim", BaseURL: ts.URL, Model: "live-model", Engine: "sim"}},
		Endpoint:       benchmarks.EndpointChat,
		Dataset:        dataset.Spec{Kind: dataset.Multilingual, NumPrompts: 12, Seed: 3, OutputLen: 6},
		MaxConcurrency: []int{1, 4},
		RequestRates:   []float64{math.Inf(1)},
		Goodput:        map[string]float64{"ttft": 1000},
		Logger:         quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "live.json")
	var buf bytes.Buffer
	if err := benchmarks.Write(&buf, benchmarks.FormatJSON, runs, false); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var md bytes.Buffer
	if err := Run(Options{Files: []string{path, stackFile}}, &md); err != nil {
		t.Fatal(err)
	}
	out := md.String()
	for _, r := range runs {
		p99, _ := r.TTFT.At(99)
		row := fmt.Sprintf("| live/vllm-sim | %d | inf | 1 | %d | %d | %s | %s | %s | %s | %s |", *r.MaxConcurrency, r.Completed, r.Failed,
			num(r.RequestThroughput), num(*r.RequestGoodput), num(r.OutputThroughput), num(r.TTFT.Median), num(p99))
		if !strings.Contains(out, row) {
			t.Errorf("report lacks the row %q", row)
		}
		if r.Completed != 12 {
			t.Errorf("run at %d completed %d of 12", *r.MaxConcurrency, r.Completed)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("| live/vllm-sim | %s | bench result | sim | live-model | - | - | 0.1.0 | multilingual | 3 | %s |", path, runs[0].DatasetSHA256[:12]),
		"| rtx5090/vllm | " + stackFile + " | stack output |",
		"| rtx5090 | vllm | 4 | inf |", // gateway overhead from the stack output
		"| live/vllm-sim | 4 | inf | ja |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}
