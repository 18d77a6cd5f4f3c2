// Package mdlinks finds broken references in a repository's Markdown and
// Go comments: relative links to files that do not exist or #anchors that
// no heading of the target makes, and mentions of Markdown files (a path
// into the repository like docs/bench.md, or an upper-case name like
// README.md) that are not in it. Its test runs it over servelab's tree.
package mdlinks

import (
	"bufio"
	"bytes"
	"fmt"
	"go/scanner"
	"go/token"
	"io/fs"
	"iter"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Problem is one broken reference.
type Problem struct {
	File string // relative to the root, with slashes
	Line int
	Ref  string
	Why  string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Ref, p.Why)
}

// skipDirs are not part of the repository's documents: VCS data, build
// output (bin/, tools/bin/, a link to a shared build) and dependencies.
var skipDirs = []string{".git", "bin", "tools/bin", "node_modules", "vendor"}

// Check reads every Markdown file and every Go file under root and
// returns the broken references, in file order.
func Check(root string) ([]Problem, error) {
	c := &checker{root: root, anchors: map[string]map[string]bool{}}
	var problems []Problem
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := filepath.ToSlash(mustRel(root, p))
		if d.IsDir() {
			if rel != "." && slices.Contains(skipDirs, rel) || strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		switch {
		case strings.HasSuffix(rel, ".md"):
			ps, err := c.markdown(rel)
			problems = append(problems, ps...)
			return err
		case strings.HasSuffix(rel, ".go"):
			ps, err := c.goComments(rel)
			problems = append(problems, ps...)
			return err
		}
		return nil
	})
	return problems, err
}

type checker struct {
	root    string
	anchors map[string]map[string]bool // by file (relative), the anchors it has
}

var (
	// inlineLink is [text](target) or ![alt](target), with an optional
	// title; the text may hold one level of brackets.
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]+)>?(?:\s+"[^"]*")?\s*\)`)
	// refDef is a reference definition: [id]: target.
	refDef = regexp.MustCompile(`^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$`)
	// codeSpan is inline code (its content is not a link).
	codeSpan = regexp.MustCompile("`+[^`]*`+")
	// mention is a Markdown file named in prose or a comment.
	mention = regexp.MustCompile(`(?:^|[\s("'\x60\[])((?:\.{1,2}/|[A-Za-z0-9_-]+/)*[A-Za-z0-9_.-]+\.md)(#[A-Za-z0-9_-]+)?\b`)
)

// markdown checks the links and mentions of one Markdown file.
func (c *checker) markdown(rel string) ([]Problem, error) {
	lines, err := c.lines(rel)
	if err != nil {
		return nil, err
	}
	var ps []Problem
	for i, line := range prose(lines) {
		var refs []string
		m := refDef.FindStringSubmatch(line)
		if m != nil {
			refs = append(refs, m[1])
		}
		prose := codeSpan.ReplaceAllString(line, "")
		for _, m := range inlineLink.FindAllStringSubmatch(prose, -1) {
			refs = append(refs, m[1])
		}
		for _, ref := range refs {
			if why := c.link(rel, ref); why != "" {
				ps = append(ps, Problem{File: rel, Line: i + 1, Ref: ref, Why: why})
			}
		}
		if m == nil {
			ps = append(ps, c.mentions(rel, i+1, inlineLink.ReplaceAllString(line, ""))...)
		}
	}
	return ps, nil
}

// goComments checks the Markdown files Go comments mention.
func (c *checker) goComments(rel string) ([]Problem, error) {
	src, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	file := fset.AddFile(rel, -1, len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, scanner.ScanComments)
	var ps []Problem
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok != token.COMMENT {
			continue
		}
		line := fset.Position(pos).Line
		for i, l := range strings.Split(lit, "\n") {
			ps = append(ps, c.mentions(rel, line+i, l)...)
		}
	}
	return ps, nil
}

// mentions checks the Markdown files text names: paths into the
// repository (their first directory exists, or is "..") and upper-case
// names, relative to the file's directory or the root. Other names (a
// file a tool writes, a placeholder like DIR/x.md) are not references.
func (c *checker) mentions(rel string, line int, text string) []Problem {
	var ps []Problem
	for _, m := range mention.FindAllStringSubmatch(text, -1) {
		name, anchor := m[1], strings.TrimPrefix(m[2], "#")
		if !c.reference(rel, name) {
			continue
		}
		var why string
		for _, candidate := range []string{path.Join(path.Dir(rel), name), path.Clean(name)} {
			if why = c.target(candidate, anchor); why == "" {
				break
			}
		}
		if why != "" {
			ps = append(ps, Problem{File: rel, Line: line, Ref: name + m[2], Why: why})
		}
	}
	return ps
}

// reference reports whether a mentioned name is meant as a file of the
// repository.
func (c *checker) reference(rel, name string) bool {
	first, _, isPath := strings.Cut(strings.TrimPrefix(name, "./"), "/")
	if !isPath {
		stem := strings.TrimSuffix(name, ".md")
		return stem == strings.ToUpper(stem) && stem != strings.ToLower(stem)
	}
	if first == ".." {
		return true
	}
	for _, dir := range []string{path.Dir(rel), "."} {
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(dir), first)); err == nil {
			return true
		}
	}
	return false
}

// link checks one link target of file rel; "" when it resolves.
func (c *checker) link(rel, ref string) string {
	u, err := url.Parse(ref)
	if err != nil {
		return "not a URL: " + err.Error()
	}
	if u.Scheme != "" || u.Host != "" {
		return "" // external: not checked here
	}
	p, err := url.PathUnescape(u.Path)
	if err != nil {
		return err.Error()
	}
	target := rel
	switch {
	case p == "":
	case strings.HasPrefix(p, "/"):
		target = path.Clean(strings.TrimPrefix(p, "/"))
	default:
		target = path.Join(path.Dir(rel), p)
	}
	return c.target(target, u.Fragment)
}

// target checks that file (relative to the root) exists and, when anchor
// is not empty, that it is a Markdown file with that anchor.
func (c *checker) target(file, anchor string) string {
	if file == ".." || strings.HasPrefix(file, "../") {
		return "points outside the repository"
	}
	st, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(file)))
	if err != nil {
		return "no such file or directory " + file
	}
	if anchor == "" {
		return ""
	}
	if st.IsDir() || !strings.HasSuffix(file, ".md") {
		return "#" + anchor + " of a file that is not Markdown"
	}
	anchors, err := c.anchorsOf(file)
	if err != nil {
		return err.Error()
	}
	if !anchors[strings.ToLower(anchor)] {
		return "no heading of " + file + " has the anchor #" + anchor
	}
	return ""
}

// anchorsOf lists the anchors of a Markdown file: GitHub's heading slugs
// (duplicates numbered -1, -2, …) and explicit <a name|id="…">.
func (c *checker) anchorsOf(file string) (map[string]bool, error) {
	if a, ok := c.anchors[file]; ok {
		return a, nil
	}
	lines, err := c.lines(file)
	if err != nil {
		return nil, err
	}
	a := map[string]bool{}
	count := map[string]int{}
	for i, line := range prose(lines) {
		for _, m := range htmlAnchor.FindAllStringSubmatch(line, -1) {
			a[strings.ToLower(m[1])] = true
		}
		text, ok := heading(line)
		if !ok && i+1 < len(lines) && strings.TrimSpace(line) != "" && setext.MatchString(lines[i+1]) {
			text, ok = line, true
		}
		if !ok {
			continue
		}
		s := Slug(text)
		if n := count[s]; n > 0 {
			a[s+"-"+strconv.Itoa(n)] = true
		} else {
			a[s] = true
		}
		count[s]++
	}
	c.anchors[file] = a
	return a, nil
}

var (
	atxHeading = regexp.MustCompile(`^\s{0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$`)
	setext     = regexp.MustCompile(`^\s{0,3}(=+|-+)\s*$`)
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	htmlTag    = regexp.MustCompile(`<[^>]*>`)
	linkText   = regexp.MustCompile(`!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)`)
)

func heading(line string) (string, bool) {
	m := atxHeading.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Slug is GitHub's anchor for a heading's text: the rendered text (links
// as their text, code as its content, no HTML tags), lower-cased, without
// punctuation but '-' and '_', spaces made '-'.
func Slug(text string) string {
	text = linkText.ReplaceAllString(text, "$1")
	// Outside code spans, HTML tags are markup; inside, text.
	parts := strings.Split(text, "`")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = htmlTag.ReplaceAllString(parts[i], "")
	}
	text = strings.Join(parts, "")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// prose yields the lines outside fenced code blocks, with their index.
func prose(lines []string) iter.Seq2[int, string] {
	return func(yield func(int, string) bool) {
		fence := ""
		for i, line := range lines {
			if f := fenceOf(line); f != "" {
				switch {
				case fence == "":
					fence = f
				case strings.HasPrefix(f, fence[:1]) && len(f) >= len(fence):
					fence = ""
				}
				continue
			}
			if fence == "" && !yield(i, line) {
				return
			}
		}
	}
}

// fenceOf is the fence a line opens or closes (``` or ~~~, possibly
// longer), or "".
func fenceOf(line string) string {
	t := strings.TrimLeft(line, " ")
	if len(line)-len(t) > 3 {
		return ""
	}
	for _, ch := range []string{"`", "~"} {
		n := len(t) - len(strings.TrimLeft(t, ch))
		if n >= 3 {
			return t[:n]
		}
	}
	return ""
}

func (c *checker) lines(rel string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(rel)))
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out, sc.Err()
}

func mustRel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil {
		return p
	}
	return r
}
