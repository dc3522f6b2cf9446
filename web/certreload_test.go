package web

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
)

// writeCert writes a fresh self-signed certificate and its key to
// cert.pem and key.pem in dir, as certbot or cert-manager renew in place.
func writeCert(t *testing.T, dir string) (der []byte) {
	t.Helper()
	cert, certPEM := selfSigned(t)
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte(certPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM(t, cert), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert.Certificate[0]
}

// servedCert is the certificate a TLS handshake with addr gets.
func servedCert(t *testing.T, addr string) []byte {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

// TestReloadServesRenewedCertificate: a certificate renewed at the same
// path was never served until poold restarted, though the config check
// says "renew it and reload" of an expired one; a reload reported no
// change and kept the old (expiring) certificate. A reload now serves the
// renewed one to new connections.
func TestReloadServesRenewedCertificate(t *testing.T) {
	dir := t.TempDir()
	first := writeCert(t, dir)
	conf := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(conf, []byte(`[web]
enabled = true
tls_cert = "`+filepath.Join(dir, "cert.pem")+`"
tls_key = "`+filepath.Join(dir, "key.pem")+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func() configs.Web {
		t.Helper()
		cfg, err := configs.Load(conf)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Web
	}
	w := load()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.Address = l.Addr().String()
	s, err := New(Options{Config: w, Backend: newFakeBackend(t, map[string]int{"web": 1}),
		TLS: &tls.Config{Certificates: []tls.Certificate{*w.Cert}}, Log: hclog.New(&hclog.LoggerOptions{Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	if !bytes.Equal(servedCert(t, w.Address), first) {
		t.Fatal("the certificate served at start is not the one in tls_cert")
	}

	renewed := writeCert(t, dir)
	next := load()
	next.Address = w.Address
	if restart := s.Reconfigure(next); slices.Contains(restart, "web.tls_cert") || slices.Contains(restart, "web.tls_key") {
		t.Errorf("Reconfigure with a renewed certificate at the same path: restart needed for %q", restart)
	}
	if !bytes.Equal(servedCert(t, w.Address), renewed) {
		t.Fatal("after a reload, new connections still get the old certificate, not the renewed one")
	}
}

// keyPEM is cert's private key as PKCS #8 PEM.
func keyPEM(t *testing.T, cert tls.Certificate) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
