package benchmarks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The engine series that give the KV-cache capacity.
const (
	// VLLMCacheConfigInfo is vLLM's info gauge; its labels num_gpu_blocks
	// and block_size multiply to the capacity in tokens.
	VLLMCacheConfigInfo = "vllm:cache_config_info"
	// SGLangMaxTotalNumTokens is SGLang's gauge of its KV pool in tokens.
	SGLangMaxTotalNumTokens = "sglang:max_total_num_tokens"
)

// maxMetricsBody bounds the metrics page read (engines serve tens of KiB).
const maxMetricsBody = 8 << 20

// ErrNoKVCapacity is returned for a metrics page without a usable
// capacity series.
var ErrNoKVCapacity = errors.New("no KV-cache capacity series (" + VLLMCacheConfigInfo + " or " + SGLangMaxTotalNumTokens + ")")

// KVCacheCapacity reads an engine's Prometheus page at metricsURL and
// returns its KV-cache capacity in tokens: vLLM's num_gpu_blocks ×
// block_size (labels of vllm:cache_config_info), or SGLang's
// sglang:max_total_num_tokens. With several series (one per engine or
// rank) it takes the largest. No credential is sent.
func KVCacheCapacity(ctx context.Context, client *http.Client, metricsURL string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read metrics: %s", transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read metrics: %s", statusError(resp))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, maxMetricsBody))
	if err != nil {
		return 0, fmt.Errorf("parse metrics: %w", err)
	}
	return kvCapacityOf(fams)
}

func kvCapacityOf(fams map[string]*dto.MetricFamily) (int64, error) {
	best := int64(-1)
	if f := fams[VLLMCacheConfigInfo]; f != nil {
		for _, m := range f.GetMetric() {
			var blocks, size int64 = -1, -1
			for _, l := range m.GetLabel() {
				n, err := strconv.ParseInt(l.GetValue(), 10, 64)
				if err != nil {
					continue // "None" before the engine has sized its cache
				}
				switch l.GetName() {
				case "num_gpu_blocks":
					blocks = n
				case "block_size":
					size = n
				}
			}
			if blocks > 0 && size > 0 && blocks <= math.MaxInt64/size {
				best = max(best, blocks*size)
			}
		}
	}
	if f := fams[SGLangMaxTotalNumTokens]; f != nil {
		for _, m := range f.GetMetric() {
			if v := m.GetGauge().GetValue(); v > 0 && v < math.MaxInt64 {
				best = max(best, int64(v))
			}
		}
	}
	if best <= 0 {
		return 0, ErrNoKVCapacity
	}
	return best, nil
}
