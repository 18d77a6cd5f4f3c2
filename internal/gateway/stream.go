package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// relayStream passes an SSE response through as it arrives: each read from
// the upstream is written and flushed at once, never held back. It watches
// the bytes for the first content (TTFT) and the final usage, ends the
// stream when the upstream stalls past timeouts.streamIdle, and stops the
// upstream at once when the client goes away.
func (ex *exchange) relayStream(a *attempt) error {
	idle := ex.g.cfg.Timeouts.StreamIdle.D()
	guard := newIdleGuard(idle, a)
	defer guard.release()
	rc := http.NewResponseController(ex.w)
	ex.writeHeader(a.resp.StatusCode)
	if err := rc.Flush(); err != nil {
		a.cancel(errClientGone)
		ex.noteError(a.u, reasonCanceled, err)
		return fmt.Errorf("flush headers: %w", context.Canceled)
	}
	// The write deadline outlives the request on a keep-alive connection.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()

	bp := ex.g.bufs.Get().(*[]byte)
	defer ex.g.bufs.Put(bp)
	buf := *bp
	scan := sseScan{chat: ex.ep == epChat}
	for {
		guard.arm()
		n, err := a.resp.Body.Read(buf)
		guard.disarm()
		if n > 0 {
			if scan.feed(buf[:n]) {
				ex.ttft = time.Since(ex.start)
			}
			_ = rc.SetWriteDeadline(time.Now().Add(idle))
			ex.relayed.note(buf[:n])
			_, werr := ex.w.Write(buf[:n])
			if werr == nil {
				werr = rc.Flush()
			}
			if werr != nil {
				a.cancel(errClientGone)
				ex.noteError(a.u, reasonCanceled, werr)
				ex.tokens, ex.hasTokens = scan.tokens, scan.hasTokens
				return fmt.Errorf("write stream: %w", context.Canceled)
			}
		}
		if err == io.EOF {
			ex.tokens, ex.hasTokens = scan.tokens, scan.hasTokens
			return nil
		}
		if err != nil {
			ex.tokens, ex.hasTokens = scan.tokens, scan.hasTokens
			return ex.readError(a, guard, err)
		}
	}
}

// sseScan looks at SSE bytes as they pass, without decoding the JSON of
// each event: it notes the first bytes that carry content and the last
// usage.completion_tokens. Keys are searched as raw bytes: inside a JSON
// string a quote is always escaped, so `"content":` cannot match text. A
// key cut by a read boundary is found on the next read through a small
// carry-over of the previous read's tail.
type sseScan struct {
	chat      bool // chat completions: content keys; else completions: "text"
	content   bool
	tokens    int64
	hasTokens bool
	tail      [carry]byte
	ntail     int
	window    [2 * carry]byte
}

// carry is longer than any key plus a short value prefix that the scan
// needs to see in one piece.
const carry = 64

var (
	keyContent          = []byte(`"content"`)
	keyReasoningContent = []byte(`"reasoning_content"`)
	keyReasoning        = []byte(`"reasoning"`)
	keyText             = []byte(`"text"`)
	keyCompletionTokens = []byte(`"completion_tokens"`)
)

// feed scans p and reports whether it carries the stream's first content.
func (s *sseScan) feed(p []byte) (firstContent bool) {
	w := append(s.window[:0], s.tail[:s.ntail]...)
	w = append(w, p[:min(len(p), carry)]...)
	if !s.content && (s.hasContent(w) || s.hasContent(p)) {
		s.content = true
		firstContent = true
	}
	if n, ok := completionTokens(w); ok {
		s.tokens, s.hasTokens = n, true
	}
	if n, ok := completionTokens(p); ok {
		s.tokens, s.hasTokens = n, true
	}
	if len(p) >= carry {
		s.ntail = copy(s.tail[:], p[len(p)-carry:])
	} else {
		keep := min(s.ntail, carry-len(p))
		copy(s.tail[:], s.tail[s.ntail-keep:s.ntail])
		s.ntail = keep + copy(s.tail[keep:], p)
	}
	return firstContent
}

func (s *sseScan) hasContent(b []byte) bool {
	if s.chat {
		return nonEmptyString(b, keyContent) || nonEmptyString(b, keyReasoningContent) || nonEmptyString(b, keyReasoning)
	}
	return nonEmptyString(b, keyText)
}

// nonEmptyString reports whether b holds key : "x… with a non-empty string
// value.
func nonEmptyString(b, key []byte) bool {
	for {
		i := bytes.Index(b, key)
		if i < 0 {
			return false
		}
		b = b[i+len(key):]
		j := skipWS(b, 0)
		if j >= len(b) || b[j] != ':' {
			continue
		}
		j = skipWS(b, j+1)
		if j+1 < len(b) && b[j] == '"' && b[j+1] != '"' {
			return true
		}
	}
}

// completionTokens returns the value of the last complete
// "completion_tokens": N in b.
func completionTokens(b []byte) (int64, bool) {
	var (
		val   int64
		found bool
	)
	for {
		i := bytes.Index(b, keyCompletionTokens)
		if i < 0 {
			return val, found
		}
		b = b[i+len(keyCompletionTokens):]
		j := skipWS(b, 0)
		if j >= len(b) || b[j] != ':' {
			continue
		}
		j = skipWS(b, j+1)
		k := j
		var n int64
		for k < len(b) && b[k] >= '0' && b[k] <= '9' && k-j < 18 {
			n = n*10 + int64(b[k]-'0')
			k++
		}
		if k > j && k < len(b) { // digits ended inside b: the number is whole
			val, found = n, true
		}
	}
}

func skipWS(b []byte, j int) int {
	for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
		j++
	}
	return j
}
