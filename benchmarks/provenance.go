package benchmarks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/version"
)

// Provenance records what produced a set of runs, at the top of the
// {"runs":[...]} document: the servelab build, the exact workload and its
// fingerprint. Two documents with equal provenance ran the same requests
// with the same binary.
type Provenance struct {
	// ServelabVersion is the servelab release.
	ServelabVersion string `json:"servelab_version"`
	// BinarySHA256 is the hex SHA-256 of the servelab executable that ran
	// the bench ("" when it could not be read).
	BinarySHA256 string `json:"binary_sha256"`
	// DatasetHash is the sampled workload's fingerprint (every Result's
	// dataset_sha256).
	DatasetHash string `json:"dataset_hash"`
	// Seed seeds the workload sampling and the arrival process.
	Seed int64 `json:"seed"`
	// Workload is every setting that shapes the requests and the load.
	Workload Workload `json:"workload"`
}

// Workload is the benchmark's load, as configured.
type Workload struct {
	Dataset     string `json:"dataset"`
	DatasetPath string `json:"dataset_path,omitempty"`
	NumPrompts  int    `json:"num_prompts"`
	// Endpoint is the request shape: chat or completions.
	Endpoint string `json:"endpoint"`
	// MaxConcurrency lists the levels swept; 0 = unlimited.
	MaxConcurrency []int   `json:"max_concurrency"`
	RequestRates   []Rate  `json:"request_rates"`
	Burstiness     float64 `json:"burstiness"`
	// InputLen, OutputLen and RangeRatio are the random dataset's lengths;
	// for the other datasets OutputLen is the max_tokens override (0 keeps
	// each prompt's).
	InputLen    int     `json:"input_len,omitempty"`
	OutputLen   int     `json:"output_len,omitempty"`
	RangeRatio  float64 `json:"range_ratio,omitempty"`
	Warmup      Warmup  `json:"warmup"`
	Repeats     int     `json:"repeats"`
	IgnoreEOS   bool    `json:"ignore_eos"`
	Temperature float64 `json:"temperature"`
}

// Warmup is a warm-up setting: a number of requests, or WarmupAuto, which
// encodes as the JSON string "auto".
type Warmup int

// MarshalJSON writes a number, or "auto".
func (w Warmup) MarshalJSON() ([]byte, error) {
	if w == WarmupAuto {
		return []byte(`"auto"`), nil
	}
	return []byte(strconv.Itoa(int(w))), nil
}

// UnmarshalJSON reads a number, or "auto".
func (w *Warmup) UnmarshalJSON(b []byte) error {
	if string(b) == `"auto"` {
		*w = WarmupAuto
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("warmup: want a number or \"auto\": %w", err)
	}
	*w = Warmup(n)
	return nil
}

// NewProvenance describes cfg's workload (loading its dataset for the
// fingerprint) with cfg.BinarySHA256.
func NewProvenance(cfg Config) (Provenance, error) {
	cfg.withDefaults()
	reqs, err := dataset.Load(cfg.Dataset)
	if err != nil {
		return Provenance{}, err
	}
	kind, _, err := ParseEndpoint(cfg.Endpoint)
	if err != nil {
		return Provenance{}, fmt.Errorf("--endpoint: %w", err)
	}
	w := Workload{
		Dataset: cfg.Dataset.Kind, DatasetPath: cfg.Dataset.Path, NumPrompts: cfg.Dataset.NumPrompts,
		Endpoint: kind, MaxConcurrency: cfg.MaxConcurrency, Burstiness: cfg.Burstiness,
		OutputLen: cfg.Dataset.OutputLen, Warmup: Warmup(cfg.Warmup), Repeats: cfg.Repeats,
		IgnoreEOS: cfg.IgnoreEOS, Temperature: cfg.Temperature,
	}
	for _, r := range cfg.RequestRates {
		w.RequestRates = append(w.RequestRates, Rate(r))
	}
	if cfg.Dataset.Kind == dataset.Random {
		w.InputLen, w.OutputLen, w.RangeRatio = cfg.Dataset.RandomInputLen, cfg.Dataset.RandomOutputLen, cfg.Dataset.RandomRangeRatio
	}
	return Provenance{
		ServelabVersion: version.Version,
		BinarySHA256:    cfg.BinarySHA256,
		DatasetHash:     dataset.SHA256(reqs),
		Seed:            cfg.Dataset.Seed,
		Workload:        w,
	}, nil
}

// ExecutableSHA256 returns the hex SHA-256 of the running executable.
func ExecutableSHA256() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	f, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("hash own executable: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash own executable: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
