package stackconfig

import (
	"slices"
	"strings"
	"unicode"

	"github.com/servelab/servelab/internal/shellquote"
)

// secretEnv are variables that hold the Hugging Face token: it must come
// from the Pulumi secret servelab:hfToken.
var secretEnv = []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH"}

// credentialLike reports whether an environment variable's name says it
// holds a credential: *_API_KEY, or a word containing TOKEN, SECRET,
// PASSWORD or PASSWD (TOKENIZERS_PARALLELISM and other tokenizer settings
// are not credentials). A stack file is plain text: such a value belongs
// in a Pulumi secret, and engines get none through env.
func credentialLike(name string) bool {
	n := strings.ToUpper(name)
	if n == "API_KEY" || strings.HasSuffix(n, "_API_KEY") || strings.HasSuffix(n, "APIKEY") {
		return true
	}
	for _, w := range strings.FieldsFunc(n, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if strings.HasPrefix(w, "TOKENIZER") || w == "TOKENS" {
			continue
		}
		for _, s := range []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD"} {
			if strings.Contains(w, s) {
				return true
			}
		}
	}
	return false
}

// env checks a framework's extra environment: names are shell-safe, and
// nothing in it is a credential.
func (v *validator) env(p string, f *Framework) bool {
	ok := true
	for _, k := range sortedKeys(f.Env) {
		switch {
		case !shellquote.ValidName(k):
			v.errorf(p+".env."+k, "is not a valid environment variable name")
			ok = false
		case slices.Contains(secretEnv, strings.ToUpper(k)):
			v.errorf(p+".env."+k, "is a credential: set it with `pulumi config set --secret servelab:hfToken` instead")
			ok = false
		case credentialLike(k):
			v.errorf(p+".env."+k, "is named like a credential, and a stack file is plain text: engines get no secret through env (the Hugging Face token is servelab:hfToken, set with --secret; engine API keys are generated)")
			ok = false
		}
	}
	return ok
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// modelName checks a model reference or served name that goes into argv
// as a value: a leading "-" would be read as a flag (vLLM's first
// positional, `ollama pull --help`).
func (v *validator) modelName(path, s string) bool {
	switch {
	case strings.HasPrefix(s, "-"):
		v.errorf(path, "%q starts with \"-\" and would be read as a flag", s)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		v.errorf(path, "%q holds white space or control characters", s)
	default:
		return true
	}
	return false
}
