package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// apiInfo is where a poold's HTTPS API listens and the files to reach it.
type apiInfo struct {
	url      string // https://127.0.0.1:PORT
	ca       string // the self-signed certificate, as a CA file
	operator string // operator token file
	readOnly string // read-only token file
}

// writeSelfSigned writes a self-signed certificate for 127.0.0.1 and
// localhost (valid one day) and its key, as PEM files in dir.
func writeSelfSigned(t testing.TB, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "poold test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writeToken(t testing.TB, path string) {
	t.Helper()
	var b [16]byte
	_, _ = rand.Read(b[:])
	if err := os.WriteFile(path, fmt.Appendf(nil, "%x\n", b), 0o600); err != nil {
		t.Fatal(err)
	}
}

var consoleURL = regexp.MustCompile(`web console: url=https://(127\.0\.0\.1:\d+)/`)

// startPooldAPI starts poold (as startPoold) with its console and API on
// 127.0.0.1, port chosen by the kernel, over TLS with a self-signed
// certificate, with an operator and a read-only token.
func startPooldAPI(t testing.TB) *poold {
	t.Helper()
	return startPooldAPIWith(t, newAPIFiles(t))
}

// apiFiles are a certificate, its key and two token files, which
// several poold may share.
type apiFiles struct{ cert, key, ops, ro string }

func newAPIFiles(t testing.TB) apiFiles {
	dir := t.TempDir()
	var f apiFiles
	f.cert, f.key = writeSelfSigned(t, dir)
	f.ops, f.ro = filepath.Join(dir, "ops.token"), filepath.Join(dir, "ro.token")
	writeToken(t, f.ops)
	writeToken(t, f.ro)
	return f
}

func startPooldAPIWith(t testing.TB, f apiFiles) *poold {
	t.Helper()
	return startPooldAPIArbiter(t, f, "")
}

// startPooldAPIArbiter is startPooldAPIWith with arbiter's lines in [arbiter].
func startPooldAPIArbiter(t testing.TB, f apiFiles, arbiter string) *poold {
	t.Helper()
	cert, key, ops, ro := f.cert, f.key, f.ops, f.ro
	p := startPooldWith(t, pooldConf{arbiter: arbiter, web: fmt.Sprintf(`enabled = true
address = "127.0.0.1:0"
tls_cert = %q
tls_key = %q
api_tokens = ["operator:%s", "read-only:%s"]`, cert, key, ops, ro)})
	var m []string
	if !proctest.Poll(15*time.Second, func() bool { m = consoleURL.FindStringSubmatch(p.log()); return m != nil }) {
		t.Fatalf("poold did not log its console's https URL; log:\n%s", p.log())
	}
	p.api = &apiInfo{url: "https://" + m[1], ca: cert, operator: ops, readOnly: ro}
	return p
}

// Every command of the end-to-end test, over the HTTPS API.
func TestEndToEndHTTPS(t *testing.T) { endToEnd(t, startPooldAPI(t)) }

// local runs poolctl on p's ipc control endpoint (not its API).
func (p *poold) local(t *testing.T, args ...string) result {
	t.Helper()
	r := poolctl(t, append([]string{"--endpoint", p.control}, args...)...)
	if r.code != 0 {
		t.Fatalf("poolctl %s: %v", strings.Join(args, " "), r)
	}
	return r
}

// apiRequest sends one request to p's API with the given token (none
// when ""), trusting p's certificate.
func apiRequest(t *testing.T, p *poold, method, path, token, body string) (int, http.Header, map[string]any) {
	t.Helper()
	pool := x509.NewCertPool()
	pem, err := os.ReadFile(p.api.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, p.api.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header, m
}

func readTokenFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Each refusal has its status and a Circus-shaped reason, and runs
// nothing: the pool stays at 2 workers.
func TestAPIRefusals(t *testing.T) {
	t.Parallel()
	p := startPooldAPI(t)
	p.waitPids(t, 2)
	ops, ro := readTokenFile(t, p.api.operator), readTokenFile(t, p.api.readOnly)
	incr := `{"name": "web"}`

	for _, tc := range []struct {
		name, path, token string
		status            int
		reason            string
	}{
		{"no token", "/api/v1/incr", "", http.StatusUnauthorized, "token required"},
		{"read-only token on incr", "/api/v1/incr", ro, http.StatusForbidden, `"incr" needs an operator token`},
		{"token in the query string", "/api/v1/incr?token=" + ops, "", http.StatusBadRequest, "query string is refused"},
		{"token in the query string with a header too", "/api/v1/incr?access_token=" + ops, ops, http.StatusBadRequest, "query string is refused"},
		{"wrong token", "/api/v1/incr", "0123456789abcdef0123456789abcdef", http.StatusUnauthorized, "invalid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, _, rep := apiRequest(t, p, "POST", tc.path, tc.token, incr)
			reason, _ := rep["reason"].(string)
			if st != tc.status || rep["status"] != "error" || !strings.Contains(reason, tc.reason) {
				t.Errorf("status %d %v; want %d with %q", st, rep, tc.status, tc.reason)
			}
		})
	}
	t.Run("read-only token reads", func(t *testing.T) {
		if st, _, rep := apiRequest(t, p, "POST", "/api/v1/status", ro, `{"name": "web"}`); st != 200 || rep["status"] != "active" {
			t.Errorf("status with the read-only token: %d %v", st, rep)
		}
		r := poolctl(t, "--url", p.api.url, "--token-file", p.api.readOnly, "--ca-file", p.api.ca, "incr", "web")
		if r.code != exitReplyError || !strings.Contains(r.stderr, "needs an operator token") {
			t.Errorf("poolctl incr with a read-only token: %v", r)
		}
	})
	t.Run("plain http to the TLS port", func(t *testing.T) {
		resp, err := http.Post("http://"+strings.TrimPrefix(p.api.url, "https://")+"/api/v1/incr", "application/json", strings.NewReader(incr))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain http: %s, want 400", resp.Status)
		}
	})
	t.Run("unknown self-signed certificate", func(t *testing.T) {
		r := poolctl(t, "--url", p.api.url, "--token-file", p.api.operator, "status")
		if r.code != exitUnreachable || !strings.Contains(r.stderr, "--ca-file") {
			t.Errorf("poolctl without --ca-file: %v", r)
		}
	})
	if n := p.local(t, "numprocesses", "web").stdout; n != "2\n" {
		t.Fatalf("a refused request ran: numprocesses %q", n)
	}

	t.Run("brute force is slowed", func(t *testing.T) {
		// After a few failures every request from this address, even
		// with the right token, waits: 429 with Retry-After.
		var st int
		var hdr http.Header
		for i := 0; i < 20; i++ {
			st, hdr, _ = apiRequest(t, p, "POST", "/api/v1/incr", fmt.Sprintf("guess-%016d", i), incr)
			if st == http.StatusTooManyRequests {
				break
			}
		}
		if st != http.StatusTooManyRequests || hdr.Get("Retry-After") == "" {
			t.Fatalf("20 wrong tokens: last status %d, Retry-After %q; want 429 and a delay", st, hdr.Get("Retry-After"))
		}
		if st, _, _ := apiRequest(t, p, "POST", "/api/v1/incr", ops, incr); st != http.StatusTooManyRequests {
			t.Errorf("the right token during the lockout: %d, want 429", st)
		}
		if n := p.local(t, "numprocesses", "web").stdout; n != "2\n" {
			t.Fatalf("an incr ran during the lockout: numprocesses %q", n)
		}
	})
}

// add, kill, rm and events --since, over both transports.
func TestAddKillRmSince(t *testing.T) {
	t.Parallel()
	for name, start := range map[string]func(testing.TB) *poold{"ipc": startPoold, "https": startPooldAPI} {
		t.Run(name, func(t *testing.T) {
			p := start(t)
			p.waitPids(t, 2)
			p.ctl(t, "--waiting", "add", "w2", "sleep", "3600")
			if r := p.ctl(t, "--waiting", "start", "w2"); r.code != 0 {
				t.Fatal(r)
			}
			if r := p.ctl(t, "list"); r.stdout != "w2\nweb\n" && r.stdout != "web\nw2\n" {
				t.Fatalf("list after add: %q", r.stdout)
			}
			p.ctl(t, "--waiting", "kill", "w2")
			p.ctl(t, "--waiting", "rm", "w2")
			if r := p.ctl(t, "list"); r.stdout != "web\n" {
				t.Fatalf("list after rm: %q", r.stdout)
			}
			// events --since 0 replays what poold kept: the add is there.
			ctx, cancel := context.WithCancel(context.Background())
			out := &syncBuffer{}
			var errb bytes.Buffer
			done := make(chan int, 1)
			go func() { done <- run(ctx, append(p.conn(), "events", "--since", "0"), out, &errb) }()
			ok := proctest.Poll(20*time.Second, func() bool { return strings.Contains(out.String(), "watcher.w2.") })
			cancel()
			if code := <-done; code != 0 || !ok {
				t.Fatalf("events --since 0: exit %d, printed %q, stderr %q", code, out.String(), errb.String())
			}
		})
	}
}
