package web

import (
	"bytes"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// quietLog logs refusals of unauthenticated or misdirected requests (a
// wrong Host header, a failed TLS handshake, a bad token) once per kind
// and client address per window, and counts the repeats, which the next
// line of that kind and address after the window reports as
// "suppressed". Anyone who can reach the port can cause them, so one
// line each would let a scanner, a load balancer's TCP health check or a
// loop of curl flood poold's log. Safe for concurrent use.
type quietLog struct {
	log   hclog.Logger
	every time.Duration
	now   func() time.Time

	mu sync.Mutex
	m  map[string]*quietEntry
}

type quietEntry struct {
	until      time.Time // no line before this
	suppressed int       // repeats not logged since the last line
}

// quietEvery is the window of quietLog: one line per kind and address.
const quietEvery = time.Minute

func newQuietLog(l hclog.Logger) *quietLog {
	return &quietLog{log: l, every: quietEvery, now: time.Now, m: make(map[string]*quietEntry)}
}

// Warn logs msg with args for the client at remote (host:port; its host
// is the key), unless it did within the window.
func (q *quietLog) Warn(remote, msg string, args ...any) { q.emit(hclog.Warn, remote, msg, args) }

// Info is Warn at level info.
func (q *quietLog) Info(remote, msg string, args ...any) { q.emit(hclog.Info, remote, msg, args) }

func (q *quietLog) emit(level hclog.Level, remote, msg string, args []any) {
	if n, ok := q.admit(msg, remote); ok {
		if n > 0 {
			args = append(args, "suppressed", n)
		}
		q.log.Log(level, msg, args...)
	}
}

// admit reports whether a line of kind for remote may be logged now, and
// how many were suppressed since the last one.
func (q *quietLog) admit(kind, remote string) (int, bool) {
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	key := kind + "\x00" + host
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	e, ok := q.m[key]
	if ok && now.Before(e.until) {
		e.suppressed++
		return 0, false
	}
	if !ok {
		if len(q.m) >= maxFailEntries {
			q.prune(now)
		}
		e = &quietEntry{}
		q.m[key] = e
	}
	n := e.suppressed
	e.until, e.suppressed = now.Add(q.every), 0
	return n, true
}

// prune forgets entries past their window with nothing suppressed; if
// the map is still full, it is cleared rather than grown.
func (q *quietLog) prune(now time.Time) {
	for k, e := range q.m {
		if !now.Before(e.until) && e.suppressed == 0 {
			delete(q.m, k)
		}
	}
	if len(q.m) >= maxFailEntries {
		clear(q.m)
	}
}

// serverLog is the http.Server's ErrorLog: its "TLS handshake error from
// ADDR: ..." lines (a plain-HTTP client, a port scanner, a TCP health
// check) go through q, once per address per window; the rest as they
// come, with hclog's level inference.
func serverLog(l hclog.Logger, q *quietLog) *log.Logger {
	std := l.StandardWriter(&hclog.StandardLoggerOptions{InferLevels: true})
	return log.New(serverLogWriter{std: std, q: q}, "", 0)
}

type serverLogWriter struct {
	std interface{ Write([]byte) (int, error) }
	q   *quietLog
}

const tlsHandshakeError = "http: TLS handshake error from "

func (w serverLogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\n"))
	if rest, ok := strings.CutPrefix(line, tlsHandshakeError); ok {
		remote, why, _ := strings.Cut(rest, ": ")
		w.q.Info(remote, "tls handshake failed", "remote", remote, "error", why)
		return len(p), nil
	}
	return w.std.Write(p)
}
