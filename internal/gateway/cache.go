package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheKey identifies a response: the public model, the endpoint and the
// SHA-256 of the canonical request body.
type cacheKey struct {
	model string
	ep    endpoint
	sum   [sha256.Size]byte
}

type cacheEntry struct {
	body        []byte
	contentType string
	expires     time.Time
}

func (e *cacheEntry) size() int64 { return int64(len(e.body)+len(e.contentType)) + 64 }

// responseCache is an LRU of 200 responses bounded by entry count and total
// bytes, each entry living at most ttl.
type responseCache struct {
	mu       sync.Mutex
	lru      *simplelru.LRU[cacheKey, *cacheEntry]
	bytes    int64
	maxBytes int64
	ttl      time.Duration
}

func newResponseCache(c Cache) (*responseCache, error) {
	rc := &responseCache{maxBytes: c.MaxBytes, ttl: c.TTL.D()}
	l, err := simplelru.NewLRU(c.MaxEntries, func(_ cacheKey, e *cacheEntry) {
		rc.bytes -= e.size() // called under rc.mu by Add/Remove/RemoveOldest
	})
	if err != nil {
		return nil, fmt.Errorf("new response cache: %w", err)
	}
	rc.lru = l
	return rc, nil
}

// get returns the live entry for k.
func (c *responseCache) get(k cacheKey, now time.Time) (*cacheEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		c.lru.Remove(k)
		return nil, false
	}
	return e, true
}

// put stores a response; entries larger than the whole cache are skipped.
func (c *responseCache) put(k cacheKey, body []byte, contentType string, now time.Time) {
	e := &cacheEntry{body: bytes.Clone(body), contentType: contentType, expires: now.Add(c.ttl)}
	if e.size() > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
	c.lru.Add(k, e)
	c.bytes += e.size()
	for c.bytes > c.maxBytes && c.lru.Len() > 0 {
		c.lru.RemoveOldest()
	}
}

func (c *responseCache) stats() (entries int, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.bytes
}

// canonicalHash hashes body independently of key order and whitespace:
// it is decoded (numbers kept as written) and re-encoded with sorted keys.
func canonicalHash(body []byte) ([sha256.Size]byte, error) {
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("canonical body: %w", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("canonical body: %w", err)
	}
	return sha256.Sum256(b), nil
}

// noCache reports whether the client asked to bypass the cache.
func noCache(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			d = strings.TrimSpace(d)
			if strings.EqualFold(d, "no-cache") || strings.EqualFold(d, "no-store") {
				return true
			}
		}
	}
	return false
}
