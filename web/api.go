package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/poold/poold/arbiter"
)

// The control API: the command set of the control endpoint over HTTPS,
// on the console's listener.
//
//	POST /api/v1/COMMAND   body: the properties object (or empty)
//	                       reply: the command's Circus reply, unchanged
//	GET  /api/v1/events    text/event-stream of lifecycle events
//
// Every request needs Authorization: Bearer TOKEN (web.api_tokens, or
// web.token); a token's role decides which commands it may run. A token
// in the query string is refused (it would end up in logs and
// histories), and so is every request from an address that failed too
// often, for a while (failLimiter). Refusals happen before anything runs.
//
// Further streams (a future `logs -f`) plug in as GET /api/v1/NAME
// handlers on the same auth path; see Options.Streams.
const apiPrefix = "/api/v1/"

// apiMaxBody bounds a request's properties.
const apiMaxBody = 1 << 20

var apiSeq atomic.Uint64

// httpStatus maps an error reply's errno to an HTTP status; the body is
// the Circus reply either way.
func httpStatus(errno int) int {
	switch errno {
	case arbiter.ErrnoBadJSON, arbiter.ErrnoBadProperty:
		return http.StatusBadRequest
	case arbiter.ErrnoUnknownCmd:
		return http.StatusNotFound
	case arbiter.ErrnoFailed:
		return http.StatusConflict
	case arbiter.ErrnoForbidden:
		return http.StatusForbidden
	}
	return http.StatusInternalServerError
}

func writeReply(w http.ResponseWriter, status int, rep arbiter.Reply) {
	b, err := json.Marshal(rep)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(arbiter.Fail(fmt.Sprint(rep["id"]), fmt.Errorf("encode reply: %w", err)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// apiError answers with a Circus-shaped error reply.
func apiError(w http.ResponseWriter, status, errno int, id, format string, args ...any) {
	writeReply(w, status, arbiter.Fail(id, &arbiter.CommandError{Errno: errno, Reason: fmt.Sprintf(format, args...)}))
}

// serveAPI authenticates r, then runs its command or opens its stream.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, acc *access) {
	id := r.Header.Get("X-Request-Id")
	if id == "" || len(id) > 128 {
		id = "api-" + strconv.FormatUint(apiSeq.Add(1), 10)
	}
	tok, role, tokName, ok := s.apiCaller(w, r, acc, id)
	if !ok {
		return
	}
	// Command names in any case, as on the wire (the arbiter lower-cases
	// them); the role check and the backend see the lower-case name.
	name := strings.ToLower(strings.TrimPrefix(r.URL.Path, apiPrefix))
	replyKey(w, tokName)
	if p, ok := w.(*progressWriter); ok {
		p.apiRefuse = func(w http.ResponseWriter, why string) {
			apiError(w, http.StatusServiceUnavailable, arbiter.ErrnoFailed, id, "%s: reply not sent: %s; retry in %ds", name, why, replyRetry)
		}
	}
	if st, ok := s.opts.Streams[name]; ok || name == "events" {
		uncounted(w)
		if r.Method != http.MethodGet {
			apiError(w, http.StatusMethodNotAllowed, arbiter.ErrnoBadJSON, id, "%s%s is a stream: use GET", apiPrefix, name)
			return
		}
		if name == "events" {
			st = s.eventStream
		}
		slot := s.holdStream(r, tokName, func(why string) {
			apiError(w, http.StatusTooManyRequests, arbiter.ErrnoFailed, id, "%s", why)
		})
		if slot == nil {
			return
		}
		defer slot.release()
		r, stop := s.untilRevoked(r, acc, tok, slot.evicted)
		defer stop()
		st(w, r)
		return
	}
	s.apiCommand(w, r, id, name, role, tokName)
}

// apiCaller authenticates r: its bearer token, the role it has and the
// name of its token's file. When r is refused (ok false) it has answered
// it, and counted a failed token against r's address.
func (s *Server) apiCaller(w http.ResponseWriter, r *http.Request, acc *access, id string) (tok string, role arbiter.Role, tokName string, ok bool) {
	q := r.URL.Query()
	if q.Has("token") || q.Has("access_token") {
		s.quiet.Warn(r.RemoteAddr, "api request refused: token in the query string", "remote", r.RemoteAddr, "path", r.URL.Path)
		apiError(w, http.StatusBadRequest, arbiter.ErrnoForbidden, id,
			"a token in the query string is refused (it ends up in logs and histories); send it as Authorization: Bearer, and revoke this one")
		return "", arbiter.RoleNone, "", false
	}
	key := clientKey(r)
	if secs, from, wait := s.fails.retryAfter(w, key); wait {
		apiError(w, http.StatusTooManyRequests, arbiter.ErrnoForbidden, id,
			"too many failed attempts from %s: %s; retry in %ds", from, lockedWhy, secs)
		return "", arbiter.RoleNone, "", false
	}
	if len(acc.tokens) == 0 {
		apiError(w, http.StatusUnauthorized, arbiter.ErrnoForbidden, id,
			"this poold has no API tokens: set web.api_tokens (or web.token) in its config and reload it")
		return "", arbiter.RoleNone, "", false
	}
	tok = bearer(r)
	if tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="poold"`)
		apiError(w, http.StatusUnauthorized, arbiter.ErrnoForbidden, id,
			"token required: send Authorization: Bearer TOKEN (a token of web.api_tokens or web.token)")
		return "", arbiter.RoleNone, "", false
	}
	role, tokName = roleOf(acc.tokens, tok)
	if role == arbiter.RoleNone {
		if secs, held := s.fails.failed(w, []string{presented(r)}, key); held {
			apiError(w, http.StatusTooManyRequests, arbiter.ErrnoForbidden, id,
				"%s; retry in %ds", heldWhy(key, "web.api_tokens or web.token"), secs)
			return "", arbiter.RoleNone, "", false
		}
		s.quiet.Warn(key, "api request refused: bad token", "remote", r.RemoteAddr, "path", r.URL.Path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="poold", error="invalid_token"`)
		apiError(w, http.StatusUnauthorized, arbiter.ErrnoForbidden, id,
			"invalid token: it matches none of web.api_tokens or web.token")
		return "", arbiter.RoleNone, "", false
	}
	return tok, role, tokName, true
}

// apiCommand runs one command for a caller of role, with the token named
// tokName (its file).
func (s *Server) apiCommand(w http.ResponseWriter, r *http.Request, id, command string, role arbiter.Role, tokName string) {
	if !slices.Contains(arbiter.Commands(), command) {
		apiError(w, http.StatusNotFound, arbiter.ErrnoUnknownCmd, id, "unknown command %q; POST %sCOMMAND with one of: %s",
			command, apiPrefix, strings.Join(arbiter.Commands(), ", "))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		apiError(w, http.StatusMethodNotAllowed, arbiter.ErrnoBadJSON, id, "%s: use POST with the properties as a JSON object", command)
		return
	}
	if !role.Allows(command) {
		// Logged each time: only a holder of a valid token can cause it,
		// and an audit wants every refused write and whose token it was.
		s.log.Warn("api command refused: role", "command", command, "role", role.String(), "token", tokName, "remote", r.RemoteAddr)
		apiError(w, http.StatusForbidden, arbiter.ErrnoForbidden, id,
			"permission denied: %q needs an operator token; this token is %s", command, role)
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, arbiter.ErrnoBadJSON, id, "properties over %d bytes", apiMaxBody)
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			apiError(w, http.StatusRequestTimeout, arbiter.ErrnoBadJSON, id,
				"%s: the request body did not arrive within %v; send it whole with the request", command, s.tunings.bodyWait)
			return
		}
		apiError(w, http.StatusBadRequest, arbiter.ErrnoBadJSON, id, "reading the request: %v", err)
		return
	}
	if err := arbiter.CheckUTF8(body); err != nil {
		apiError(w, http.StatusBadRequest, arbiter.ErrnoBadJSON, id, "%s: %v", command, err)
		return
	}
	var props map[string]any
	if len(strings.TrimSpace(string(body))) > 0 {
		if err := json.Unmarshal(body, &props); err != nil || props == nil {
			apiError(w, http.StatusBadRequest, arbiter.ErrnoBadJSON, id, "the body must be a JSON object of properties, e.g. {\"name\": \"web\"}")
			return
		}
		if err := arbiter.CheckDuplicates(body); err != nil {
			apiError(w, http.StatusBadRequest, arbiter.ErrnoBadJSON, id, "%s: %v", command, err)
			return
		}
		if why := unknownProps(command, props); why != "" {
			apiError(w, http.StatusBadRequest, arbiter.ErrnoBadProperty, id, "%s", why)
			return
		}
	}
	// A query whose reply can be big (logs, stats) is built in turn
	// (replycap.go).
	if arbiter.ReadOnly(command) && bigQuery(command, props) && !buildTurn(w, r) {
		return
	}
	start := time.Now()
	// The role goes along: a read-only token's options and get withhold env.
	who := "API from " + r.RemoteAddr
	if tokName != "" {
		who = "API token " + tokName + " from " + r.RemoteAddr
	}
	ctx := arbiter.WithCaller(arbiter.WithRole(r.Context(), role), who)
	rep := s.opts.Backend.Do(ctx, arbiter.Request{ID: id, Command: command, Properties: props})
	status := http.StatusOK
	if st, _ := rep["status"].(string); st == "error" {
		status = httpStatus(errnoOf(rep["errno"]))
	}
	s.log.Debug("api command", "command", command, "remote", r.RemoteAddr, "status", status, "took", time.Since(start))
	writeReply(w, status, rep)
}

// readBody reads an API request's body, at most apiMaxBody bytes within
// tunings.bodyWait: only the headers have a deadline of the server's, and
// a body that trickles in would hold the handler as long as its client
// liked. net/http lifts the deadline when the body ends, so a waited
// command is not cut short by it. After a failed read the deadline stays:
// net/http reads what is left of a body before it answers, and would
// otherwise wait for the rest.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.tunings.bodyWait))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, apiMaxBody))
	if err != nil {
		w.Header().Set("Connection", "close")
	}
	return body, err
}

func errnoOf(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case float64:
		return int(n)
	}
	return 0
}
