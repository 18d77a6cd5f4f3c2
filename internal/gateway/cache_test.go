package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

func TestCanonicalHash(t *testing.T) {
	t.Parallel()
	a, err := canonicalHash([]byte(`{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	same := []string{
		"{ \"messages\" : [ {\"content\":\"hi\", \"role\":\"user\"} ],\n \"temperature\":0, \"model\":\"m\" }",
		`{"temperature":0,"model":"m","messages":[{"content":"hi","role":"user"}]}`,
	}
	for _, s := range same {
		if b, _ := canonicalHash([]byte(s)); b != a {
			t.Errorf("hash differs for the same request written differently: %s", s)
		}
	}
	differ := []string{
		`{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi!"}]}`,
		`{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}],"max_tokens":5}`,
		`{"model":"m","temperature":0,"messages":[{"role":"system","content":"hi"}]}`,
	}
	for _, s := range differ {
		if b, _ := canonicalHash([]byte(s)); b == a {
			t.Errorf("hash equal for a different request: %s", s)
		}
	}
}

func TestResponseCacheBounds(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	key := func(i byte) cacheKey { return cacheKey{model: "m", sum: [32]byte{i}} }
	t.Run("entries", func(t *testing.T) {
		t.Parallel()
		c, _ := newResponseCache(Cache{TTL: Duration(time.Minute), MaxEntries: 2, MaxBytes: 1 << 20})
		c.put(key(1), []byte("one"), "application/json", now)
		c.put(key(2), []byte("two"), "application/json", now)
		c.get(key(1), now) // 1 is now the most recent
		c.put(key(3), []byte("three"), "application/json", now)
		if _, ok := c.get(key(2), now); ok {
			t.Error("least recently used entry not evicted")
		}
		if e, ok := c.get(key(1), now); !ok || string(e.body) != "one" {
			t.Error("recent entry evicted")
		}
		if n, _ := c.stats(); n != 2 {
			t.Errorf("%d entries, want 2", n)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		t.Parallel()
		c, _ := newResponseCache(Cache{TTL: Duration(time.Minute), MaxEntries: 100, MaxBytes: 1000})
		for i := range 5 {
			c.put(key(byte(i)), make([]byte, 300), "", now)
		}
		n, size := c.stats()
		if size > 1000 || n != 2 {
			t.Errorf("%d entries, %d bytes, want 2 entries within 1000 bytes", n, size)
		}
		c.put(key(9), make([]byte, 5000), "", now)
		if _, ok := c.get(key(9), now); ok {
			t.Error("entry larger than the cache stored")
		}
		c.put(key(4), make([]byte, 10), "", now) // replace: bytes stay exact
		if _, size2 := c.stats(); size2 >= size {
			t.Errorf("replacing an entry with a smaller one: %d → %d bytes", size, size2)
		}
	})
	t.Run("ttl", func(t *testing.T) {
		t.Parallel()
		c, _ := newResponseCache(Cache{TTL: Duration(time.Minute), MaxEntries: 10, MaxBytes: 1 << 20})
		c.put(key(1), []byte("x"), "", now)
		if _, ok := c.get(key(1), now.Add(59*time.Second)); !ok {
			t.Error("entry gone before its TTL")
		}
		if _, ok := c.get(key(1), now.Add(time.Minute)); ok {
			t.Error("entry served after its TTL")
		}
		if n, size := c.stats(); n != 0 || size != 0 {
			t.Errorf("expired entry kept: %d entries, %d bytes", n, size)
		}
	})
}

func TestNoCache(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"no-cache": true, "max-age=0, No-Cache": true, "no-store": true, "max-age=60": false, "": false} {
		h := http.Header{}
		if v != "" {
			h.Set("Cache-Control", v)
		}
		if noCache(h) != want {
			t.Errorf("Cache-Control %q: noCache = %v", v, !want)
		}
	}
}

func TestCacheThroughGateway(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Cache.Enabled = true
	gw := startGateway(t, cfg, Options{}, true)
	url := gw.URL + "/v1/chat/completions"
	send := func(body string, headers ...string) (string, string) {
		t.Helper()
		code, h, resp := post(t, url, body, headers...)
		if code != 200 && !strings.Contains(body, "fail") {
			t.Fatalf("status %d: %s", code, resp)
		}
		return h.Get("X-Servelab-Cache"), resp
	}
	det := `{"model":"m","temperature":0,"messages":[{"role":"user","content":"hi"}]}`
	steps := []struct {
		name, body string
		headers    []string
		header     string
		upstream   int64 // upstream hits after the step
	}{
		{"first deterministic request misses", det, nil, "miss", 1},
		{"same request hits", det, nil, "hit", 1},
		{"reordered and respaced hits", `{ "messages":[{"content":"hi","role":"user"}], "temperature":0, "model":"m" }`, nil, "hit", 1},
		{"no-cache bypasses", det, []string{"Cache-Control", "no-cache"}, "", 2},
		{"seeded request is cached", `{"model":"m","seed":7,"messages":[]}`, nil, "miss", 3},
		{"seeded again hits", `{"model":"m","seed":7,"messages":[]}`, nil, "hit", 3},
		{"sampling request is not cached", `{"model":"m","temperature":0.8,"messages":[]}`, nil, "", 4},
		{"stream is not cached", `{"model":"m","temperature":0,"stream":true,"messages":[]}`, nil, "", 5},
	}
	for _, s := range steps {
		got, _ := send(s.body, s.headers...)
		if got != s.header || up.hits.Load() != s.upstream {
			t.Errorf("%s: X-Servelab-Cache %q upstream hits %d, want %q %d", s.name, got, up.hits.Load(), s.header, s.upstream)
		}
	}
	// Only 200 answers are stored.
	up.setMode(behave500)
	fail := `{"model":"m","temperature":0,"messages":[{"role":"user","content":"fail"}]}`
	send(fail)
	up.setMode(behaveOK)
	if got, _ := send(fail); got != "miss" {
		t.Errorf("a 500 answer was cached: %q", got)
	}
	waitFor(t, 5*time.Second, "cache metrics", func() bool {
		return metricValue(t, gw, metricnames.GatewayCacheRequests, map[string]string{"result": "hit"}) == 3 &&
			metricValue(t, gw, metricnames.GatewayCacheRequests, map[string]string{"result": "bypass"}) == 1 &&
			metricValue(t, gw, metricnames.GatewayRequests, map[string]string{"backend": backendCache, "code": "200"}) == 3
	})
}
