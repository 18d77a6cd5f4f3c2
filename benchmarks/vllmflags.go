package benchmarks

// VLLMFlag is how `servelab bench` treats one `vllm bench serve` flag.
type VLLMFlag struct {
	// Name is vLLM's flag, without dashes.
	Name string
	// Servelab is the servelab flag that does the same ("" when not
	// supported); when it equals Name the flag is accepted as is.
	Servelab string
	// Note says how it differs, or why it is not supported.
	Note string
}

// VLLMFlags lists every `vllm bench serve` flag (from vLLM's current
// sources; older releases have a subset) with servelab's treatment;
// docs/bench.md's table is checked against it.
func VLLMFlags() []VLLMFlag {
	const (
		noTokenizer = "servelab runs offline without a tokenizer: prompts are text, token counts come from usage"
		noMM        = "text generation only: no multimodal, audio, embedding or rerank workloads"
		noHF        = "no Hugging Face downloads: use --dataset jsonl or sharegpt with a local file"
	)
	return []VLLMFlag{
		{"seed", "seed", ""},
		{"num-prompts", "num-prompts", ""},
		{"dataset-name", "dataset", "alias; random, sharegpt and custom (= jsonl) as in vLLM, plus multilingual; other vLLM datasets are not supported"},
		{"dataset-path", "dataset-path", "a local file (sharegpt JSON or JSON lines)"},
		{"no-stream", "", "the dataset is always read whole (it is local)"},
		{"no-oversample", "", "datasets shorter than --num-prompts are repeated"},
		{"skip-chat-template", "", "prompts are sent as chat messages or raw prompts; templates are the server's"},
		{"enable-multimodal-chat", "", noMM},
		{"disable-shuffle", "", "non-random datasets are shuffled with --seed, so every target gets the same order"},
		{"trust-remote-code", "", noTokenizer},
		{"label", "label", "names the target in results (vLLM: the result file's prefix)"},
		{"backend", "backend", "openai-chat or openai (and vllm = openai); sets the endpoint's request shape"},
		{"endpoint-type", "backend", "alias (older vLLM name of --backend)"},
		{"base-url", "base-url", ""},
		{"host", "host", "with --port, gives http://HOST:PORT when --base-url is absent"},
		{"port", "port", "with --host"},
		{"endpoint", "endpoint", "a full path such as /v1/chat/completions, or chat / completions"},
		{"header", "", "headers on the command line could carry secrets: use --api-key-env or --api-key-file for the key"},
		{"max-concurrency", "max-concurrency", "also takes a comma-separated sweep"},
		{"model", "model", "the served model name; default: the first model of /v1/models"},
		{"input-len", "random-input-len", "alias"},
		{"output-len", "output-len", "for random it sets --random-output-len, for other datasets it overrides max_tokens"},
		{"tokenizer", "", noTokenizer},
		{"tokenizer-mode", "", noTokenizer},
		{"skip-tokenizer-init", "", noTokenizer},
		{"use-beam-search", "", "sampling is the server's default apart from --temperature"},
		{"logprobs", "", "logprobs change the streamed chunks and are not measured"},
		{"request-rate", "request-rate", "also takes a comma-separated sweep"},
		{"burstiness", "burstiness", ""},
		{"probe-request-rate", "", "no side probe stream: run a second bench at a low rate instead"},
		{"disable-tqdm", "disable-tqdm", "= --progress none"},
		{"num-warmups", "warmup", "alias; servelab's default is auto (each level's concurrency), vLLM's 0"},
		{"profile", "", "vLLM's profiler endpoints are engine-specific"},
		{"save-result", "save-result", "writes the JSON document to --result-dir/--result-filename"},
		{"save-detailed", "save-detailed", ""},
		{"append-result", "", "each invocation writes its own file"},
		{"metadata", "", "record extra facts in the targets file or the stack instead"},
		{"result-dir", "result-dir", ""},
		{"result-filename", "result-filename", ""},
		{"ignore-eos", "ignore-eos", "off by default (vLLM turns it on for the random dataset); refused for Ollama targets"},
		{"self-timed", "", "no trace replay: arrivals come from --request-rate and --burstiness"},
		{"percentile-metrics", "percentile-metrics", "accepted (ttft, tpot, itl, e2el); servelab always reports all four"},
		{"metric-percentiles", "percentiles", "alias; default 50,90,99 (vLLM: 99)"},
		{"goodput", "goodput", "space-separated (vLLM) or comma-separated pairs"},
		{"request-id-prefix", "", "servelab sends no request ids"},
		{"top-p", "", "only --temperature is sent; other sampling parameters stay the server's defaults"},
		{"top-k", "", "only --temperature is sent"},
		{"min-p", "", "only --temperature is sent"},
		{"temperature", "temperature", "default 0 (vLLM: the server's default)"},
		{"frequency-penalty", "", "only --temperature is sent"},
		{"presence-penalty", "", "only --temperature is sent"},
		{"repetition-penalty", "", "only --temperature is sent"},
		{"served-model-name", "", "pass the served name as --model"},
		{"lora-modules", "", "one model per target: list LoRA adapters as targets with their --model"},
		{"lora-assignment", "", "see --lora-modules"},
		{"ramp-up-strategy", "", "no ramp-up: sweep --request-rate instead"},
		{"ramp-up-start-rps", "", "see --ramp-up-strategy"},
		{"ramp-up-end-rps", "", "see --ramp-up-strategy"},
		{"ready-check-timeout-sec", "", "the stack waits for readiness before benchmarking; by hand, run `servelab probe`"},
		{"chat-template-kwargs", "", "request bodies are fixed for comparability"},
		{"extra-body", "", "request bodies are fixed for comparability"},
		{"insecure", "", "TLS certificates are always verified"},
		{"plot-timeline", "", "use `servelab report` on the result"},
		{"timeline-itl-thresholds", "", "see --plot-timeline"},
		{"plot-dataset-stats", "", "use `servelab report` on the result"},
		{"custom-output-len", "output-len", "for --dataset custom or jsonl (-1 is not accepted: 0 keeps each prompt's max_tokens)"},
		{"sharegpt-output-len", "output-len", "for --dataset sharegpt"},
		{"spec-bench-output-len", "", "spec_bench is not supported"},
		{"spec-bench-category", "", "spec_bench is not supported"},
		{"sonnet-input-len", "", "sonnet is not supported"},
		{"sonnet-output-len", "", "sonnet is not supported"},
		{"sonnet-prefix-len", "", "sonnet is not supported"},
		{"blazedit-min-distance", "", noHF},
		{"blazedit-max-distance", "", noHF},
		{"asr-max-audio-len-sec", "", noMM},
		{"asr-min-audio-len-sec", "", noMM},
		{"random-input-len", "random-input-len", "lengths in approximate tokens (words)"},
		{"random-output-len", "random-output-len", ""},
		{"random-range-ratio", "random-range-ratio", ""},
		{"random-prefix-len", "", "no shared prefix in the random dataset"},
		{"random-batch-size", "", noMM},
		{"no-reranker", "", noMM},
		{"random-mm-base-items-per-request", "", noMM},
		{"random-mm-num-mm-items-range-ratio", "", noMM},
		{"random-mm-limit-mm-per-prompt", "", noMM},
		{"random-mm-bucket-config", "", noMM},
		{"hf-subset", "", noHF},
		{"hf-split", "", noHF},
		{"hf-name", "", noHF},
		{"hf-output-len", "", noHF},
		{"prefix-repetition-prefix-len", "", "prefix_repetition is not supported"},
		{"prefix-repetition-suffix-len", "", "prefix_repetition is not supported"},
		{"prefix-repetition-num-prefixes", "", "prefix_repetition is not supported"},
		{"prefix-repetition-output-len", "", "prefix_repetition is not supported"},
	}
}
