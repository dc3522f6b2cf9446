// Package remote is the client of poold's control API (/api/v1/ on the
// console's HTTPS listener): the same requests and replies as the ZeroMQ
// control endpoint, with a bearer token, and the event stream as
// server-sent events. poolctl --url and the console's fleet view use it.
//
// Concurrency: a Client is safe for concurrent use (it shares one
// keep-alive connection pool); a Stream belongs to one reader.
package remote

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/configs/tokenfile"
)

var (
	// ErrUnreachable: no poold API answers at the URL (the error says why).
	ErrUnreachable = errors.New("poold unreachable")
	// ErrTimeout: the request was sent but no reply came in time.
	ErrTimeout = errors.New("timed out waiting for reply")
)

// UnreachableError is a failed connection: Reason says the likely cause
// and what to do. It matches ErrUnreachable with errors.Is.
type UnreachableError struct {
	URL    string
	Reason string
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("%v at %s: %s", ErrUnreachable, e.URL, e.Reason)
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

func (e *UnreachableError) Unwrap() error { return e.Err }

// Options locate one poold's API.
type Options struct {
	URL       string // https://host:port (a path, if any, is ignored)
	Token     string // the bearer token itself, or
	TokenFile string // a file holding it (tokenfile.Read)
	CAFile    string // PEM certificates to trust besides the system's (self-signed)
	CAPEM     []byte // the same, given as PEM text
	// DialTimeout bounds connecting plus the TLS handshake (5s).
	DialTimeout time.Duration
	// Explain, if set, says what answers at host:port when a request
	// failed for a reason the client cannot name (a ZeroMQ endpoint,
	// whose greeting net/http calls a malformed HTTP response); "" when
	// it cannot tell either.
	Explain func(hostport string) string
	// MaxReply bounds one command's reply (0: DefaultMaxReply, which a
	// logs reply of 10,000 long lines may need). A follower that asks
	// only status and stats sets less, so a wrong or hostile host cannot
	// make it read hundreds of MiB at every refresh.
	MaxReply int64
}

// DefaultMaxReply is the largest command reply read by default.
const DefaultMaxReply = 256 << 20

// Client calls one poold's API.
type Client struct {
	base  string // scheme://host:port[/path], without a trailing /
	host  string // host:port, for labels and messages
	token string
	ca    string // the CA file or text given ("" for the system's only)
	hc    *http.Client
	// explain is Options.Explain.
	explain  func(hostport string) string
	maxReply int64
}

// New checks o, reads the token and CA files, and returns a Client. It
// does not connect.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.URL, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("remote: URL %q: want https://host:port", o.URL)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		// poold serves its API beyond loopback over HTTPS only, so this
		// is a mistake, and the token would cross the network in clear.
		return nil, fmt.Errorf("remote: URL %q: plain http to %s would send the token in clear; poold serves its API beyond loopback over HTTPS only: use https://%s", o.URL, u.Hostname(), u.Host)
	}
	tok := o.Token
	if tok == "" && o.TokenFile != "" {
		if tok, err = tokenfile.Read(o.TokenFile); err != nil {
			return nil, fmt.Errorf("remote: token file: %w", err)
		}
	}
	if tok == "" {
		return nil, fmt.Errorf("remote: %s: no token; pass --token-file FILE (or POOLCTL_TOKEN_FILE)", o.URL)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" || len(o.CAPEM) > 0 {
		pem := o.CAPEM
		if o.CAFile != "" {
			if pem, err = os.ReadFile(o.CAFile); err != nil {
				return nil, fmt.Errorf("remote: CA file: %w", err)
			}
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("remote: CA %s holds no PEM certificate", or(o.CAFile, "text"))
		}
		tc.RootCAs = pool
	}
	dt := o.DialTimeout
	if dt <= 0 {
		dt = 5 * time.Second
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: dt, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		TLSHandshakeTimeout: dt,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     50 * time.Second,
	}
	ca := o.CAFile
	if ca == "" && len(o.CAPEM) > 0 {
		ca = "the CA given"
	}
	// The path stays: a proxy may serve poold's API under one
	// (https://host/ops/poold/api/v1/...).
	return &Client{base: u.Scheme + "://" + u.Host + u.EscapedPath(), host: u.Host, token: tok, ca: ca, hc: &http.Client{Transport: tr}, explain: o.Explain,
		maxReply: cmp.Or(max(o.MaxReply, 0), DefaultMaxReply)}, nil
}

// Host is the host:port the client talks to.
func (c *Client) Host() string { return c.host }

// URL is the API's base URL.
func (c *Client) URL() string { return c.base }

// Close drops idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Call sends one raw Circus request ({"id", "command", "properties"})
// and returns the raw reply, as ctlclient.Client.Call does. Errors wrap
// ctlclient.ErrUnreachable or ErrTimeout like its.
func (c *Client) Call(ctx context.Context, raw []byte) ([]byte, error) {
	b, _, _, err := c.call(ctx, raw)
	return b, err
}

// call is Call that also gives the HTTP status the reply came with.
func (c *Client) call(ctx context.Context, raw []byte) ([]byte, int, http.Header, error) {
	var req wire.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, 0, nil, fmt.Errorf("remote: request is not a JSON object: %w", err)
	}
	if req.MsgType == "cast" {
		return nil, 0, nil, fmt.Errorf("remote: casts (no reply) are not supported over the API; drop msg_type")
	}
	body := []byte("{}")
	if req.Properties != nil {
		body, _ = json.Marshal(req.Properties)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/v1/"+url.PathEscape(strings.ToLower(req.Command)), bytes.NewReader(body))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("remote: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if req.ID != "" {
		hr.Header.Set("X-Request-Id", req.ID)
	}
	resp, err := c.send(ctx, hr)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.maxReply+1))
	if err != nil {
		return nil, 0, nil, c.netError(ctx, err)
	}
	if int64(len(b)) > c.maxReply {
		return nil, 0, nil, &UnreachableError{URL: c.base, Err: errors.New(resp.Status),
			Reason: fmt.Sprintf("it answered %s with more than %d MiB, far beyond this command's reply: is this the [web] address of a poold?", resp.Status, c.maxReply>>20)}
	}
	if !isReply(b) {
		return nil, 0, nil, c.notAPI(resp.Status, b)
	}
	return b, resp.StatusCode, resp.Header, nil
}

// ReplyError is an error reply with the HTTP status it came with: 401 for
// a token refused, 429 for a token that failed again and again from this
// address, or for an address locked out after different failed tokens
// (whatever the token), all errno 7; the reason says which. It unwraps to the
// *wire.CommandError.
type ReplyError struct {
	*wire.CommandError
	Code int
	// InvalidToken is StatusError.InvalidToken: a 429 with it is this
	// token held back, one without it the address locked out.
	InvalidToken bool
}

// invalidToken says whether h says the token is invalid (RFC 6750).
func invalidToken(h http.Header) bool {
	return strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`)
}

func (e *ReplyError) Unwrap() error { return e.CommandError }

// notAPI explains an answer that is not a poold reply: whatever answered
// is not poold's API, so the call never reached poold.
func (c *Client) notAPI(status string, body []byte) error {
	text := strings.TrimSpace(string(body))
	why := fmt.Sprintf("it answered %s, not a poold reply (%.200q): is this the [web] address of a poold?", status, text)
	if strings.HasPrefix(c.base, "http://") && strings.Contains(text, "HTTP request to an HTTPS server") {
		why = "the server speaks HTTPS: use " + "https://" + strings.TrimPrefix(c.base, "http://")
	}
	return &UnreachableError{URL: c.base, Reason: why, Err: errors.New(status)}
}

// Do is Call with a decoded reply; an error reply also returns a
// *ReplyError (an *wire.CommandError for errors.As).
func (c *Client) Do(ctx context.Context, req wire.Request) (wire.Reply, error) {
	raw, _ := json.Marshal(req)
	b, code, hdr, err := c.call(ctx, raw)
	if err != nil {
		return nil, err
	}
	var r wire.Reply
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("remote: reply from %s: %w", c.base, err)
	}
	if r["status"] == "error" {
		ce := &wire.CommandError{}
		if n, ok := r["errno"].(float64); ok {
			ce.Errno = int(n)
		}
		ce.Reason, _ = r["reason"].(string)
		return r, &ReplyError{CommandError: ce, Code: code, InvalidToken: invalidToken(hdr)}
	}
	return r, nil
}

func isReply(b []byte) bool {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	_, ok := m["status"]
	return ok
}

// send adds the token and performs hr.
func (c *Client) send(ctx context.Context, hr *http.Request) (*http.Response, error) {
	hr.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(hr)
	if err != nil {
		return nil, c.netError(ctx, err)
	}
	return resp, nil
}

// netError classifies a transport error like controller's client does.
func (c *Client) netError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w; poold may still be working", c.base, ErrTimeout)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	why := err.Error()
	var ue *tls.CertificateVerificationError
	var rhe tls.RecordHeaderError
	var ie x509.CertificateInvalidError
	var he x509.HostnameError
	var ua x509.UnknownAuthorityError
	var de *net.DNSError
	switch {
	case errors.As(err, &de):
		// Not poold's: the name in the URL does not resolve here.
		why = fmt.Sprintf("cannot look up the host name %q: %s; check the URL's host (a typo? a name only another network knows?) or give its IP address", de.Name, de.Err)
	case errors.As(err, &ie) && ie.Reason == x509.Expired:
		// Trusted or not, a certificate out of its dates is the
		// server's to renew (or this machine's clock to fix).
		why = "TLS: " + ie.Error() + "; the server's certificate (web.tls_cert) must be renewed, or this machine's clock is wrong"
	case errors.As(err, &he):
		// --ca-file cannot help: the certificate names other hosts.
		why = "TLS: " + he.Error() + "; use a URL with one of the certificate's names, or give web.tls_cert a subjectAltName for " + he.Host
	case errors.As(err, &ua) && c.ca != "":
		why = "TLS: the server's certificate is not signed by " + c.ca + " (nor by a CA of the system): it may have been renewed or replaced since, or this is another server; get its current certificate (web.tls_cert) and pass that"
	case errors.As(err, &ue):
		why = "TLS: " + ue.Err.Error() + "; for a self-signed certificate pass --ca-file CERT.pem (or POOLCTL_CA_FILE)"
	case errors.Is(err, http.ErrSchemeMismatch):
		why = "it answers plain HTTP, not HTTPS: use http:// for a loopback console without TLS, or give the console web.tls_cert and web.tls_key"
	case errors.As(err, &rhe):
		why = "the server does not speak TLS: is web.tls_cert set? (or use http:// for a loopback console without TLS)"
		if c.explain != nil { // not HTTP at all, maybe (a ZeroMQ endpoint)
			why = or(c.explain(c.host), why)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "connection refused: is poold running with [web] enabled on this address?"
	case c.explain != nil:
		if h := c.explain(c.host); h != "" {
			why = h
		}
	}
	return &UnreachableError{URL: c.base, Reason: why, Err: err}
}

// loopback reports whether host (a URL's, without brackets) is this
// machine's loopback.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
