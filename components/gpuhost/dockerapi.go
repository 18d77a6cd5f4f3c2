package gpuhost

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
)

// Docker Engine API versions servelab depends on.
const (
	// MinDockerAPI is the oldest Docker Engine API servelab deploys to:
	// Docker 20.10, and podman 4 and 5 (whose Docker-compatible API reports
	// 1.41).
	MinDockerAPI = "1.41"
	// StartIntervalAPI is the first API that takes a healthcheck's
	// start interval (Docker 25). Below it the docker provider refuses to
	// create the container ("requires API version 1.44"), so servelab
	// leaves the start interval out there.
	StartIntervalAPI = "1.44"
)

// CheckDocker fails for a Docker endpoint the probe could not query and for
// one older than MinDockerAPI, naming the host and the minimum version.
func CheckDocker(host string, e DockerEngine) error {
	if e.APIVersion == "" {
		why := e.Error
		if why == "" {
			why = "the probe reported no version"
		}
		return fmt.Errorf("host %s: cannot read the Docker Engine API version (servelab needs %s or later: Docker 20.10+ or podman 4+): %s", host, MinDockerAPI, why)
	}
	ok, err := APIAtLeast(e.APIVersion, MinDockerAPI)
	if err != nil {
		return fmt.Errorf("host %s: %w", host, err)
	}
	if !ok {
		return fmt.Errorf("host %s: %s %s speaks Docker Engine API %s; servelab needs %s or later (Docker 20.10+ or podman 4+)", host, e.Engine, e.Version, e.APIVersion, MinDockerAPI)
	}
	return nil
}

// APIAtLeast compares two Docker API versions ("1.41" < "1.44" < "1.100").
func APIAtLeast(have, want string) (bool, error) {
	h, err := parseAPI(have)
	if err != nil {
		return false, err
	}
	w, err := parseAPI(want)
	if err != nil {
		return false, err
	}
	if h[0] != w[0] {
		return h[0] > w[0], nil
	}
	return h[1] >= w[1], nil
}

func parseAPI(v string) ([2]int, error) {
	major, minor, ok := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(major)
	b, err2 := strconv.Atoi(minor)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 0 {
		return [2]int{}, fmt.Errorf("docker API version %q is not MAJOR.MINOR", v)
	}
	return [2]int{a, b}, nil
}

// Duration writes a duration the way the docker provider reads it back
// from the daemon (Go's time.Duration form: "1m0s", "10s", "2m0s"). Every
// duration servelab gives the provider goes through it: "60s" would come
// back as "1m0s" and show as a change on every `up`.
func Duration(d time.Duration) string { return d.String() }

// Healthcheck is a container healthcheck in Go terms.
type Healthcheck struct {
	// Test is the exec-form test: {"CMD", binary, args...}.
	Test []string
	// Interval between checks once started, Timeout of one check, and
	// Retries failures in a row that make the container unhealthy.
	Interval, Timeout time.Duration
	Retries           int
	// StartPeriod is the grace period during start-up; StartInterval is
	// the check interval within it (left out below StartIntervalAPI).
	StartPeriod, StartInterval time.Duration
}

// Render is the provider's healthcheck for a daemon speaking apiVersion:
// every duration in canonical form, the start interval only where the API
// takes it.
func (hc Healthcheck) Render(apiVersion string) (*docker.ContainerHealthcheck, error) {
	out := &docker.ContainerHealthcheck{
		Tests:       hc.Test,
		Interval:    str(Duration(hc.Interval)),
		Timeout:     str(Duration(hc.Timeout)),
		Retries:     &hc.Retries,
		StartPeriod: str(Duration(hc.StartPeriod)),
	}
	if hc.StartInterval > 0 {
		ok, err := APIAtLeast(apiVersion, StartIntervalAPI)
		if err != nil {
			return nil, err
		}
		if ok {
			out.StartInterval = str(Duration(hc.StartInterval))
		}
	}
	return out, nil
}

func str(s string) *string { return &s }
