// Package shellquote builds POSIX shell command lines from argv lists.
//
// pulumi-command's remote Command takes its `create` as one string run by the
// remote user's shell; there is no argv form. Every command servelab runs that
// way is built here, from fixed words and config-derived values, each quoted
// so that the shell sees exactly the argv the caller wrote.
package shellquote

import "strings"

// Quote returns s as one shell word. Words made only of characters the shell
// never interprets are returned bare, for readable previews; everything else
// is wrapped in single quotes, and each single quote inside becomes
//
//	'\''
//
// (close the quoted part, an escaped quote, reopen it).
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if isSafe(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Join quotes each element of argv and joins them with spaces.
func Join(argv ...string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(a))
	}
	return b.String()
}

// Pipeline joins commands with " && ", so that each runs only if the previous
// one succeeded. Each command is an argv list, quoted by Join.
func Pipeline(cmds ...[]string) string {
	parts := make([]string, len(cmds))
	for i, c := range cmds {
		parts[i] = Join(c...)
	}
	return strings.Join(parts, " && ")
}

func isSafe(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-_./:,@%+", r):
		default:
			return false
		}
	}
	// '=' is not in the safe set: a bare "A=B" in first position would be a
	// variable assignment, not a word.
	return true
}

// ValidName reports whether s is a portable shell variable (and
// environment variable) name: a letter or underscore, then letters, digits
// and underscores.
func ValidName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
