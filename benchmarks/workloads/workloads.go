// Package workloads holds the benchmark workloads servelab ships, embedded
// in the binary.
package workloads

import _ "embed"

//go:embed multilingual.jsonl
var multilingual []byte

// Multilingual returns the multilingual prompt set: JSON lines
// {"language":"..","prompt":"..","max_tokens":N}, written for servelab, in
// 11 languages (en, zh, ja, ko, es, fr, de, ru, ar, hi, pt), short and long
// prompts in each. The caller must not modify the returned slice.
func Multilingual() []byte { return multilingual }
