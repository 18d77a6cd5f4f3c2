package gpuhost_test

import (
	"testing"
	"time"

	"github.com/servelab/servelab/components/gpuhost"
)

func TestAPIAtLeast(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		have, want string
		ok         bool
	}{
		{"1.41", "1.41", true}, {"1.41", "1.44", false}, {"1.44", "1.44", true},
		{"1.50", "1.44", true}, {"1.100", "1.44", true}, {"2.0", "1.44", true}, {"1.9", "1.41", false},
	} {
		ok, err := gpuhost.APIAtLeast(tt.have, tt.want)
		if err != nil || ok != tt.ok {
			t.Errorf("APIAtLeast(%s, %s) = %v, %v; want %v", tt.have, tt.want, ok, err, tt.ok)
		}
	}
	for _, bad := range []string{"", "1", "v1.41", "1.x", "1.-1"} {
		if _, err := gpuhost.APIAtLeast(bad, "1.41"); err == nil {
			t.Errorf("APIAtLeast(%q) accepted", bad)
		}
	}
}

// Durations reach the provider in Go's canonical form, which is how it
// reads them back from the daemon: "60s" would come back "1m0s".
func TestDurationIsCanonical(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{time.Minute, 2 * time.Minute, 10 * time.Second, 1500 * time.Millisecond, 5*time.Minute + 45*time.Second} {
		s := gpuhost.Duration(d)
		back, err := time.ParseDuration(s)
		if err != nil || back != d || back.String() != s {
			t.Errorf("Duration(%v) = %q", d, s)
		}
	}
	if gpuhost.Duration(time.Minute) != "1m0s" {
		t.Errorf("a minute is %q", gpuhost.Duration(time.Minute))
	}
}

// Below API 1.44 the provider refuses a healthcheck start interval
// ("requires API version 1.44"), so it is left out there.
func TestHealthcheckRenderFollowsTheAPI(t *testing.T) {
	t.Parallel()
	hc := gpuhost.Healthcheck{Test: []string{"CMD", "/servelab", "probe", "http://127.0.0.1:8000/health"},
		Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: time.Minute, StartInterval: time.Second}
	for _, tt := range []struct {
		api               string
		wantStartInterval string
	}{{"1.41", ""}, {"1.43", ""}, {"1.44", "1s"}, {"1.50", "1s"}} {
		got, err := hc.Render(tt.api)
		if err != nil {
			t.Fatal(err)
		}
		if si := deref(got.StartInterval); si != tt.wantStartInterval {
			t.Errorf("API %s: startInterval %q, want %q", tt.api, si, tt.wantStartInterval)
		}
		if deref(got.StartPeriod) != "1m0s" || deref(got.Interval) != "10s" || deref(got.Timeout) != "5s" || *got.Retries != 3 {
			t.Errorf("API %s: %+v", tt.api, got)
		}
	}
	if _, err := hc.Render("garbage"); err == nil {
		t.Error("an unreadable API version rendered")
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
