package gateway

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// briefExample is the config contract as the Pulumi component renders it.
const briefExample = `{
  "listen": "0.0.0.0:8080",
  "metricsListen": "",
  "routing": "least-outstanding",
  "maxBodyBytes": 10485760,
  "maxIdleConnsPerHost": 1024,
  "retries": 2,
  "probeInterval": "2s",
  "timeouts": {"dial": "5s", "responseHeader": "10m", "streamIdle": "60s", "probe": "5s", "shutdown": "30s"},
  "ejection": {"consecutiveFailures": 3, "baseBackoff": "1s", "maxBackoff": "30s"},
  "cache": {"enabled": true, "ttl": "10m", "maxEntries": 1000, "maxBytes": 67108864},
  "auth": {"keysFile": "/run/servelab/gateway-keys", "keysEnv": ""},
  "models": [
    {"name": "qwen-vllm", "routing": "", "backends": [
      {"name": "vllm-a", "engine": "vllm", "url": "http://vllm-a:8000", "model": "Qwen/Qwen2.5-7B-Instruct", "weight": 1}
    ]}
  ]
}`

func TestParseConfigExample(t *testing.T) {
	t.Parallel()
	got, err := ParseConfig([]byte(briefExample))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Listen = "0.0.0.0:8080"
	want.Cache.Enabled = true
	want.Auth.KeysFile = "/run/servelab/gateway-keys"
	want.Models = []Model{{Name: "qwen-vllm", Backends: []Backend{{
		Name: "vllm-a", Engine: engine.VLLM, URL: "http://vllm-a:8000", Model: "Qwen/Qwen2.5-7B-Instruct", Weight: 1,
	}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// TestDefaultListenIsLoopback: a gateway started from a config that does
// not say where to listen is reachable from this machine only.
func TestDefaultListenIsLoopback(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`{"models":[{"name":"m","backends":[{"name":"b","engine":"vllm","url":"http://v:8000"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		t.Errorf("default listen %q is not a loopback address", cfg.Listen)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	got, err := ParseConfig([]byte(`{"models":[{"name":"m","backends":[{"name":"b","engine":"ollama","url":"http://o:11434"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := DefaultConfig()
	want.Models = []Model{{Name: "m", Backends: []Backend{{Name: "b", Engine: engine.Ollama, URL: "http://o:11434"}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Retries != 2 || got.Timeouts.StreamIdle.D() != time.Minute || got.Cache.Enabled {
		t.Errorf("defaults: %+v", got)
	}
	// A present zero is taken as given, not replaced by the default.
	got, err = ParseConfig([]byte(`{"retries":0,"models":[{"name":"m","backends":[{"name":"b","engine":"vllm","url":"http://v:8000"}]}]}`))
	if err != nil || got.Retries != 0 {
		t.Errorf("retries 0: %v, %d", err, got.Retries)
	}
}

func TestConfigRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.MetricsListen = "127.0.0.1:9100"
	cfg.Routing = Weighted
	cfg.Timeouts.StreamIdle = Duration(90*time.Second + 500*time.Millisecond)
	cfg.Auth.KeysEnv = "SERVELAB_KEYS"
	cfg.Models = []Model{
		{Name: "a", Routing: RoundRobin, Backends: []Backend{
			{Name: "a1", Engine: engine.SGLang, URL: "http://s:30000", Weight: 3},
			{Name: "a2", Engine: engine.LlamaCpp, URL: "https://l:8080/prefix", Model: "x.gguf"},
		}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"streamIdle":"1m30.5s"`) {
		t.Errorf("durations not marshalled as strings: %s", b)
	}
	back, err := ParseConfig(b)
	if err != nil {
		t.Fatalf("parse marshalled config: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", back, cfg)
	}
	ex, err := ParseConfig([]byte(briefExample))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(ex)
	if back, err := ParseConfig(b); err != nil || !reflect.DeepEqual(back, ex) {
		t.Errorf("example round trip: %v", err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	const models = `"models":[{"name":"m","backends":[{"name":"b","engine":"vllm","url":"http://v:8000"}]}]`
	tests := []struct {
		name string
		json string
		want []string // each must appear in the error
	}{
		{"syntax", `{"listen": }`, []string{"line 1 column"}},
		{"not an object", `[]`, []string{"(root): want a mapping of keys, got a list"}},
		{"unknown top-level", `{"listn":"x",` + models + `}`, []string{`listn: unknown key "listn" (did you mean "listen"?)`}},
		{"decode and validation problems together", `{"listn":"x","retries":"2","models":[{"name":"m","backends":[{"name":"b","engine":"vllm","url":7}]}]}`,
			[]string{`listn: unknown key "listn" (did you mean "listen"?)`, `retries: want a whole number, got the string "2"`, "models[0].backends[0].url: want a string, got the number 7", "3 problems"}},
		{"no models and unknown key", `{"listn":1}`, []string{`listn: unknown key "listn" (did you mean "listen"?)`, "models: at least one model"}},
		{"unknown nested", `{"timeouts":{"dail":"1s"},"models":[{"name":"m","backends":[{"name":"b","engine":"vllm","url":"http://v:8000","port":1}]}]}`,
			[]string{`timeouts.dail: unknown key "dail" (did you mean "dial"?)`, `models[0].backends[0].port: unknown key "port"`}},
		{"wrong types", `{"retries":"2","cache":{"enabled":"yes"},` + models + `}`, []string{`retries: want a whole number, got the string "2"`, `cache.enabled: want true or false, got the string "yes"`}},
		{"duration number", `{"probeInterval":2,` + models + `}`, []string{"probeInterval: want a duration string"}},
		{"duration bad", `{"timeouts":{"dial":"5 s"},` + models + `}`, []string{`timeouts.dial: invalid duration "5 s"`}},
		{"duration zero", `{"timeouts":{"shutdown":"0s"},` + models + `}`, []string{"timeouts.shutdown: must be a positive duration"}},
		{"routing", `{"routing":"random",` + models + `}`, []string{`routing: unknown routing "random"`}},
		{"upstream client", `{"upstreamClient":"fasthttp",` + models + `}`, []string{`upstreamClient: unknown client "fasthttp" (want http or direct)`}},
		{"listen", `{"listen":"8080",` + models + `}`, []string{`listen: "8080" is not host:port`}},
		{"same listeners", `{"listen":"0.0.0.0:1","metricsListen":"0.0.0.0:1",` + models + `}`, []string{"metricsListen: must differ"}},
		{"limits", `{"maxBodyBytes":0,"maxIdleConnsPerHost":-1,"retries":-1,"maxJSONDepth":0,"maxConnections":0,` + models + `}`,
			[]string{"maxBodyBytes: must be > 0", "maxIdleConnsPerHost: must be > 0", "retries: must be in",
				"maxJSONDepth: must be in [1, 10000], got 0", "maxConnections: must be >= 1, got 0"}},
		{"depth above encoding/json's", `{"maxJSONDepth":10001,` + models + `}`, []string{"maxJSONDepth: must be in [1, 10000], got 10001"}},
		{"request deadlines", `{"timeouts":{"requestHeader":"30s","requestRead":"10s"},` + models + `}`,
			[]string{"timeouts.requestRead: must be >= timeouts.requestHeader (30s), got 10s"}},
		{"body limit above the bound", `{"maxBodyBytes":1000000000000000,` + models + `}`,
			[]string{"maxBodyBytes: must be at most 67108864 (64 MiB), got 1000000000000000"}},
		{"ejection", `{"ejection":{"consecutiveFailures":0,"baseBackoff":"10s","maxBackoff":"1s"},` + models + `}`,
			[]string{"ejection.consecutiveFailures: must be >= 1", "ejection.maxBackoff: must be >= ejection.baseBackoff"}},
		{"cache", `{"cache":{"maxEntries":0,"maxBytes":0},` + models + `}`, []string{"cache.maxEntries", "cache.maxBytes"}},
		{"keys env", `{"auth":{"keysEnv":"MY-KEYS"},` + models + `}`, []string{"auth.keysEnv"}},
		{"no models", `{}`, []string{"models: at least one model"}},
		{"models null", `{"models":null}`, []string{"models: at least one model"}},
		{"model problems", `{"models":[
			{"name":"","backends":[]},
			{"name":"x","routing":"fastest","backends":[{"name":"","engine":"sim","url":"ftp://h"}]},
			{"name":"x","backends":[{"name":"b","engine":"vllm","url":"http://user:pw@h:1"},{"name":"b","engine":"vllm","url":"http://h:1?q=1","weight":-1}]}]}`,
			[]string{
				"models[0].name: must not be empty",
				"models[0].backends: at least one backend",
				`models[1].routing: unknown routing "fastest"`,
				"models[1].backends[0].name: must not be empty",
				"models[1].backends[0].engine: unknown flavour \"sim\"",
				"models[1].backends[0].url: \"ftp://h\": scheme must be http or https",
				`models[2].name: "x" duplicates models[1]`,
				"models[2].backends[0].url: \"http://h:1\": credentials in a URL are not allowed",
				`models[2].backends[1].name: "b" duplicates models[2].backends[0]`,
				"models[2].backends[1].url: \"http://h:1?q=1\": no query or fragment allowed",
				"models[2].backends[1].weight: must be >= 0",
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseConfig([]byte(tc.json))
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("error does not wrap ErrConfig: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Errorf("error echoes URL credentials: %v", err)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "gw.json")
	if err := os.WriteFile(p, []byte(briefExample), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err != nil {
		t.Errorf("LoadConfig: %v", err)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte(`{"models":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("invalid file error should name it: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(briefExample))
	f.Add([]byte(`{"models":[{"name":"m","backends":[{"name":"b","engine":"vllm","url":"http://v:8000"}]}]}`))
	f.Add([]byte(`{"timeouts":{"dial":"-1s"},"models":[{}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := ParseConfig(b)
		if err != nil {
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("error does not wrap ErrConfig: %v", err)
			}
			return
		}
		out, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseConfig(out)
		if err != nil || !reflect.DeepEqual(back, cfg) {
			t.Fatalf("valid config does not round-trip: %v\n%s", err, out)
		}
	})
}
