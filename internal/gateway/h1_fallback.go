package gateway

import (
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
)

// fallback serves a request that is not a proxied POST (/v1/models,
// /healthz, /readyz, /metrics, wrong methods and paths) through the
// gateway's http.Handler, buffering the answer. These requests are few and
// small; the handler sees an ordinary *http.Request without a body.
func (c *h1Conn) fallback() bool {
	req := &c.req
	consumed := c.skipBody()
	u, err := url.ParseRequestURI(string(req.target))
	if err != nil {
		c.answerBadRequest(badRequest("malformed request target"))
		return false
	}
	hr := &http.Request{
		Method:     string(req.method),
		URL:        u,
		Proto:      "HTTP/1." + strconv.Itoa(req.minor),
		ProtoMajor: 1,
		ProtoMinor: req.minor,
		Header:     make(http.Header, len(req.headers)),
		Body:       http.NoBody,
		RequestURI: string(req.target),
		RemoteAddr: c.nc.RemoteAddr().String(),
	}
	for _, h := range req.headers {
		k := textproto.CanonicalMIMEHeaderKey(string(h.name))
		if k == "Host" {
			hr.Host = string(h.value)
			continue
		}
		hr.Header[k] = append(hr.Header[k], string(h.value))
	}
	hr = hr.WithContext(c.s.base)
	w := &bufferedWriter{header: http.Header{}}
	c.s.g.serveHTTP(w, hr)

	// A body that did not come whole with the head is not waited for: the
	// connection closes with lingerClose after the answer.
	keep := c.keepAlive(consumed)
	c.linger = !consumed
	b := appendStatusLine(c.wbuf[:0], w.code())
	for k, vs := range w.header {
		if k == "Content-Length" || k == "Connection" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			b = appendHeaderString(b, k, v)
		}
	}
	if _, ok := w.header["Content-Type"]; !ok && w.body.Len() > 0 {
		b = appendHeaderString(b, "Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	b = appendContentLength(b, w.body.Len())
	if !keep {
		b = appendHeaderString(b, "Connection", "close")
	}
	b = append(b, "\r\n"...)
	if string(req.method) != http.MethodHead {
		b = append(b, w.body.Bytes()...)
	}
	c.wbuf = b
	if err := c.writeAll(b, c.s.g.cfg.Timeouts.StreamIdle.D()); err != nil {
		return false
	}
	return keep
}
