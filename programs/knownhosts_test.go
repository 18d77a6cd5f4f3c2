package programs_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs"
)

// TestWriteKnownHosts: the program writes, under the user's home, the
// known_hosts file the docker provider's sshOpts name, holding the host's
// pinned key, readable by the user only.
func TestWriteKnownHosts(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.fleet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	lab := planStack(t, cfg)
	home := t.TempDir()
	if err := programs.WriteKnownHosts(home, "fleet", lab); err != nil {
		t.Fatal(err)
	}
	for _, hp := range lab.Hosts {
		want := programs.KnownHostsFile("fleet", hp.Host.Name)
		path := filepath.Join(home, strings.TrimPrefix(want, "~/"))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("host %s: %v", hp.Host.Name, err)
		}
		key := strings.Join(strings.Fields(hp.Host.SSH.HostKey)[:2], " ")
		if string(b) != hp.Host.SSH.Host+" "+key+"\n" {
			t.Errorf("host %s: known_hosts %q", hp.Host.Name, b)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
			t.Errorf("host %s: mode %v", hp.Host.Name, fi.Mode())
		}
	}
}
