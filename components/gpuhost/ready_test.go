package gpuhost_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/components/gpuhost"
)

// The readiness script copies a failed container's logs into the error
// `up` prints (and CI keeps). Engines log their own settings at start —
// SGLang its whole ServerArgs, api_key included; vLLM its non-default
// args — so credentials in those lines are masked, the rest kept.
func TestReadinessLogsMaskCredentials(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	fakeDocker := `#!/bin/sh
case "$1" in
inspect) echo "exited 0 1 none" ;;
logs) cat <<'LOG'
[2026-11-29 10:00:00] server_args=ServerArgs(model_path='Qwen/Qwen2.5-3B-Instruct', api_key='sglangkey123456', admin_api_key="adminkey987", port=30000)
INFO non-default args: {'model_tag': 'm', 'api_key': ['vllmkey555'], 'port': 8000}
llama-server --api-key llamakey777 --port 8080
api-key: yamlkey42
GET /v1/models Authorization: Bearer bearerkey31
token hf_abcdefghijklmnopqrstuvwxyz0123
RuntimeError: CUDA out of memory
LOG
;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeDocker), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-s", "--", "servelab-t-sglang", "60")
	cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(gpuhost.ReadyScript)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("an exited container passed")
	}
	out := stderr.String()
	for _, secret := range []string{"sglangkey123456", "adminkey987", "vllmkey555", "llamakey777", "yamlkey42", "bearerkey31", "hf_abcdefghijklmnopqrstuvwxyz0123"} {
		if strings.Contains(out, secret) {
			t.Errorf("the logs in the error hold %q:\n%s", secret, out)
		}
	}
	for _, kept := range []string{"is exited (exit code 1)", "model_path='Qwen/Qwen2.5-3B-Instruct'", "port=30000", "RuntimeError: CUDA out of memory", "end of servelab-t-sglang's logs"} {
		if !strings.Contains(out, kept) {
			t.Errorf("the error lacks %q:\n%s", kept, out)
		}
	}
}

// The readiness command runs again on a container that already ran for a
// while when its own inputs change (a new servelab): a container that
// restarted once long ago and is healthy now is ready; one that has
// restarted and is not healthy is the crash loop the check is for.
func TestReadinessOfAContainerThatRestartedBefore(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		state string
		ready bool
	}{
		{"running 0 0 healthy", true},
		{"running 2 0 healthy", true},
		{"running 1 0 starting", false},
		{"running 1 0 none", false},
		{"running 0 0 none", true},
		{"restarting 3 1 starting", false},
	} {
		bin := t.TempDir()
		fakeDocker := "#!/bin/sh\ncase \"$1\" in\ninspect) echo '" + tt.state + "' ;;\nlogs) echo 'a log line' ;;\nesac\n"
		if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeDocker), 0o755); err != nil {
			t.Fatal(err)
		}
		// The limit is never reached: each case ends at its first look.
		cmd := exec.Command("/bin/sh", "-s", "--", "c", "3600")
		cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH")}
		cmd.Stdin = strings.NewReader(gpuhost.ReadyScript)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if (err == nil) != tt.ready {
			t.Errorf("state %q: ready = %v, want %v (%s)", tt.state, err == nil, tt.ready, stderr.String())
		}
	}
}
