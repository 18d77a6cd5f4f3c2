package programs

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/programs/stackconfig"
)

// KnownHostsDir is where servelab keeps the known_hosts files Docker's ssh
// transport reads, under the user's home. The provider's sshOpts name it
// with "~/" (ssh expands it), so they are the same on every machine.
const KnownHostsDir = ".servelab/known_hosts"

// KnownHostsFile is the known_hosts file of one SSH host of a stack, as
// ssh reads it ("~/" expanded by ssh).
func KnownHostsFile(stack, host string) string {
	return "~/" + KnownHostsDir + "/" + stack + "-" + host
}

// sshArgs maps a stack's SSH settings onto the host component's.
func sshArgs(stack, host string, s *stackconfig.SSH) *gpuhost.SSHArgs {
	a := &gpuhost.SSHArgs{
		Host: s.Host, User: s.User, Port: s.Port, Opts: s.Opts,
		HostKey: s.HostKey, InsecureIgnoreHostKey: s.InsecureIgnoreHostKey,
	}
	if s.HostKey != "" {
		a.KnownHostsFile = KnownHostsFile(stack, host)
	}
	if j := s.ProxyJump; j != nil {
		a.ProxyJump = &gpuhost.ProxyArgs{Host: j.Host, User: j.User, Port: j.Port, HostKey: j.HostKey}
	}
	return a
}

// WriteKnownHosts writes, under home, the known_hosts file of every SSH
// host of lab that pins a host key: Docker's ssh client reads it when the
// provider connects, before any resource exists. The files hold public
// keys only.
func WriteKnownHosts(home, stack string, lab *stackconfig.Lab) error {
	for _, hp := range lab.Hosts {
		s := hp.Host.SSH
		if s == nil || s.HostKey == "" {
			continue
		}
		content := sshArgs(stack, hp.Host.Name, s).KnownHosts()
		path := filepath.Join(home, KnownHostsDir, stack+"-"+hp.Host.Name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("known_hosts for host %s: %w", hp.Host.Name, err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return fmt.Errorf("known_hosts for host %s: %w", hp.Host.Name, err)
		}
	}
	return nil
}
