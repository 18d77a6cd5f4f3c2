package stackfile_test

import (
	"bytes"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/internal/stackfile"
)

func shippedStacks(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../stacks/Pulumi.*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no stack files: %v", err)
	}
	return paths
}

// TestUserSecretsAreLeftOut: every shipped stack file, with a user's salt
// and secret added, reads as the same config and cleans to a file without
// them that reads the same too; a shipped file is returned as is.
func TestUserSecretsAreLeftOut(t *testing.T) {
	for _, path := range shippedStacks(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The file as shipped (this checkout's may hold its user's salt
			// and secrets: the test must pass there too).
			shipped, _, err := stackfile.Clean(raw)
			if err != nil {
				t.Fatal(err)
			}
			want, err := stackfile.Config(shipped)
			if err != nil {
				t.Fatalf("shipped file: %v", err)
			}
			if clean, removed, err := stackfile.Clean(shipped); err != nil || !bytes.Equal(clean, shipped) || removed != nil {
				t.Errorf("Clean of a file without salt or secrets changed it (removed %v, err %v)", removed, err)
			}

			user := pulumitest.WithUserSecrets(t, path)
			got, err := stackfile.Config(user)
			if err != nil {
				t.Fatalf("with a user's salt and secret: %v", err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("config with a user's salt and secret differs:\n got %v\nwant %v", got, want)
			}
			clean, removed, err := stackfile.Clean(user)
			if err != nil {
				t.Fatal(err)
			}
			if w := []string{"config.servelab:hfToken", "encryptionsalt"}; !slices.Equal(removed, w) {
				t.Errorf("removed %v, want %v", removed, w)
			}
			for _, s := range []string{"encryptionsalt", "secure:", "v1:"} {
				if bytes.Contains(clean, []byte(s)) {
					t.Errorf("cleaned file still holds %q:\n%s", s, clean)
				}
			}
			again, err := stackfile.Config(clean)
			if err != nil || !maps.Equal(again, want) {
				t.Errorf("cleaned file reads %v (err %v), want %v", again, err, want)
			}
			// Comments survive: the shipped file's first line is one.
			first, _, _ := strings.Cut(string(shipped), "\n")
			if strings.HasPrefix(first, "#") && !strings.Contains(string(clean), first) {
				t.Errorf("cleaned file lost the comment %q", first)
			}
		})
	}
}

// TestSecureValuesAnywhere: secure values inside structured config (`pulumi
// config set --secret --path`) and in lists go too, and so do other
// secrets providers' keys.
func TestSecureValuesAnywhere(t *testing.T) {
	in := `secretsprovider: awskms://alias/servelab
encryptedkey: ZW5jcnlwdGVk
config:
  servelab:program: compare
  servelab:benchmark:
    enabled: true
    apiKey:
      secure: v1:aaaa:bbbb
  servelab:list:
    - plain
    - secure: v1:cccc:dddd
    - {secure: "v1:eeee:ffff"}
  servelab:notSecret:
    secure: v1:gggg:hhhh
    other: kept
`
	clean, removed, err := stackfile.Clean([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"secretsprovider", "encryptedkey", "config.servelab:benchmark.apiKey", "config.servelab:list[1]", "config.servelab:list[2]"}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	cfg, err := stackfile.Config([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := map[string]string{
		"servelab:program":   "compare",
		"servelab:benchmark": `{"enabled":true}`,
		"servelab:list":      `["plain"]`,
		"servelab:notSecret": `{"other":"kept","secure":"v1:gggg:hhhh"}`,
	}
	if !maps.Equal(cfg, wantCfg) {
		t.Errorf("config %v, want %v\ncleaned:\n%s", cfg, wantCfg, clean)
	}
}

func TestBadFiles(t *testing.T) {
	for _, in := range []string{"- a list\n", "config: [\n"} {
		if _, _, err := stackfile.Clean([]byte(in)); err == nil {
			t.Errorf("Clean(%q): no error", in)
		}
	}
	if cfg, err := stackfile.Config(nil); err != nil || len(cfg) != 0 {
		t.Errorf("empty file: %v, %v", cfg, err)
	}
}
