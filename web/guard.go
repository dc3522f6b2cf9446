package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// cookiePrefix names the cookie that holds the console token after a
// first ?token= visit; the port the browser addressed (the Host header's)
// completes the name. A browser sends a host's cookies to every port of
// it, so consoles of several poolds on one host (127.0.0.1:8080 and
// :8081, or two hosts' :8080 forwarded by ssh -L or docker -p to two
// local ports) each keep their own; with one name, signing in to one
// would sign the other out.
const cookiePrefix = "poold_token_"

// cookieName is the console cookie's name for the address r was sent to.
func cookieName(r *http.Request) string {
	port := "80"
	if r.TLS != nil {
		port = "443"
	}
	if _, p, err := net.SplitHostPort(r.Host); err == nil && p != "" {
		port = p
	}
	return cookiePrefix + port
}

// guard decides whether a request may see the console: Host header (DNS
// rebinding), token (cookie, bearer or query) and, for the websocket, Origin.
// It is immutable after newGuard, so handlers share it freely.
type guard struct {
	token [sha256.Size]byte
	// cookieKey signs the cookies that prove the token (cookie.go): a
	// digest of the token under poold's cookie key in force when the
	// token was set.
	cookieKey []byte
	hasToken  bool
	hosts     map[string]bool // allowed Host names (lower case, no port, no brackets)
	anyHost   bool            // wildcard bind with a token: any Host name
	// closed: the console has no [web] token, and API tokens or a
	// listener beyond loopback
	// (the API's own tokens let New accept that). Its page, websocket and
	// probes are then refused to everyone; only the API is served.
	closed bool
}

// newConsoleGuard is newGuard for the console's listener, closed when it
// has no console token but API tokens, or listens beyond loopback. A
// user who sets api_tokens means the listener to check who runs what: a
// console open to every local user (or to a proxy on the host) would run
// an operator's commands for anyone, past the read-only tokens' role.
func newConsoleGuard(bindHost, token string, apiTokens bool, keys *CookieKey) *guard {
	g := newGuard(bindHost, token, keys)
	g.closed = token == "" && (apiTokens || !isLoopbackHost(bindHost))
	return g
}

// closedWhy says why a console guard is closed, for the 401 and the log.
func closedWhy() string {
	return "[web] token is not set, and the listener has web.api_tokens or is not on a loopback address; only the control API (/api/v1/, with a token of web.api_tokens) is served here; set [web] token to open the console"
}

// newGuard guards with token; its cookies are signed under keys's key
// for it (poold's console and metrics listener share keys; a new token
// draws a new key, cookie.go).
func newGuard(bindHost, token string, keys *CookieKey) *guard {
	g := &guard{hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	// Asked for "" too: a token removed and set again later is a change.
	key := keys.forToken(token)
	if token != "" {
		g.hasToken = true
		g.token = sha256.Sum256([]byte(token))
		g.cookieKey = key
	}
	h := strings.ToLower(strings.Trim(bindHost, "[]"))
	switch {
	case h == "" || h == "0.0.0.0" || h == "::":
		// A wildcard bind serves every address of the machine, under
		// names we cannot know. New refuses it without a token, and with
		// a token a rebinding page cannot authenticate (it has neither
		// the token nor our cookie), so the Host check gives way.
		g.anyHost = g.hasToken
	default:
		g.hosts[h] = true
	}
	return g
}

// maxStale is how many replaced console tokens are still recognised.
const maxStale = 4

// retire adds cur, the guard of a console token a reload replaced, to
// stale (newest last, at most maxStale). A request that only they admit
// comes from a page, bookmark or scrape config of before the change: it
// is refused, saying so, but it is not a guess (it tells nothing of the
// token in force), so a tab that keeps reconnecting does not lock its
// address out.
func retire(stale []*guard, cur *guard) []*guard {
	if !cur.hasToken {
		return stale
	}
	return append(slices.Clone(stale[max(0, len(stale)-maxStale+1):]), cur)
}

// replacedToken reports whether r carries a console token or cookie of
// one of stale.
func replacedToken(stale []*guard, r *http.Request) bool {
	for _, g := range stale {
		if ok, _ := g.tokenOK(r); ok && g.hasToken {
			return true
		}
	}
	return false
}

// isLoopbackHost reports whether a listen host is loopback only.
func isLoopbackHost(host string) bool {
	h := strings.Trim(host, "[]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// hostName returns the name part of a Host header or URL host, lower-cased,
// without port and brackets.
func hostName(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// hostOK rejects requests whose Host header names a host we do not serve:
// a page on evil.example whose name was rebound to 127.0.0.1 arrives with
// Host: evil.example.
func (g *guard) hostOK(r *http.Request) bool {
	if g.anyHost {
		return true
	}
	return g.hosts[hostName(r.Host)]
}

// tokenOK reports whether the request carries the token, and whether it came
// in the query (so the caller should set the cookie).
func (g *guard) tokenOK(r *http.Request) (ok, fromQuery bool) {
	if g.closed {
		return false, false
	}
	if !g.hasToken {
		return true, false
	}
	// Any console cookie that proves this token will do: the one set
	// for the port addressed, or one of the same poold's console on
	// another port (a browser signed in to the console reads /metrics
	// on metrics_address with it). Only the first maxConsoleCookies:
	// each one checked costs an HMAC.
	now := time.Now()
	for _, c := range consoleCookies(r) {
		if _, live := g.cookieOK(c, now); live {
			return true, false
		}
	}
	if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") && g.match(strings.TrimSpace(a[7:])) {
		return true, false
	}
	if q := r.URL.Query().Get("token"); q != "" && g.match(q) {
		return true, true
	}
	return false, false
}

// triedToken reports whether r carries something offered as the token
// (bearer or query): a failed one is counted against the client. A
// console cookie is not: it cannot be made from a guess without poold's
// cookie key (cookie.go), so a wrong one tells nothing of the token,
// and after a restart every open tab sends one. Nor is an Authorization
// header of another scheme (Basic): a proxy in front passes on its own
// sign-in, which is no guess at poold's token.
func (g *guard) triedToken(r *http.Request) bool {
	return bearer(r) != "" || r.URL.Query().Has("token")
}

// maxConsoleCookies bounds the console cookies of a request that are
// checked: a browser signed in to that many consoles on one host name
// sends them all; a request stuffed with thousands must not cost
// thousands of HMACs.
const maxConsoleCookies = 4

// consoleCookies are the values of r's first maxConsoleCookies console
// cookies (named cookiePrefix and a port).
func consoleCookies(r *http.Request) []string {
	var out []string
	for _, c := range r.Cookies() {
		if strings.HasPrefix(c.Name, cookiePrefix) {
			if out = append(out, c.Value); len(out) == maxConsoleCookies {
				break
			}
		}
	}
	return out
}

// consoleCredentials are the tokens r offers the console, counted by
// the failure limiter: its bearer token and ?token=, as one (presented).
func consoleCredentials(r *http.Request) []string {
	return []string{presented(r)}
}

// match compares in constant time; hashing first hides the length too.
func (g *guard) match(s string) bool {
	h := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(h[:], g.token[:]) == 1
}

// originOK is the websocket's cross-site check: a browser always sends
// Origin, and it must name the host the request was sent to. Clients that
// are not browsers send none and pass (they still need the token).
func (g *guard) originOK(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}
