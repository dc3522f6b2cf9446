package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The console cookie proves that its browser opened the console with
// the token, without holding the token or anything a guess of it could
// be checked against: it is an HMAC, under poold's cookie key
// (CookieKey), of the token and the cookie's expiry. Whoever reads a
// cookie (a browser profile, a proxy's log) can use it until it
// expires, poold restarts or the token changes, but cannot turn it back
// into the token, nor make one from a guess. So a wrong cookie is no
// guess of the token, and is not counted as one (a restart makes every
// open tab's cookie wrong at once). An in-place upgrade hands the key to
// the new image (arbiter.Upgrader.CookieKey), so tabs stay signed in.
//
// The value is "EXPIRY.MAC": EXPIRY in unix seconds, MAC in hex.

// cookieLife is how long a console cookie lasts; the browser drops it
// then (Max-Age) and poold refuses it (its expiry is under the MAC).
// Opening the ?token= link again signs in for as long again.
const cookieLife = 30 * 24 * time.Hour

// cookieKeySize is the size of a cookie key, in bytes.
const cookieKeySize = 32

// CookieKey is the key console cookies are signed under. The console
// and the metrics listener share one (Options.CookieKey,
// ProbeOptions.CookieKey), so a browser signed in to the console reads
// /metrics with its cookie. poold draws it at start (NewCookieKey); an
// upgrade hands it to the new image (Bytes, HandedOverCookieKey). Each
// change of [web] token draws a new one: the change ends every sign-in
// made before it for good, also when an operator sets an old token
// back (a key that depended only on the token would make that token's
// old cookies valid again). Safe for concurrent use.
type CookieKey struct {
	mu  sync.Mutex
	key []byte
	// token is the digest of the token key is for; nil until the
	// first listener asks (the token poold starts or takes over with).
	token *[sha256.Size]byte
}

// NewCookieKey draws a cookie key. It never fails (crypto/rand).
func NewCookieKey() *CookieKey {
	return &CookieKey{key: drawKey()}
}

// HandedOverCookieKey is the key an upgrade's old image handed over
// (its Bytes), for the token the new image starts with.
func HandedOverCookieKey(b []byte) *CookieKey {
	return &CookieKey{key: slices.Clone(b)}
}

// Bytes is the key in force, for the hand-over of an upgrade.
func (k *CookieKey) Bytes() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.key)
}

func drawKey() []byte {
	b := make([]byte, cookieKeySize)
	_, _ = rand.Read(b)
	return b
}

// forToken returns the key of token's cookies. A token other than the
// one asked for last (by either listener: both ask for each reload's
// token in turn) draws a new key first, so the cookies of before it are
// refused ever after; the first token asked for keeps the key drawn at
// start or handed over.
func (k *CookieKey) forToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.token != nil && *k.token != sum {
		k.key = drawKey()
	}
	k.token = &sum
	return cookieMAC(k.key, token)
}

// cookieMAC is the key of token's cookies under key: changing either
// changes every cookie.
func cookieMAC(key []byte, token string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("poold web console cookie\x00"))
	h.Write([]byte(token))
	return h.Sum(nil)
}

// mintCookie is a cookie value of g's token that expires at exp.
func (g *guard) mintCookie(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + hex.EncodeToString(g.cookieSum(e))
}

func (g *guard) cookieSum(exp string) []byte {
	h := hmac.New(sha256.New, g.cookieKey)
	h.Write([]byte(exp))
	return h.Sum(nil)
}

// cookieOK reports whether v is a cookie of g's token (signed), and
// whether it is still valid at now (live).
func (g *guard) cookieOK(v string, now time.Time) (signed, live bool) {
	e, sum, ok := strings.Cut(v, ".")
	mac, err := hex.DecodeString(sum)
	if !ok || err != nil || len(g.cookieKey) == 0 {
		return false, false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || !hmac.Equal(mac, g.cookieSum(e)) {
		return false, false
	}
	return true, now.Unix() < exp
}

// setCookie signs r's browser in to g's console: a cookie for the port
// it addressed, for cookieLife.
func (g *guard) setCookie(w http.ResponseWriter, r *http.Request, now time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: g.mintCookie(now.Add(cookieLife)), Path: "/", MaxAge: int(cookieLife / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
}

// cookieWhy says, for the 401 of a request with no token but console
// cookies that g refuses, why they are refused; "" when r has none.
func (g *guard) cookieWhy(r *http.Request) string {
	cs := consoleCookies(r)
	if len(cs) == 0 {
		return ""
	}
	for _, c := range cs {
		if signed, _ := g.cookieOK(c, time.Now()); signed {
			return "your console cookie has expired (they last " + strconv.Itoa(int(cookieLife/(24*time.Hour))) + " days)"
		}
	}
	return "your console cookie is not valid here (poold restarted since you signed in, or it is another console's)"
}
