package frameworkspec

// Engine-specific arguments, as written under `args:` of a framework in a
// stack file. Each is decoded strictly for its engine, so a key that belongs
// to another engine is reported, not ignored. Zero values mean "engine
// default" unless a field says otherwise.

// VLLMArgs are `vllm serve` options servelab types and documents.
type VLLMArgs struct {
	// MaxModelLen caps the context (--max-model-len); 0 = the model's own.
	MaxModelLen int `json:"maxModelLen,omitempty"`
	// MaxNumSeqs caps concurrently decoded sequences (--max-num-seqs).
	MaxNumSeqs int `json:"maxNumSeqs,omitempty"`
	// Dtype of weights and activations (--dtype): auto|bfloat16|float16|float32.
	Dtype string `json:"dtype,omitempty"`
	// Quantization method (--quantization), e.g. fp8, awq, gptq.
	Quantization string `json:"quantization,omitempty"`
	// KVCacheDtype (--kv-cache-dtype): auto|fp8.
	KVCacheDtype string `json:"kvCacheDtype,omitempty"`
	// EnablePrefixCaching toggles --enable-prefix-caching /
	// --no-enable-prefix-caching; unset keeps vLLM's default (on).
	EnablePrefixCaching *bool `json:"enablePrefixCaching,omitempty"`
}

// SGLangArgs are `sglang.launch_server` options servelab types and documents.
type SGLangArgs struct {
	// ContextLength caps the context (--context-length); 0 = the model's own.
	ContextLength int `json:"contextLength,omitempty"`
	// MaxRunningRequests caps concurrent requests (--max-running-requests).
	MaxRunningRequests int `json:"maxRunningRequests,omitempty"`
	// ChunkedPrefillSize (--chunked-prefill-size).
	ChunkedPrefillSize int `json:"chunkedPrefillSize,omitempty"`
	// Dtype (--dtype): auto|bfloat16|float16.
	Dtype string `json:"dtype,omitempty"`
	// Quantization (--quantization), e.g. fp8, awq.
	Quantization string `json:"quantization,omitempty"`
	// DisableRadixCache turns off prefix caching (--disable-radix-cache).
	DisableRadixCache bool `json:"disableRadixCache,omitempty"`
}

// OllamaArgs become Ollama's environment (it takes no serve flags).
type OllamaArgs struct {
	// NumParallel is OLLAMA_NUM_PARALLEL: parallel requests per model.
	NumParallel int `json:"numParallel,omitempty"`
	// KeepAlive is OLLAMA_KEEP_ALIVE (e.g. "5m", "24h", "-1" for forever).
	KeepAlive string `json:"keepAlive,omitempty"`
	// MaxLoadedModels is OLLAMA_MAX_LOADED_MODELS.
	MaxLoadedModels int `json:"maxLoadedModels,omitempty"`
	// MaxQueue is OLLAMA_MAX_QUEUE: queued requests beyond it get 503.
	MaxQueue int `json:"maxQueue,omitempty"`
	// ContextLength is OLLAMA_CONTEXT_LENGTH.
	ContextLength int `json:"contextLength,omitempty"`
	// FlashAttention sets OLLAMA_FLASH_ATTENTION.
	FlashAttention *bool `json:"flashAttention,omitempty"`
	// KVCacheType is OLLAMA_KV_CACHE_TYPE: f16|q8_0|q4_0.
	KVCacheType string `json:"kvCacheType,omitempty"`
}

// LlamaCppArgs are llama-server options servelab types and documents.
type LlamaCppArgs struct {
	// CtxSize is the total context (-c), shared by the parallel slots.
	CtxSize int `json:"ctxSize,omitempty"`
	// Parallel is the number of slots (-np).
	Parallel int `json:"parallel,omitempty"`
	// GPULayers is -ngl; unset = all layers when the instance has GPUs, 0
	// on a CPU host.
	GPULayers *int `json:"gpuLayers,omitempty"`
	// Threads is -t; 0 = llama.cpp's default.
	Threads int `json:"threads,omitempty"`
	// FlashAttn is --flash-attn: on|off|auto.
	FlashAttn string `json:"flashAttn,omitempty"`
}

// SimArgs configure `servelab sim`, the simulated engine.
type SimArgs struct {
	// TTFT and ITL are Go durations ("50ms", "10ms").
	TTFT string `json:"ttft,omitempty"`
	ITL  string `json:"itl,omitempty"`
	// Jitter is the relative random spread of each delay (0.1 = ±10 %).
	Jitter float64 `json:"jitter,omitempty"`
	// Capacity is how many requests decode at once; more queue.
	Capacity int `json:"capacity,omitempty"`
	// StartupDelay is how long the sim stays not-ready after start.
	StartupDelay string `json:"startupDelay,omitempty"`
	// FailureRate is the share of requests answered with a 500.
	FailureRate float64 `json:"failureRate,omitempty"`
	// MaxOutputTokens is the completion length when a request sets none.
	MaxOutputTokens int `json:"maxOutputTokens,omitempty"`
	// Seed makes jitter and failures reproducible.
	Seed int64 `json:"seed,omitempty"`
	// LoadDelay (ollama flavour) is how long the lazy model load takes on
	// first use, as Ollama loads models.
	LoadDelay string `json:"loadDelay,omitempty"`
}

// EngineArgs holds the arguments of exactly one engine: the one named by the
// framework's engine kind.
type EngineArgs struct {
	VLLM     *VLLMArgs
	SGLang   *SGLangArgs
	Ollama   *OllamaArgs
	LlamaCpp *LlamaCppArgs
	Sim      *SimArgs
}
