package repotest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestStacksTableListsEveryStack: README's Stacks table has one row per
// stack file in stacks/, and no row for a stack that does not exist.
func TestStacksTableListsEveryStack(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Stacks\n")
	if !ok {
		t.Fatal("README.md has no \"## Stacks\" section")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var rows []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9-]+)` \\|").FindAllStringSubmatch(section, -1) {
		rows = append(rows, m[1])
	}
	files, err := filepath.Glob("../../stacks/Pulumi.*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var stacks []string
	for _, f := range files {
		stacks = append(stacks, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "Pulumi."), ".yaml"))
	}
	slices.Sort(rows)
	slices.Sort(stacks)
	if !slices.Equal(rows, stacks) {
		t.Errorf("README's Stacks table lists %v; stacks/ holds %v", rows, stacks)
	}
}
