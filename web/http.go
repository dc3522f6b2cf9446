package web

import (
	"context"
	"embed"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

//go:embed static
var staticFS embed.FS

// assets are the files under static/, served at /static/ (index.html at /).
var assets = func() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic("web: embedded assets: " + err.Error())
	}
	return sub
}()

// Content Security Policy: everything from this origin only; no inline
// script, nothing from the internet.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// handler routes the console's URLs. Every route passes the guard first.
func (s *Server) handler(ctx context.Context, h *hub, wg *sync.WaitGroup) http.Handler {
	files := http.FileServerFS(assets)
	up := &websocket.Upgrader{
		ReadBufferSize:  4096,
		WriteBufferSize: 16 << 10,
		// The guard has already checked Origin against Host.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.ServeFileFS(w, r, assets, "index.html")
	})
	mux.Handle("GET /static/", http.StripPrefix("/static/", files))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "favicon.svg")
	})
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics)
	}
	if s.opts.Health != nil {
		mux.Handle("GET /healthz", healthz(s.opts.Health))
		mux.Handle("GET /readyz", readyz(s.opts.Health))
	}
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		acc := accessOf(r)
		if !acc.guard.originOK(r) {
			s.quiet.Warn(r.RemoteAddr, "websocket refused: cross-origin", "origin", r.Header.Get("Origin"), "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, "poold console: cross-origin websocket refused", http.StatusForbidden)
			return
		}
		// A console is a stream of web.token's (streamcap.go).
		slot := s.holdStream(r, "web.token", func(why string) {
			http.Error(w, "poold console: "+why, http.StatusTooManyRequests)
		})
		if slot == nil {
			return
		}
		defer slot.release()
		wg.Add(1)
		defer wg.Done()
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered the client
		}
		s.serveConn(ctx, h, conn, r.RemoteAddr, wsEnds{revoked: acc.consoles, evicted: slot.evicted}, sinceParam(r.URL.Query().Get("since")), handedOver(r))
	})

	return s.guarded(mux)
}

// guarded wraps mux with the headers every response carries and the
// checks every request passes: the API's bearer token, or the console's
// Host header and token (given once in the query, then kept in a cookie).
func (s *Server) guarded(mux http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Big replies count as the client address's until the caller's
		// token is known (replycap.go).
		w, end := boundedReplies(w, s.tunings.writeWait, r.URL.Path == "/ws", s.replies, "client "+clientKey(r))
		defer end()
		hdr := w.Header()
		hdr.Set("Content-Security-Policy", csp)
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("X-Frame-Options", "DENY")
		hdr.Set("Referrer-Policy", "no-referrer")
		// One access for the whole request, even if Reconfigure replaces
		// it meanwhile: a websocket admitted under it ends with it.
		acc := s.access.Load()
		if strings.HasPrefix(r.URL.Path, apiPrefix) {
			// Bearer tokens only: no Host check (a rebinding page has no
			// token) and no cookie (a cross-site request would carry it).
			s.serveAPI(w, r, acc)
			return
		}
		if !acc.guard.hostOK(r) {
			s.quiet.Warn(r.RemoteAddr, "request refused: unexpected host header", "host", r.Host, "remote", r.RemoteAddr)
			http.Error(w, "poold console: unexpected Host header "+quoteHost(r.Host)+"; open it by the address it listens on, e.g. "+scheme(r)+"://"+s.addr+"/", http.StatusMisdirectedRequest)
			return
		}
		if r.URL.Path == "/metrics" && s.opts.Metrics != nil && anyToken(acc.tokens, r) {
			// A scraper's API token (a read-only one will do): metrics
			// change nothing.
			// Built without a turn: the exporter builds few at once.
			_, tokName := roleOf(acc.tokens, bearer(r))
			replyKey(w, tokName)
			mux.ServeHTTP(w, withAccess(r, acc))
			return
		}
		ok, fromQuery := s.consoleAuth(w, r, acc)
		if !ok {
			return
		}
		replyKey(w, "web.token")
		if fromQuery {
			acc.guard.setCookie(w, r, time.Now())
			if r.URL.Path != "/ws" {
				// Take the token out of the address bar and history.
				w.Header().Set("Location", withoutToken(r.URL))
				w.WriteHeader(http.StatusSeeOther)
				return
			}
		}
		mux.ServeHTTP(w, withAccess(r, acc))
	})
}

// withoutToken is u without its ?token=, as a reference relative to u
// itself: the browser resolves it against the address it asked for, so
// a proxy that serves the console under a path (/ops/poold/) keeps the
// user there. (http.Redirect would make it absolute, /.)
func withoutToken(u *url.URL) string {
	q := u.Query()
	q.Del("token")
	p := u.EscapedPath()
	rel := "./" + p[strings.LastIndexByte(p, '/')+1:]
	if len(q) > 0 {
		rel += "?" + q.Encode()
	}
	return rel
}

// consoleAuth checks the console's token, counting failed guesses per
// client address as the API does, and answers the refusals itself.
func (s *Server) consoleAuth(w http.ResponseWriter, r *http.Request, acc *access) (ok, fromQuery bool) {
	g := acc.guard
	if g.closed {
		http.Error(w, "poold console: closed on "+s.addr+": "+closedWhy(), http.StatusUnauthorized)
		return false, false
	}
	key := clientKey(r)
	if s.fails.refuse(w, key, "poold console") {
		return false, false
	}
	ok, fromQuery = g.tokenOK(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="poold"`)
		if acc.staleToken(r) {
			s.quiet.Info(r.RemoteAddr, "console request refused: its token was replaced by a reload", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "poold console: signed in with a token that [web] token has since replaced; open "+scheme(r)+"://"+r.Host+"/?token=YOUR_TOKEN with the new token once to sign in again", http.StatusUnauthorized)
			return false, false
		}
		if !g.triedToken(r) {
			if why := g.cookieWhy(r); why != "" {
				http.Error(w, "poold console: "+why+"; open "+signIn(r)+" once to sign in again", http.StatusUnauthorized)
				return false, false
			}
			http.Error(w, "poold console: token required; open "+signIn(r)+" once, or send Authorization: Bearer"+notBearer(r), http.StatusUnauthorized)
			return false, false
		}
		tokens := "[web] token"
		if r.URL.Path == "/metrics" && s.opts.Metrics != nil {
			tokens = "[web] token or web.api_tokens"
		}
		if s.fails.refuseFailed(w, consoleCredentials(r), key, "poold console", tokens) {
			return false, false
		}
		s.quiet.Warn(key, "console request refused: bad token", "remote", r.RemoteAddr, "path", r.URL.Path)
		http.Error(w, "poold console: token refused: it matches none of "+tokens+"; open "+signIn(r)+" once, or send Authorization: Bearer", http.StatusUnauthorized)
	}
	return ok, fromQuery
}

// notBearer notes, for a 401, an Authorization header poold ignores:
// another scheme than Bearer, most often a proxy's Basic sign-in.
func notBearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if a == "" || bearer(r) != "" {
		return ""
	}
	scheme, _, _ := strings.Cut(a, " ")
	if len(scheme) > 20 {
		scheme = scheme[:20]
	}
	return " (the Authorization header sent, " + quoteHost(scheme) + ", is not a Bearer token and is ignored: a proxy in front passes on its own sign-in)"
}

// signIn is the console's sign-in address for r, for a 401.
func signIn(r *http.Request) string {
	return scheme(r) + "://" + r.Host + "/?token=YOUR_TOKEN (the [web] token of poold's config)"
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100]
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, h) + `"`
}
