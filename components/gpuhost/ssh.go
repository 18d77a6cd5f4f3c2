package gpuhost

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/internal/shellquote"
)

// Two SSH transports reach a remote host:
//
//   - Docker's ssh transport (the docker provider, `ssh://user@host:port`)
//     runs the system ssh client. servelab gives it the pinned host keys in
//     a known_hosts file of its own (UserKnownHostsFile, strict checking,
//     no global file) and reaches a bastion with a ProxyCommand that checks
//     the bastion's key the same way; SSHArgs.Opts are appended.
//   - The probe, pull and bench commands (pulumi-command's remote.Command)
//     use Go's SSH client: it checks HostKey (and the bastion's), and takes
//     the private key from servelab:sshPrivateKey or the ssh agent. It
//     reads no ssh options: Opts apply to Docker's transport only.
//
// With InsecureIgnoreHostKey the commands accept any host key and Docker's
// transport follows the user's own ssh configuration.

// ProxyArgs is a bastion both transports go through.
type ProxyArgs struct {
	Host    string
	User    string
	Port    int // 22 when zero
	HostKey string
}

// KnownHostsLine is a known_hosts entry for host:port with key (an
// authorized_keys line: "ssh-ed25519 AAAA... [comment]").
func KnownHostsLine(host string, port int, key string) string {
	f := strings.Fields(key)
	if len(f) > 2 {
		f = f[:2]
	}
	name := host
	if port != 22 && port != 0 {
		name = "[" + host + "]:" + strconv.Itoa(port)
	}
	return name + " " + strings.Join(f, " ")
}

// KnownHosts is the known_hosts file Docker's ssh transport reads for a
// host: its key and its bastion's.
func (s *SSHArgs) KnownHosts() string {
	if s == nil || s.HostKey == "" {
		return ""
	}
	out := KnownHostsLine(s.Host, s.Port, s.HostKey) + "\n"
	if j := s.ProxyJump; j != nil && j.HostKey != "" {
		out += KnownHostsLine(j.Host, j.Port, j.HostKey) + "\n"
	}
	return out
}

// dockerHost is the docker provider's host: ssh://user@host:port.
func (s *SSHArgs) dockerHost() string {
	return "ssh://" + s.User + "@" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// dockerSSHOpts are the ssh options of Docker's transport: the pinned
// host keys, the bastion, then the user's Opts.
func (s *SSHArgs) dockerSSHOpts() []string {
	var opts []string
	if !s.InsecureIgnoreHostKey {
		opts = append(opts, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+s.KnownHostsFile, "-o", "GlobalKnownHostsFile=/dev/null")
	}
	if j := s.ProxyJump; j != nil {
		// A ProxyCommand rather than ProxyJump: options given on the
		// command line do not reach a ProxyJump hop, and the bastion's key
		// must be checked against the same file.
		jump := []string{"ssh"}
		if !s.InsecureIgnoreHostKey {
			jump = append(jump, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+s.KnownHostsFile, "-o", "GlobalKnownHostsFile=/dev/null")
		}
		jump = append(jump, "-p", strconv.Itoa(j.Port), "-W", "%h:%p", j.User+"@"+j.Host)
		opts = append(opts, "-o", "ProxyCommand="+proxyCommand(jump))
	}
	return append(opts, s.Opts...)
}

// proxyCommand quotes argv for the shell ssh runs a ProxyCommand with,
// leaving ssh's %h:%p tokens to ssh.
func proxyCommand(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "%h:%p" {
			q[i] = a
			continue
		}
		q[i] = shellquote.Join(a)
	}
	return strings.Join(q, " ")
}

// connection is the remote.Command connection to the host.
func (s *SSHArgs) connection() remote.ConnectionArgs {
	conn := remote.ConnectionArgs{
		Host:           pulumi.String(s.Host),
		User:           pulumi.String(s.User),
		Port:           pulumi.Float64(float64(s.Port)),
		DialErrorLimit: pulumi.Int(5),
		PerDialTimeout: pulumi.Int(15),
	}
	if s.HostKey != "" {
		conn.HostKey = pulumi.String(s.HostKey)
	}
	if s.PrivateKey != nil {
		conn.PrivateKey = pulumi.ToSecret(s.PrivateKey).(pulumi.StringOutput)
	}
	if j := s.ProxyJump; j != nil {
		proxy := &remote.ProxyConnectionArgs{
			Host:           pulumi.String(j.Host),
			User:           pulumi.String(j.User),
			Port:           pulumi.Float64(float64(j.Port)),
			DialErrorLimit: pulumi.Int(5),
			PerDialTimeout: pulumi.Int(15),
		}
		if j.HostKey != "" {
			proxy.HostKey = pulumi.String(j.HostKey)
		}
		if s.PrivateKey != nil {
			proxy.PrivateKey = pulumi.ToSecret(s.PrivateKey).(pulumi.StringOutput)
		}
		conn.Proxy = proxy
	}
	return conn
}

// validate checks and defaults SSH args for host name.
func (s *SSHArgs) validate(name string) error {
	var errs []error
	if s.Host == "" {
		errs = append(errs, fmt.Errorf("host %s: ssh.host is empty", name))
	}
	if s.User == "" {
		errs = append(errs, fmt.Errorf("host %s: ssh.user is empty", name))
	}
	if s.Port == 0 {
		s.Port = 22
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("host %s: ssh.port %d out of range 1-65535", name, s.Port))
	}
	if (strings.ContainsAny(s.Host, "@:/ #") && net.ParseIP(s.Host) == nil) || strings.ContainsAny(s.User, "@:/ #") {
		errs = append(errs, fmt.Errorf("host %s: ssh.host and ssh.user must be bare names (got %q, %q)", name, s.Host, s.User))
	}
	switch {
	case s.HostKey == "" && !s.InsecureIgnoreHostKey:
		errs = append(errs, fmt.Errorf("host %s: ssh.hostKey is required unless ssh.insecureIgnoreHostKey is set", name))
	case s.HostKey != "" && s.KnownHostsFile == "":
		errs = append(errs, fmt.Errorf("host %s: ssh.hostKey needs a known_hosts file for Docker's ssh transport", name))
	}
	if j := s.ProxyJump; j != nil {
		if j.Port == 0 {
			j.Port = 22
		}
		if j.Host == "" || j.User == "" {
			errs = append(errs, fmt.Errorf("host %s: ssh.proxyJump needs host and user", name))
		}
		if j.HostKey == "" && !s.InsecureIgnoreHostKey {
			errs = append(errs, fmt.Errorf("host %s: ssh.proxyJump.hostKey is required unless ssh.insecureIgnoreHostKey is set", name))
		}
	}
	return errors.Join(errs...)
}
