// Package imageref writes image references the way both Docker and podman
// report them back: fully qualified. Docker reads `prom/prometheus` as
// `docker.io/prom/prometheus` and `nginx` as `docker.io/library/nginx`;
// podman reports those long forms (and `localhost/<name>` for an image
// built locally), so a short name given to the docker provider comes back
// different from what was asked and shows as a change on every `up`.
package imageref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Qualify returns ref with its registry (and Docker Hub's "library/" for
// official images) spelled out, following Docker's own normalisation: the
// first path component is a registry when it contains "." or ":" or is
// "localhost"; otherwise the image is on Docker Hub. Tags and digests are
// kept. An empty ref stays empty.
func Qualify(ref string) string {
	if ref == "" {
		return ""
	}
	first, rest, hasSlash := strings.Cut(ref, "/")
	switch {
	case !hasSlash:
		return "docker.io/library/" + ref
	case strings.ContainsAny(first, ".:") || first == "localhost":
		return ref
	default:
		return "docker.io/" + first + "/" + rest
	}
}

// Local is the reference of an image built on the host itself (never
// pulled): podman files such images under localhost/, and Docker keeps a
// localhost/ name as given.
func Local(name string) string {
	if strings.HasPrefix(name, "localhost/") {
		return name
	}
	return "localhost/" + name
}

// Qualified reports whether ref is already fully qualified (Qualify leaves
// it unchanged).
func Qualified(ref string) bool { return ref != "" && Qualify(ref) == ref }

// The grammar of a reference, as Docker's distribution/reference parses
// it: [domain[:port]/]path[:tag][@algorithm:hex].
var (
	domainPattern = regexp.MustCompile(`^(localhost|[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*)(:[0-9]+)?$`)
	pathPattern   = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagPattern    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	digestPattern = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// Check reports why ref is not an image reference Docker and podman would
// parse (nil when it is one): a registry host, a lower-case repository
// path, an optional tag and an optional sha256 digest.
func Check(ref string) error {
	name, tag, hasTag, digest, hasDigest := split(ref)
	if hasDigest && !ValidDigest(digest) {
		return fmt.Errorf("digest %q is not sha256:<64 lower-case hex>", digest)
	}
	if hasTag && !tagPattern.MatchString(tag) {
		return fmt.Errorf("tag %q is not letters, digits, '_', '.' and '-' (at most 128)", tag)
	}
	path := name
	if first, rest, ok := strings.Cut(name, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first) {
		if !domainPattern.MatchString(first) {
			return fmt.Errorf("registry %q is not a host name (with an optional port)", first)
		}
		path = rest
	}
	if !pathPattern.MatchString(path) {
		return fmt.Errorf("repository path %q is not lower-case letters and digits separated by '/', '.', '_' or '-'", path)
	}
	return nil
}

// ErrVersioned is CheckRepository's error for a reference with a tag or
// digest.
var ErrVersioned = errors.New("has a tag or digest")

// CheckRepository reports why ref is not an image repository (nil when it
// is one): a reference Check accepts, without tag or digest (ErrVersioned)
// — what a program adds its own tag to.
func CheckRepository(ref string) error {
	if err := Check(ref); err != nil {
		return err
	}
	if _, _, hasTag, _, hasDigest := split(ref); hasTag || hasDigest {
		return fmt.Errorf("%q %w", ref, ErrVersioned)
	}
	return nil
}

// split cuts ref into its name (registry and repository path), tag and
// digest: a tag follows the last ':' after the last '/', a digest '@'.
func split(ref string) (name, tag string, hasTag bool, digest string, hasDigest bool) {
	name, digest, hasDigest = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag, hasTag = name[:i], name[i+1:], true
	}
	return name, tag, hasTag, digest, hasDigest
}

// ValidDigest reports whether digest is sha256:<64 lower-case hex>.
func ValidDigest(digest string) bool { return digestPattern.MatchString(digest) }
