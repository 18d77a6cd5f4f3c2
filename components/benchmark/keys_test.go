package benchmark

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/shellquote"
)

// sh runs argv the way pulumi-command runs `create`: the quoted line
// through /bin/sh -c, with HOME set to home.
func sh(t *testing.T, home, stdin string, argv []string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", shellquote.Join(argv...))
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// fakeBench prints the keys it got and echoes stdin, then exits with $1.
var fakeBench = []string{"/bin/sh", "-c", `printf '%s|%s|' "${SERVELAB_BENCH_KEY_0-}" "${SERVELAB_BENCH_KEY_1-}"; cat; exit "$1"`, "fake"}

func TestKeysFileAndRunScript(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	file := "servelab-sim"

	if _, stderr, code := sh(t, home, "key-0\nkey '1' $x\n", keysArgv(file)); code != 0 {
		t.Fatalf("writing the keys failed (%d): %s", code, stderr)
	}
	path := filepath.Join(home, ".servelab", "bench-keys", file)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}

	out, stderr, code := sh(t, home, `{"targets":[]}`, runArgv(file, 2, 30*time.Minute, append(fakeBench, "0")))
	if code != 0 || out != `key-0|key '1' $x|{"targets":[]}` {
		t.Errorf("run: exit %d, stdout %q, stderr %q", code, out, stderr)
	}

	// The bench's deadline: its exit status is kept and the message names
	// the stack setting.
	_, stderr, code = sh(t, home, "", runArgv(file, 2, 30*time.Minute, append(fakeBench, "3")))
	if code != 3 || !strings.Contains(stderr, "deadline (29m30s)") || !strings.Contains(stderr, "servelab:benchmark.timeout (30m0s)") {
		t.Errorf("deadline: exit %d, stderr %q", code, stderr)
	}
	// Other failures pass through untouched.
	if _, stderr, code = sh(t, home, "", runArgv(file, 2, time.Hour, append(fakeBench, "1"))); code != 1 || stderr != "" {
		t.Errorf("failure: exit %d, stderr %q", code, stderr)
	}

	// More keys than the file holds, then no file at all.
	if _, stderr, code = sh(t, home, "", runArgv(file, 3, time.Hour, append(fakeBench, "0"))); code != 2 || !strings.Contains(stderr, "holds 2 of the 3 API keys") {
		t.Errorf("short key file: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code = sh(t, home, "", deleteKeysArgv(file)); code != 0 {
		t.Fatalf("delete: %d %s", code, stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("key file still there after delete: %v", err)
	}
	if _, stderr, code = sh(t, home, "", runArgv(file, 1, time.Hour, append(fakeBench, "0"))); code != 2 || !strings.Contains(stderr, "API keys file") || !strings.Contains(stderr, "make bench") {
		t.Errorf("missing key file: exit %d, stderr %q", code, stderr)
	}
	// A run without keys needs no file.
	if out, stderr, code = sh(t, home, "in", runArgv(file, 0, time.Hour, append(fakeBench, "0"))); code != 0 || out != "||in" {
		t.Errorf("no keys: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
