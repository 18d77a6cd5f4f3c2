package stackconfig

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

// hostnamePattern is an RFC 1123 host name: dot-separated labels of
// letters, digits and inner dashes.
var hostnamePattern = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

// userPattern is a login name ssh and Go's SSH client take as is.
var userPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

// isHostOrIP reports whether s is a bare host name or IP address: no
// scheme, port, path, user or fragment. Such a value is put into URLs the
// gateway and the bench connect to, and into ssh's destination.
func isHostOrIP(s string) bool {
	if net.ParseIP(s) != nil {
		return true
	}
	return len(s) <= 253 && hostnamePattern.MatchString(s)
}

// ParseHostKey parses a host key in authorized_keys form
// ("ssh-ed25519 AAAA... [comment]"): one key, nothing else.
func ParseHostKey(s string) (ssh.PublicKey, error) {
	if strings.ContainsAny(strings.TrimSpace(s), "\n\r") {
		return nil, fmt.Errorf("holds more than one line")
	}
	k, _, options, rest, err := ssh.ParseAuthorizedKey([]byte(s))
	if err != nil {
		return nil, err
	}
	if len(options) > 0 || len(rest) > 0 {
		return nil, fmt.Errorf("holds options or more than one key")
	}
	return k, nil
}

// hostKeyOpts are the ssh options through which Docker's transport could
// skip or redirect the host-key check servelab sets up from ssh.hostKey and
// ssh.proxyJump (lower case, as ssh compares them).
var hostKeyOpts = map[string]string{
	"stricthostkeychecking": "StrictHostKeyChecking", "userknownhostsfile": "UserKnownHostsFile",
	"globalknownhostsfile": "GlobalKnownHostsFile", "hostkeyalias": "HostKeyAlias",
	"knownhostscommand": "KnownHostsCommand", "checkhostip": "CheckHostIP",
	"proxyjump": "ProxyJump", "proxycommand": "ProxyCommand",
}

// sshHost checks hosts[i].ssh beyond what hostList already does: bare host
// names, a pinned host key (or the explicit insecure flag), the bastion and
// the options Docker's transport gets.
func (v *validator) sshHost(p string, s *SSH) {
	if s.Host != "" && !isHostOrIP(s.Host) {
		v.errorf(p+".host", "%q is not a host name or IP address", s.Host)
	}
	if s.User != "" && !userPattern.MatchString(s.User) {
		v.errorf(p+".user", "%q is not a user name (letters, digits, . _ -)", s.User)
	}
	switch {
	case s.HostKey != "" && s.InsecureIgnoreHostKey:
		v.errorf(p+".insecureIgnoreHostKey", "contradicts ssh.hostKey; keep one")
	case s.HostKey == "" && !s.InsecureIgnoreHostKey:
		v.errorf(p+".hostKey", "is required: the probe, pull and bench commands send secrets to %s and must know its key (ssh-keyscan -t ed25519 %s), or set ssh.insecureIgnoreHostKey: true", s.Host, s.Host)
	case s.HostKey != "":
		if _, err := ParseHostKey(s.HostKey); err != nil {
			v.errorf(p+".hostKey", "is not one public key in authorized_keys form (\"ssh-ed25519 AAAA...\"): %v", err)
		}
	}
	if j := s.ProxyJump; j != nil {
		jp := p + ".proxyJump"
		if j.Host == "" {
			v.errorf(jp+".host", "is required")
		} else if !isHostOrIP(j.Host) {
			v.errorf(jp+".host", "%q is not a host name or IP address", j.Host)
		}
		if j.User == "" {
			v.errorf(jp+".user", "is required")
		} else if !userPattern.MatchString(j.User) {
			v.errorf(jp+".user", "%q is not a user name (letters, digits, . _ -)", j.User)
		}
		if j.Port == 0 {
			j.Port = 22
		}
		if j.Port < 1 || j.Port > 65535 {
			v.errorf(jp+".port", "%d is out of range 1-65535", j.Port)
		}
		switch {
		case j.HostKey == "" && !s.InsecureIgnoreHostKey:
			v.errorf(jp+".hostKey", "is required (ssh-keyscan -t ed25519 %s), or set ssh.insecureIgnoreHostKey: true", j.Host)
		case j.HostKey != "" && s.InsecureIgnoreHostKey:
			v.errorf(p+".insecureIgnoreHostKey", "contradicts ssh.proxyJump.hostKey; keep one")
		case j.HostKey != "":
			if _, err := ParseHostKey(j.HostKey); err != nil {
				v.errorf(jp+".hostKey", "is not one public key in authorized_keys form (\"ssh-ed25519 AAAA...\"): %v", err)
			}
		}
	}
	if s.InsecureIgnoreHostKey {
		return // Docker's transport then follows the user's own ssh config
	}
	for i := 0; i < len(s.Opts); i++ {
		o := s.Opts[i]
		at := fmt.Sprintf("%s.opts[%d]", p, i)
		switch {
		case o == "-J" || strings.HasPrefix(o, "-J"):
			v.errorf(at, "%q is ProxyJump, which servelab sets from ssh.proxyJump", o)
		case o == "-o":
			if i+1 < len(s.Opts) {
				i++
				v.sshOption(fmt.Sprintf("%s.opts[%d]", p, i), s.Opts[i])
			}
		case strings.HasPrefix(o, "-o"):
			v.sshOption(at, o)
		}
	}
}

// sshOption checks one "-o" value ("Key=Value", "Key Value" or
// "-oKey=Value"; ssh also takes a tab, or several blanks, as the
// separator).
func (v *validator) sshOption(at, o string) {
	kv := strings.TrimSpace(strings.TrimPrefix(o, "-o"))
	key := kv
	if i := strings.IndexAny(kv, "= \t"); i >= 0 {
		key = kv[:i]
	}
	if name, ok := hostKeyOpts[strings.ToLower(key)]; ok {
		from := "ssh.hostKey"
		if strings.HasPrefix(strings.ToLower(key), "proxy") {
			from = "ssh.proxyJump"
		}
		v.errorf(at, "%q sets %s, which servelab sets from %s", o, name, from)
	}
}

// dockerHost checks hosts[i].dockerHost: a local Docker endpoint (another
// socket, e.g. rootless Docker or Colima) or a TCP one. Not ssh://: that
// would reach a remote daemon, and run the commands' docker CLI, with
// none of ssh.hostKey's checks.
func (v *validator) dockerHost(p, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err == nil && u.Scheme == "ssh":
		v.errorf(p, "%q reaches Docker over SSH without a pinned host key; declare the host with ssh: {host, user, hostKey} instead", raw)
	case err == nil && u.Scheme == "unix" && u.Host == "" && strings.HasPrefix(u.Path, "/"):
	case err == nil && u.Scheme == "tcp" && u.Hostname() != "" && u.Port() != "" && u.Path == "":
	default:
		v.errorf(p, "%q is not a Docker endpoint (unix:///path/to/docker.sock or tcp://host:port)", raw)
	}
}

// modelCache checks hosts[i].modelCache: a directory Docker bind-mounts.
func (v *validator) modelCache(p string, h *Host) {
	c := h.ModelCache
	if c == "" {
		return
	}
	if !strings.HasPrefix(c, "/") || path.Clean(c) != c || c == "/" || strings.ContainsAny(c, ":,\n") {
		v.errorf(p+".modelCache", "%q must be an absolute, clean directory path on the host (no \":\" or \",\"), e.g. /data/servelab-cache", c)
	}
}
