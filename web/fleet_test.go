package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/configs"
)

// selfSigned returns a TLS certificate for 127.0.0.1 and its PEM.
func selfSigned(t testing.TB) (tls.Certificate, string) {
	t.Helper()
	return selfSignedFor(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// selfSignedFor is a self-signed certificate valid from..till.
func selfSignedFor(t testing.TB, from, till time.Time) (tls.Certificate, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "poold test"},
		NotBefore: from, NotAfter: till,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// apiServer is a console with the HTTPS API, stoppable before the test ends.
type apiServer struct {
	addr string
	stop func()
}

func startAPIServer(t *testing.T, fake *fakeBackend, cert tls.Certificate, token string) *apiServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := configs.Web{Enabled: true, Address: l.Addr().String(),
		Tokens: []configs.APIToken{{Role: configs.RoleOperator, File: "test", Token: token}}}
	s, err := New(Options{Config: cfg, Backend: fake, Events: fake.Events, Stats: fake.Stats,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}},
		Log: hclog.New(&hclog.LoggerOptions{Name: "api", Level: hclog.Warn, Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	return &apiServer{addr: l.Addr().String(), stop: runServer(t, s, l)}
}

func fleetCardExpr(host, state, watcher, procs string) string {
	return fmt.Sprintf(`(() => {
		const c = document.querySelector('article.fleethost[data-host=%q]');
		if (!c || c.dataset.state !== %q) return false;
		if (!%q) return true;
		const td = c.querySelector('tr[data-watcher=%q] td.procs');
		return !!td && td.textContent === %q;
	})()`, host, state, watcher, watcher, procs)
}

// The console of one poold adds two others and shows all three, live:
// a change on one host shows up, a host that stops is shown unreachable
// while the other keeps updating.
func TestBrowserFleet(t *testing.T) {
	ctx := newBrowser(t)
	cert, certPEM := selfSigned(t)
	const token = "fleet-test-token-0123456789"
	fakeB := newFakeBackend(t, map[string]int{"web": 2})
	fakeC := newFakeBackend(t, map[string]int{"web": 1, "jobs": 1})
	b := startAPIServer(t, fakeB, cert, token)
	c := startAPIServer(t, fakeC, cert, token)
	a := startServer(t, newFakeBackend(t, map[string]int{"local": 1}), configs.Web{},
		func(tu *tunings) { tu.retry = 100 * time.Millisecond; tu.refreshDelay = 20 * time.Millisecond })

	if _, err := chromedp.Run(ctx, chromedp.Navigate(a.url+"/")); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, "the local watcher", rowsExpr("local", 1))
	for _, h := range []*apiServer{b, c} {
		fillForm(t, ctx, "https://"+h.addr, token, certPEM)
		waitJS(t, ctx, "the form to be cleared", `document.querySelector('#fleeturl').value === ""`)
	}
	waitJS(t, ctx, "host B live", fleetCardExpr(b.addr, "live", "web", "2"))
	waitJS(t, ctx, "host C live", fleetCardExpr(c.addr, "live", "jobs", "1"))
	saveScreenshot(t, ctx, "fleet.png")

	fakeB.Do(context.Background(), arbiter.Request{Command: "incr", Properties: map[string]any{"name": "web"}})
	waitJS(t, ctx, "host B's incr", fleetCardExpr(b.addr, "live", "web", "3"))

	c.stop()
	waitJS(t, ctx, "host C unreachable", fleetCardExpr(c.addr, "unreachable", "", ""))
	// Its last rows stay, but not as if its watchers were active now.
	waitJS(t, ctx, "host C's rows as last seen", fmt.Sprintf(`(() => {
		const c = document.querySelector('article.fleethost[data-host=%q]');
		const st = [...c.querySelectorAll('td.st')].map(td => td.textContent);
		return st.length === 2 && st.every(s => s === 'was active') && c.querySelector('.fstale').textContent.startsWith('as last seen');
	})()`, c.addr))
	fakeB.Do(context.Background(), arbiter.Request{Command: "incr", Properties: map[string]any{"name": "web"}})
	waitJS(t, ctx, "host B still live", fleetCardExpr(b.addr, "live", "web", "4"))
	// A bad URL is said in the form, and adds nothing.
	fillForm(t, ctx, "not a url", token, "")
	waitJS(t, ctx, "the form's error", `!!document.querySelector('#fleetadd').dataset.error`)
	waitJS(t, ctx, "still two hosts", `document.querySelectorAll('article.fleethost').length === 2`)
}

// fillForm opens the add-a-host form, fills it and submits it.
func fillForm(t *testing.T, ctx context.Context, url, token, ca string) {
	t.Helper()
	js := fmt.Sprintf(`document.querySelector('#fleetadd-box').open = true;
		document.querySelector('#fleeturl').value = %q;
		document.querySelector('#fleettoken').value = %q;
		document.querySelector('#fleetca').value = %q;`, url, token, ca)
	for _, a := range []chromedp.Action[chromedp.Void]{
		chromedp.Evaluate[chromedp.Void](js),
		chromedp.Click(chromedp.CSS("#fleetadd button")),
	} {
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
}
