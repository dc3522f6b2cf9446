package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/poold/poold/configs"
)

// access is the console's access settings in force: who may come in, and
// whether actions are allowed. It is immutable; Reconfigure replaces it as
// a whole and then closes revoked (and consoles, when the console's own
// settings changed), which ends every console opened under
// it (a console's page reconnects and meets the new settings).
type access struct {
	guard    *guard
	token    string
	readOnly bool
	tokens   []apiToken // the control API's bearer tokens
	revoked  chan struct{}
	// consoles is closed when a reload changes who may open a console or
	// what it may do (token, read_only, the console closed or opened):
	// it ends the consoles opened before. A reload that changes only
	// the API's tokens hands it on, open, so consoles stay.
	consoles chan struct{}
	// stale are the guards of console tokens a reload replaced (retire).
	stale []*guard
}

// staleToken reports whether r carries a console token or cookie that a
// reload replaced.
func (a *access) staleToken(r *http.Request) bool { return replacedToken(a.stale, r) }

func newAccess(bindHost string, c configs.Web, keys *CookieKey) *access {
	return &access{guard: newConsoleGuard(bindHost, c.Token, len(c.Tokens) > 0, keys), token: c.Token, readOnly: c.ReadOnly, tokens: apiTokens(c),
		revoked: make(chan struct{}), consoles: make(chan struct{})}
}

type accessKey struct{}

// withAccess records on r the access it was admitted under, so the
// websocket it opens ends when that access is replaced.
func withAccess(r *http.Request, a *access) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), accessKey{}, a))
}

func accessOf(r *http.Request) *access {
	a, _ := r.Context().Value(accessKey{}).(*access)
	return a
}

// Reconfigure applies a reloaded [web] section to the running console and
// returns the settings that only a restart of poold applies, as
// "web.<key>": enabled and address (and tls_cert and tls_key when HTTPS is
// turned on or off; a new certificate applies at once, see reloadCert).
// token and read_only apply at once; when
// either changes, every open console is closed, and cookies minted from
// an old token stop working, for good (an old token set back later has
// a new cookie key, cookie.go). A token removed while the console still
// listens on a non-loopback address is kept until the restart (reported
// as web.token). Reconfigure does not block; it is safe for concurrent use.
func (s *Server) Reconfigure(c configs.Web) (restart []string) {
	s.reconfMu.Lock()
	defer s.reconfMu.Unlock()
	if !c.Enabled {
		restart = append(restart, "web.enabled")
	}
	if webAddress(c.Address) != s.addr {
		restart = append(restart, "web.address")
	}
	if c.MetricsAddress != s.opts.Config.MetricsAddress {
		// Its listener is bound at start (cmd/poold); it reports the
		// change too when the console is off.
		restart = append(restart, "web.metrics_address")
	}
	cur := s.access.Load()
	host, _, _ := net.SplitHostPort(s.addr)
	token := c.Token
	if token == "" && cur.token != "" && !isLoopbackHost(host) {
		s.log.Warn("[web] token removed, but the console listens on a non-loopback address until poold restarts: keeping the old token",
			"address", s.addr)
		token = cur.token
		restart = append(restart, "web.token")
	}
	restart = append(restart, s.reloadCert(c)...)
	c.Token = token
	if token == cur.token && c.ReadOnly == cur.readOnly && slices.Equal(apiTokens(c), cur.tokens) {
		return restart
	}
	next := newAccess(host, c, s.opts.CookieKey)
	next.stale = cur.stale
	if token != cur.token {
		next.stale = retire(cur.stale, cur.guard)
	}
	sameConsole := token == cur.token && c.ReadOnly == cur.readOnly && next.guard.closed == cur.guard.closed
	if sameConsole {
		next.consoles = cur.consoles
	}
	s.access.Store(next)
	close(cur.revoked)
	if sameConsole {
		s.log.Info("web api tokens applied; open consoles kept", "api_tokens", len(next.tokens))
		return restart
	}
	close(cur.consoles)
	s.log.Info("web console settings applied; open consoles closed",
		"token_changed", token != cur.token, "token", token != "", "read_only", c.ReadOnly)
	return restart
}

// ConsoleAddress is the address the console of c listens on (what
// Server.Addr says of a server made with c): an upgrade binds it ahead
// for the next image.
func ConsoleAddress(c configs.Web) string { return webAddress(c.Address) }

// webAddress is the address a [web] section asks for.
func webAddress(a string) string {
	a = strings.TrimSpace(a)
	if a == "" {
		return configs.DefaultWebAddress
	}
	return a
}

// reloadCert serves the certificate of a reloaded config from the next
// handshake on, when the console speaks HTTPS and the config has one
// (renewed in place, or at new paths). Switching HTTPS on or off needs a
// restart: it returns web.tls_cert and web.tls_key then, when changed.
func (s *Server) reloadCert(c configs.Web) (restart []string) {
	cur := s.cert.Load()
	if cur == nil || c.Cert == nil || len(c.Cert.Certificate) == 0 {
		if c.TLSCert != s.opts.Config.TLSCert {
			restart = append(restart, "web.tls_cert")
		}
		if c.TLSKey != s.opts.Config.TLSKey {
			restart = append(restart, "web.tls_key")
		}
		return restart
	}
	if len(cur.Certificate) > 0 && bytes.Equal(cur.Certificate[0], c.Cert.Certificate[0]) {
		return nil
	}
	if next, now := leafOf(c.Cert), time.Now(); next != nil && !inDates(next, now) && inDates(leafOf(cur), now) {
		// Every client would refuse it (configs warns): keep the one
		// that works rather than cut off every poolctl and fleet view.
		s.log.Error("tls certificate not reloaded: clients would refuse it; the current one is still served; renew it and reload",
			"tls_cert", c.TLSCert, "not_before", next.NotBefore.UTC().Format(time.RFC3339), "not_after", next.NotAfter.UTC().Format(time.RFC3339),
			"current_not_after", leafOf(cur).NotAfter.UTC().Format(time.RFC3339))
		return nil
	}
	s.cert.Store(c.Cert)
	args := []any{"tls_cert", c.TLSCert}
	if leaf := c.Cert.Leaf; leaf != nil {
		args = append(args, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	s.log.Info("tls certificate reloaded; new connections get it", args...)
	return nil
}

// leafOf is c's first certificate, parsed; nil when there is none.
func leafOf(c *tls.Certificate) *x509.Certificate {
	if c.Leaf != nil || len(c.Certificate) == 0 {
		return c.Leaf
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// inDates says whether leaf is within its validity dates at now.
func inDates(leaf *x509.Certificate, now time.Time) bool {
	return leaf != nil && !now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter)
}
