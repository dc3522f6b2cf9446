package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// apiToken is one bearer token of the control API, kept as a digest.
type apiToken struct {
	sum  [sha256.Size]byte
	role arbiter.Role
	name string // where it came from, for logs: "web.token" or its file
}

// apiTokens builds the API's tokens: web.api_tokens, and web.token with
// the console's role (read-only when web.read_only).
func apiTokens(c configs.Web) []apiToken {
	var out []apiToken
	if c.Token != "" {
		role := arbiter.RoleOperator
		if c.ReadOnly {
			role = arbiter.RoleReadOnly
		}
		out = append(out, apiToken{sum: sha256.Sum256([]byte(c.Token)), role: role, name: "web.token"})
	}
	for _, t := range c.Tokens {
		role := arbiter.RoleOperator
		if t.Role == configs.RoleReadOnly {
			role = arbiter.RoleReadOnly
		}
		out = append(out, apiToken{sum: sha256.Sum256([]byte(t.Token)), role: role, name: t.File})
	}
	return out
}

// roleOf compares tok with every token in constant time (all of them,
// whatever matches, so timing tells nothing of which or how many).
func roleOf(tokens []apiToken, tok string) (arbiter.Role, string) {
	h := sha256.Sum256([]byte(tok))
	role, name := arbiter.RoleNone, ""
	for _, t := range tokens {
		if subtle.ConstantTimeCompare(h[:], t.sum[:]) == 1 {
			role, name = t.role, t.name
		}
	}
	return role, name
}

// anyToken reports whether r carries a bearer token of tokens, whatever
// its role (for /metrics, which changes nothing).
func anyToken(tokens []apiToken, r *http.Request) bool {
	b := bearer(r)
	if b == "" {
		return false
	}
	role, _ := roleOf(tokens, b)
	return role != arbiter.RoleNone
}

// bearer returns the Authorization: Bearer token of r ("" if none).
func bearer(r *http.Request) string {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.TrimSpace(a[7:])
	}
	return ""
}

// failLimiter slows down token guessing. It counts failed tokens per
// client address, and per address and token (a keyed digest of it,
// never the token): a token that failed from an address before counts
// against itself only. One client that keeps sending a wrong token (a
// scraper or script holding a revoked one, a console tab) is then held
// back alone, with 429 for that token after burst failures; the others
// at its address (every local client on 127.0.0.1, those of a NAT or
// proxy) go on. Different wrong tokens, what a guesser sends, count
// against the address: after burst of them, one more per decay, every
// request from it (even with a good token) gets 429, refused before its
// token is looked at, else the 429 would tell a guesser which guess was
// right. A repeated token tells nothing a first try did not, so it need
// not count there. An IPv6 client is counted by its address and, with
// wideBurst times the burst, by its /64, the least a host is given: one
// host cannot spread its guesses over 2^64 addresses, and a neighbour
// on a shared /64 (a hosting provider's, a LAN's) must fail far more
// often before it locks the others out. Safe for concurrent use.
type failLimiter struct {
	burst int
	decay time.Duration
	now   func() time.Time
	size  int // entries the table holds at most (maxFailEntries)

	mu sync.Mutex
	m  map[string]*failCount
	// wide counts IPv6 /64s, repeats each address's failed tokens (nil
	// within wide and repeats themselves).
	wide, repeats *failLimiter
	mac           []byte // the key of repeats' digests, random per limiter
	// frozen, when set, is the time now returns instead of the clock's
	// (tests: counts that do not decay however slowly requests run).
	frozen atomic.Pointer[time.Time]
}

type failCount struct {
	n    float64 // failures, decaying by one per decay
	last time.Time
	// seen are the digests of the tokens that failed from this address
	// and were counted against it, oldest first, at most maxSeen. They
	// are kept here, not only in repeats, so that whatever pushes them
	// out (a flood of other addresses filling a table) takes the count
	// with them: a token is counted again only by an entry that starts
	// afresh, never on top of what it counted already.
	seen []tokenDigest
}

// maxSeen is how many failed tokens an address's entry remembers: a
// client holding a few stale ones (a dashboard, a script, a console tab)
// is counted once for each; a guesser's are counted anyway.
const maxSeen = 8

const (
	maxFailEntries = 10000
	wideBurst      = 20 // a /64's burst, in bursts of one address
	evictSample    = 16 // entries a full table looks at to evict one
)

func newFailLimiter(burst int, decay time.Duration) *failLimiter {
	return newFailLimiterSized(burst, decay, maxFailEntries)
}

// newFailLimiterSized is newFailLimiter whose tables hold size entries
// each (tests: a small table a flood fills fast).
func newFailLimiterSized(burst int, decay time.Duration, size int) *failLimiter {
	l := &failLimiter{burst: burst, decay: decay, size: size, m: make(map[string]*failCount), mac: make([]byte, 32)}
	l.now = l.clock
	_, _ = rand.Read(l.mac) // never fails (crypto/rand)
	now := func() time.Time { return l.now() }
	l.wide = &failLimiter{burst: burst * wideBurst, decay: decay, now: now, size: size, m: make(map[string]*failCount)}
	l.repeats = &failLimiter{burst: burst, decay: decay, now: now, size: size, m: make(map[string]*failCount)}
	return l
}

// clock is the time: the frozen one, if any, else the real one.
func (l *failLimiter) clock() time.Time {
	if t := l.frozen.Load(); t != nil {
		return *t
	}
	return time.Now()
}

// refuse answers 429 for who ("poold console") when key is blocked, and
// reports whether it did.
func (l *failLimiter) refuse(w http.ResponseWriter, key, who string) bool {
	secs, from, wait := l.retryAfter(w, key)
	if wait {
		http.Error(w, fmt.Sprintf("%s: too many failed tokens from %s: %s; retry in %ds",
			who, from, lockedWhy, secs), http.StatusTooManyRequests)
	}
	return wait
}

// lockedWhy completes the 429 of a locked address: what it means and
// what to do.
const lockedWhy = "different wrong tokens, so every request from there waits, with a valid token too; " +
	"poold's log names each one refused (bad token, with its remote address)"

// refuseFailed records the failed tokens creds from key, and answers
// 429 for who when they are all held back (each failed burst times from
// key already), else reports false: the caller answers 401. tokens
// names what they are compared with, for the reply.
func (l *failLimiter) refuseFailed(w http.ResponseWriter, creds []string, key, who, tokens string) bool {
	secs, held := l.failed(w, creds, key)
	if held {
		http.Error(w, fmt.Sprintf("%s: %s; retry in %ds", who, heldWhy(key, tokens), secs), http.StatusTooManyRequests)
	}
	return held
}

// heldWhy says why a token is held back from key and what to do; tokens
// names what it matches none of.
func heldWhy(key, tokens string) string {
	return "this token failed again and again from " + key + " and still matches none of " + tokens +
		" (revoked or replaced by a reload? send the current one); other tokens from " + key + " are not held back"
}

// failed records the failed tokens creds (each one whole, as presented
// or consoleCredentials gives them) from key: each against key (and its
// /64) too the first time, not when it failed from key before (as key's
// own entry remembers: see failOnce). A token
// held back (it failed burst times from key already) counts nothing;
// when all of them are, it sets Retry-After and returns the seconds to
// wait.
func (l *failLimiter) failed(w http.ResponseWriter, creds []string, key string) (secs int, held bool) {
	var wait time.Duration
	held = len(creds) > 0
	for _, c := range creds {
		d := l.digest(c)
		rk := key + "\x00" + string(d[:])
		if b, d := l.repeats.blockedKey(rk); b {
			wait = max(wait, d)
			continue
		}
		held = false
		l.repeats.failKey(rk)
		l.failOnce(key, d)
	}
	if !held {
		return 0, false
	}
	secs = int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	// The token itself is refused (RFC 6750), which a client (the fleet
	// view) tells from an address locked out, whose 429 has no such
	// header: its token was not even looked at.
	w.Header().Set("WWW-Authenticate", heldChallenge)
	return secs, true
}

// heldChallenge is the WWW-Authenticate of a held token's 429.
const heldChallenge = `Bearer realm="poold", error="invalid_token"`

// presented is what r offers as a token, whole: its bearer token and
// its ?token=. Another Authorization scheme (a proxy's Basic sign-in,
// one per user) is no part of it.
func presented(r *http.Request) string {
	return bearer(r) + "\n" + r.URL.Query().Get("token")
}

// digest is a short keyed digest of a presented token: repeats holds
// no token, nor a digest that could be checked against guesses.
func (l *failLimiter) digest(tok string) tokenDigest {
	h := hmac.New(sha256.New, l.mac)
	h.Write([]byte(tok))
	return tokenDigest(h.Sum(nil)[:16])
}

// tokenDigest is digest's: 16 bytes of a keyed SHA-256.
type tokenDigest [16]byte

// retryAfter sets Retry-After, in whole seconds, when key is blocked, and
// returns them and what is blocked (key, or its /64).
func (l *failLimiter) retryAfter(w http.ResponseWriter, key string) (secs int, from string, blocked bool) {
	wait, d, from := l.blockedFrom(key)
	if !wait {
		return 0, "", false
	}
	secs = int(math.Ceil(d.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return secs, from, true
}

// clientKey is the client's address, failed tokens are counted against
// (and its /64's, for IPv6: see failLimiter). Every loopback address
// is one, loopbackKey: a local user can send from any of 127.0.0.0/8
// (all of it reaches lo), and would get a burst from each.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	if ip = ip.Unmap(); ip.IsLoopback() {
		return loopbackKey
	}
	return ip.String()
}

// loopbackKey is clientKey of every loopback address: 127.0.0.0/8, ::1
// and ::ffff:127.0.0.0/104, the local users of this host.
const loopbackKey = "loopback (127.0.0.0/8, ::1)"

// slash64 is key's IPv6 /64 ("" for IPv4, loopback, or no address).
func slash64(key string) string {
	ip, err := netip.ParseAddr(key)
	if err != nil || !ip.Is6() || ip.IsLoopback() {
		return ""
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return ""
	}
	return p.String()
}

// decayed brings c's count to now.
func (l *failLimiter) decayed(c *failCount, now time.Time) {
	c.n -= float64(now.Sub(c.last)) / float64(l.decay)
	if c.n < 0 {
		c.n = 0
	}
	c.last = now
}

// blocked reports whether key (or its /64) must wait, and for how long.
func (l *failLimiter) blocked(key string) (bool, time.Duration) {
	b, d, _ := l.blockedFrom(key)
	return b, d
}

// blockedFrom is blocked, also saying what is blocked: key or its /64.
func (l *failLimiter) blockedFrom(key string) (bool, time.Duration, string) {
	b, d := l.blockedKey(key)
	if p := slash64(key); l.wide != nil && p != "" {
		if wb, wd := l.wide.blockedKey(p); wb && wd > d {
			return true, wd, p
		}
	}
	return b, d, key
}

// blockedKey reports whether key itself must wait, and for how long.
func (l *failLimiter) blockedKey(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.m[key]
	if !ok {
		return false, 0
	}
	l.decayed(c, l.now())
	over := c.n - float64(l.burst-1)
	if over <= 0 {
		return false, 0
	}
	return true, time.Duration(over * float64(l.decay))
}

// fail records a failed attempt from key (and its /64).
func (l *failLimiter) fail(key string) {
	l.failKey(key)
	if p := slash64(key); l.wide != nil && p != "" {
		l.wide.failKey(p)
	}
}

// failKey counts a failure of key itself.
func (l *failLimiter) failKey(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entry(key, l.now()).n++
}

// failOnce counts the failed token of digest d against key (and its
// /64) unless key's entry has counted it already.
func (l *failLimiter) failOnce(key string, d tokenDigest) {
	l.mu.Lock()
	c := l.entry(key, l.now())
	if slices.Contains(c.seen, d) {
		l.mu.Unlock()
		return
	}
	if len(c.seen) >= maxSeen {
		c.seen = slices.Delete(c.seen, 0, 1)
	}
	c.seen = append(c.seen, d)
	c.n++
	l.mu.Unlock()
	if p := slash64(key); l.wide != nil && p != "" {
		l.wide.failKey(p)
	}
}

// entry is key's count, brought to now; a new one (making room in a full
// table) if it has none. Under l.mu.
func (l *failLimiter) entry(key string, now time.Time) *failCount {
	c, ok := l.m[key]
	if !ok {
		if len(l.m) >= l.size {
			l.evict(now)
		}
		c = &failCount{last: now}
		l.m[key] = c
	}
	l.decayed(c, now)
	return c
}

// evict makes room in a full table: it forgets, of evictSample entries
// (the map's own random order), those whose count has decayed to
// nothing, else the one with the fewest failures, never the whole table
// (clearing it let whoever filled it start its guesses afresh) and
// without a walk of all of it under the lock every request takes.
func (l *failLimiter) evict(now time.Time) {
	least, min, seen := "", math.Inf(1), 0
	for k, c := range l.m {
		if seen++; seen > evictSample {
			break
		}
		l.decayed(c, now)
		if c.n == 0 {
			delete(l.m, k)
			continue
		}
		if c.n < min {
			least, min = k, c.n
		}
	}
	if len(l.m) >= l.size {
		delete(l.m, least)
	}
}

// consoleRole is what a console may do: read-only with web.read_only.
func (s *Server) consoleRole() arbiter.Role {
	if s.access.Load().readOnly {
		return arbiter.RoleReadOnly
	}
	return arbiter.RoleOperator
}
