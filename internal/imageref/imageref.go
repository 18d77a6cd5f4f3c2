// Package imageref writes image references the way both Docker and podman
// report them back: fully qualified. Docker reads `prom/prometheus` as
// `docker.io/prom/prometheus` and `nginx` as `docker.io/library/nginx`;
// podman reports those long forms (and `localhost/<name>` for an image
// built locally), so a short name given to the docker provider comes back
// different from what was asked and shows as a change on every `up`.
package imageref

import "strings"

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
