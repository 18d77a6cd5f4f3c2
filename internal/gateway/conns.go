package gateway

import (
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// limitListener caps the connections open at once on one listener. A
// connection beyond the cap is answered 503 with Connection: close and
// closed at once, without reading anything from it, and counted: the cap
// bounds the gateway's descriptors, goroutines and buffers whatever clients
// do, while requestHeader and requestRead bound how long each connection
// can be held without sending a request.
type limitListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	full    atomic.Bool // refusing: logged once per episode
	gauge   prometheus.Gauge
	refused prometheus.Counter
	log     *slog.Logger
	name    string
}

func newLimitListener(ln net.Listener, max int, name string, m *metrics, log *slog.Logger) *limitListener {
	return &limitListener{
		Listener: ln, max: int64(max), name: name, log: log,
		gauge:   m.connections.WithLabelValues(name),
		refused: m.connectionsRefused.WithLabelValues(name),
	}
}

// refusal is the whole answer to a connection over the cap.
var refusal = func() []byte {
	body := `{"error":{"message":"too many connections (maxConnections)","type":"server_error","code":"too_many_connections"}}` + "\n"
	return []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\nRetry-After: 1\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
}()

// refuseTimeout bounds the write of the refusal; a fresh connection's send
// buffer takes it at once unless the client is gone.
const refuseTimeout = time.Second

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Inc()
			if !l.full.Swap(true) {
				l.log.Warn("connection refused: maxConnections reached", "listener", l.name, "max", l.max)
			}
			_ = c.SetWriteDeadline(time.Now().Add(refuseTimeout))
			_, _ = c.Write(refusal)
			_ = c.Close()
			continue
		}
		l.full.Store(false)
		l.gauge.Inc()
		return &countedConn{Conn: c, l: l}, nil
	}
}

// countedConn gives its slot back when closed.
type countedConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.open.Add(-1)
		c.l.gauge.Dec()
	})
	return err
}

// NetConn returns the connection counted, so that the h1 core finds the
// socket under it (its hang-up watch registers the socket itself).
func (c *countedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite lets the HTTP server half-close the connection before a
// lingering close, as it does on a bare TCP connection.
func (c *countedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
