package retained_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/retained"
)

func TestFromExport(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/export.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	items, err := retained.FromExport(f)
	if err != nil {
		t.Fatal(err)
	}
	want := []retained.Item{
		{Host: "gpu1", DockerHost: "ssh://lab@gpu1:22", Kind: "volume", Name: "servelab-sim-ollama-models"},
		{Host: "local", Kind: "image", Name: "docker.io/prom/prometheus:v3.7.3"},
		{Host: "local", Kind: "image", Name: "localhost/servelab:0.1.0-3f2a9c1d0e4b"},
		{Host: "local", Kind: "volume", Name: "servelab-sim-prometheus-data"},
	}
	if !slices.Equal(items, want) {
		t.Errorf("items\n got %+v\nwant %+v", items, want)
	}
	if got := items[0].Remove(); got != "DOCKER_HOST=ssh://lab@gpu1:22 docker volume rm servelab-sim-ollama-models" {
		t.Errorf("remove %q", got)
	}
	if got := items[1].Remove(); got != "docker image rm docker.io/prom/prometheus:v3.7.3" {
		t.Errorf("remove %q", got)
	}

	for _, bad := range []string{"not json", `{"deployment":{"resources":[{"urn":"u","type":"docker:index/volume:Volume","retainOnDelete":true,"outputs":{"name":"v"},"provider":"p::1"}]}}`} {
		if _, err := retained.FromExport(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// `make destroy` exports the state, destroys, then prints what it left
// behind; a failed destroy prints no list. The Pulumi CLI is a stand-in
// that answers from the fixture.
func TestMakeDestroyPrintsWhatItLeft(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	fixture, err := filepath.Abs("testdata/export.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "pulumi")
	script := `#!/bin/sh
case "$1 $2" in
"stack select") exit 0 ;;
"stack export") cat "$FIXTURE"; exit 0 ;;
"destroy --stack") echo "Destroying (sim):"; exit "${DESTROY_EXIT:-0}" ;;
esac
echo "fake pulumi: unexpected $*" >&2
exit 2
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(destroyExit string) (string, error) {
		cmd := exec.Command("make", "--no-print-directory", "-C", "../..", "destroy", "STACK=sim", "PULUMI="+fake, "STATE_DIR="+filepath.Join(dir, "state"))
		cmd.Env = append(os.Environ(), "FIXTURE="+fixture, "DESTROY_EXIT="+destroyExit, "PULUMI_CONFIG_PASSPHRASE=test-only")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("0")
	if err != nil {
		t.Fatalf("make destroy: %v\n%s", err, out)
	}
	for _, want := range []string{
		"destroy kept 4 item(s) on purpose",
		"gpu1 (ssh://lab@gpu1:22) volume servelab-sim-ollama-models",
		"DOCKER_HOST=ssh://lab@gpu1:22 docker volume rm servelab-sim-ollama-models",
		"local (local Docker) volume servelab-sim-prometheus-data",
		"docker image rm localhost/servelab:0.1.0-3f2a9c1d0e4b",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hf-cache") {
		t.Errorf("a deleted volume is listed:\n%s", out)
	}
	out, err = run("1")
	if err == nil || strings.Contains(out, "destroy kept") {
		t.Errorf("a failed destroy: err %v, output:\n%s", err, out)
	}
}
