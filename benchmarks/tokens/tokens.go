// Package tokens estimates token counts without a tokenizer. servelab runs
// offline and against many models, so it cannot load each model's
// tokenizer; when a server reports usage.prompt_tokens the benchmark uses
// that, and otherwise this estimate (recorded as input_tokens_source
// "approx"). The simulator uses the same function for its usage numbers, so
// both sides agree exactly against a sim.
//
// The rule, applied to maximal runs of characters:
//   - each Han, Hiragana, Katakana or Hangul character: 1 token;
//   - a run of Latin letters: ⌈runes/5⌉ tokens (most English words are one
//     BPE token, long ones two or three);
//   - a run of letters of any other script (Cyrillic, Greek, Arabic,
//     Devanagari, ...), combining marks included: ⌈runes/3⌉ tokens;
//   - a run of digits: ⌈digits/3⌉ tokens (Llama-3-style number splitting);
//   - every other character that is not white space (punctuation, symbols,
//     emoji): 1 token; white space: 0.
//
// It is a documented approximation, typically within ±30 % of real BPE
// tokenizers on natural text; compare engines by the same estimate, never
// against a real tokenizer's count.
package tokens

import "unicode"

type class int

const (
	none class = iota
	latin
	otherScript
	digit
)

// Approx returns the estimated token count of s.
func Approx(s string) int {
	n := 0
	run, runLen := none, 0
	flush := func() {
		switch run {
		case latin:
			n += (runLen + 4) / 5
		case otherScript:
			n += (runLen + 2) / 3
		case digit:
			n += (runLen + 2) / 3
		}
		run, runLen = none, 0
	}
	for _, r := range s {
		var c class
		switch {
		case r < 0x80 && ('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'):
			c = latin
		case r < 0x80 && '0' <= r && r <= '9':
			c = digit
		case r < 0x80:
			flush()
			if r > ' ' && r != 0x7f {
				n++ // ASCII punctuation
			}
			continue
		case unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul):
			flush()
			n++
			continue
		case unicode.Is(unicode.Latin, r):
			c = latin
		case unicode.IsDigit(r):
			c = digit
		case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r):
			if run == latin && (unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)) {
				c = latin // combining accent on a Latin letter
			} else {
				c = otherScript
			}
		case unicode.IsSpace(r):
			flush()
			continue
		default:
			flush()
			n++
			continue
		}
		if c != run {
			flush()
			run = c
		}
		runLen++
	}
	flush()
	return n
}
