package configs

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/poold/poold/configs/tokenfile"
)

// APIToken is one bearer token of the remote control API, read from the
// file named in web.api_tokens.
type APIToken struct {
	Role  string // "operator" or "read-only"
	File  string
	Token string
}

// Token roles of web.api_tokens.
const (
	RoleOperator = "operator"
	RoleReadOnly = "read-only"
)

// MinTokenLen is the shortest API token accepted (tokenfile.MinLen).
const MinTokenLen = tokenfile.MinLen

// ReadTokenFile reads a token file (tokenfile.Read).
func ReadTokenFile(path string) (string, error) { return tokenfile.Read(path) }

// validateRemote checks web.tls_cert, web.tls_key and web.api_tokens,
// reads the token files into w.Tokens, and refuses a console listening
// beyond loopback without TLS and a token.
func validateRemote(ps *problems, w *Web, loopback bool) {
	w.Cert = nil
	switch {
	case (w.TLSCert == "") != (w.TLSKey == ""):
		ps.add("web.tls_cert", "web.tls_cert and web.tls_key go together; set both (PEM files) or neither")
	case w.TLSCert != "":
		if pair, err := tls.LoadX509KeyPair(w.TLSCert, w.TLSKey); err != nil {
			ps.add("web.tls_cert", "cannot load the certificate %s with key %s: %v", w.TLSCert, w.TLSKey, err)
		} else {
			warnCertDates(ps, w.TLSCert, pair.Leaf, time.Now())
			keyInOpenFile(ps, w.TLSKey)
			w.Cert = &pair
		}
	}
	w.Tokens = nil
	seen := map[string]string{}
	for _, e := range w.APITokens {
		role, path, ok := strings.Cut(e, ":")
		if !ok || (role != RoleOperator && role != RoleReadOnly) || path == "" {
			ps.add("web.api_tokens", `entry %q: want "operator:/path/to/file" or "read-only:/path/to/file"`, e)
			continue
		}
		tok, err := ReadTokenFile(path)
		if err != nil {
			ps.add("web.api_tokens", "entry %q: %v", e, err)
			continue
		}
		if other, dup := seen[tok]; dup {
			ps.add("web.api_tokens", "entry %q holds the same token as %q; give each its own", e, other)
			continue
		}
		seen[tok] = e
		w.Tokens = append(w.Tokens, APIToken{Role: role, File: path, Token: tok})
	}
	weakConsoleToken(ps, w)
	if w.Enabled && !loopback && (w.TLSCert == "" || (w.Token == "" && len(w.APITokens) == 0)) {
		ps.add("web.address", "%q is not a loopback address: the console and its control API need TLS (web.tls_cert, web.tls_key) and a token (web.token or web.api_tokens) there; set them, or listen on 127.0.0.1", w.Address)
	}
}

// weakConsoleToken warns about a [web] token shorter than an API
// token may be: it signs in to the console and works as an operator's
// bearer token, and the failure limiter only slows guessing. A warning,
// not a refusal: a running poold must not start refusing the reloads of a
// config it was started with.
func weakConsoleToken(ps *problems, w *Web) {
	if w.Token == "" || len(w.Token) >= MinTokenLen {
		return
	}
	ps.warn("web.token", "is %d characters, shorter than the %d an API token must have: it signs in to the console and controls poold, so a short one can be guessed; use a random one (e.g. openssl rand -hex 16)",
		len(w.Token), MinTokenLen)
}

// warnCertDates warns about a certificate that clients refuse for its
// dates: every HTTPS client (poolctl included) fails the handshake with
// it, and the fix is on this side.
func warnCertDates(ps *problems, path string, leaf *x509.Certificate, now time.Time) {
	switch {
	case leaf == nil:
	case now.After(leaf.NotAfter):
		ps.warn("web.tls_cert", "the certificate %s expired on %s: clients refuse it; renew it and reload", path, leaf.NotAfter.UTC().Format(time.DateOnly))
	case now.Before(leaf.NotBefore):
		ps.warn("web.tls_cert", "the certificate %s is not valid before %s: clients refuse it until then; check this machine's clock or the certificate", path, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
}

// keyInOpenFile warns when users other than the key file's owner and
// group may read or change it: who reads the key can pose as this poold
// to every poolctl and console that trusts its certificate, and take the
// tokens they send. The group is left alone (a 0640 key of group
// ssl-cert is the usual way to share one with a service). A warning, as
// for the token: a running poold must not start refusing the reloads of
// a config it was started with.
func keyInOpenFile(ps *problems, path string) {
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o007 == 0 {
		return
	}
	ps.warn("web.tls_key", "the private key %s is open to other users (mode %04o): whoever reads it can pose as this poold to its clients; chmod 600 %s (or 640 with a group of its own)",
		path, fi.Mode().Perm(), path)
}

// tokenInReadableFile warns when the file at path holds [web] token
// (inline, as set in tree before any POOLD_ override) and users other
// than its owner may read it: anyone who reads the token signs in to the
// console, an operator unless read_only, so it needs the 0600 a token
// file gets (ReadTokenFile). A warning rather than a refusal: a running
// poold must not start refusing the reloads of a config it was started
// with.
func tokenInReadableFile(ps *problems, path string, tree map[string]any) {
	web, _ := tree["web"].(map[string]any)
	if tok, _ := web["token"].(string); tok == "" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	ps.warn("web.token", "the console's token is in this file, which other users can read (mode %04o): chmod 600 %s, or give the token a file of its own in web.api_tokens",
		fi.Mode().Perm(), path)
}

// envInReadableFile warns, once, when watchers of the file at path have
// env entries that look like secrets (as written in the file, before any
// POOLD_ override) and users other than its owner may read it: the env
// of a watcher is where its secrets go (a database password, an API
// key), which poold keeps from read-only callers, and every local user
// would read them in the file. Only what looks like a secret counts
// (secretEnv): an example's GREETING in a checkout readable by all is
// no news. A warning, as for the token.
func envInReadableFile(ps *problems, path string, tree map[string]any) {
	watchers, _ := tree["watchers"].(map[string]any)
	var names, keys []string
	for name, raw := range watchers {
		w, _ := raw.(map[string]any)
		env, _ := w["env"].([]any)
		found := false
		for _, e := range env {
			if k, ok := secretEnv(fmt.Sprint(e)); ok {
				keys, found = append(keys, k), true
			}
		}
		if found {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	ps.warn("watchers."+slices.Min(names)+".env", "the env of %d watcher(s) (%s) has what looks like secrets (%s) in this file, which other users can read (mode %04o): chmod 600 %s",
		len(names), firstFew(names), firstFew(keys), fi.Mode().Perm(), path)
}

// secretLike matches env names that hold secrets by convention.
var secretLike = regexp.MustCompile(`(?i)(pass|pwd|secret|token|key|credential|private|auth|dsn)`)

// passwordInURL matches a URL with a password in it (postgres://u:p@h,
// redis://:p@h).
var passwordInURL = regexp.MustCompile(`://[^/@\s:]*:[^/@\s]+@`)

// secretEnv says whether the env entry NAME=VALUE looks like a secret,
// and its name.
func secretEnv(entry string) (string, bool) {
	name, value, _ := strings.Cut(entry, "=")
	return name, secretLike.MatchString(name) || passwordInURL.MatchString(value)
}

// firstFew lists names sorted, the first 3 and how many more.
func firstFew(names []string) string {
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

// metricsInClear warns when metrics_address is beyond loopback while
// /metrics there needs [web] token: that listener is plain HTTP, so the
// token a scraper sends crosses the network in clear (the console's own
// listener is refused beyond loopback without TLS for that reason). With
// the console off, the token opens nothing else, and guarding /metrics
// is all it does. A
// warning, not a refusal: a running poold must not start refusing the
// reloads of a config it was started with.
func metricsInClear(ps *problems, w *Web) {
	host, _, _ := net.SplitHostPort(w.MetricsAddress)
	if w.Token == "" || !w.Enabled || isLoopbackHost(host) {
		return
	}
	role := "an operator's"
	if w.ReadOnly {
		role = "a read-only one"
	}
	ps.warn("web.metrics_address", "%s is plain HTTP on an address that is not loopback (a host name is not looked up: write 127.0.0.1 if it is one), and /metrics there needs [web] token: a scraper sends it across the network in clear, and whoever reads it holds the console's token (%s) wherever the console is reachable; scrape /metrics on the console's HTTPS listener (web.tls_cert) instead, bind metrics_address to 127.0.0.1 (/healthz and /readyz need no token), or give the scraper a read-only token of web.api_tokens, which /metrics takes too and which opens less",
		w.MetricsAddress, role)
}
