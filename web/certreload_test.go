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
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
)

// writeCert writes a fresh self-signed certificate and its key to
// cert.pem and key.pem in dir, as certbot or cert-manager renew in place.
func writeCert(t *testing.T, dir string) (der []byte) {
	t.Helper()
	return writeCertFor(t, dir, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// writeCertFor is writeCert of a certificate valid from..till.
func writeCertFor(t *testing.T, dir string, from, till time.Time) (der []byte) {
	t.Helper()
	cert, certPEM := selfSignedFor(t, from, till)
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

// certServer runs a console on TLS with a new certificate in dir, from
// a config file that load reads again (for a Reconfigure); first is the
// certificate it serves.
func certServer(t *testing.T) (dir string, first []byte, load func() configs.Web, w configs.Web, s *Server) {
	t.Helper()
	dir = t.TempDir()
	first = writeCert(t, dir)
	conf := filepath.Join(dir, "poold.toml")
	if err := os.WriteFile(conf, []byte(`[web]
enabled = true
tls_cert = "`+filepath.Join(dir, "cert.pem")+`"
tls_key = "`+filepath.Join(dir, "key.pem")+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	load = func() configs.Web {
		t.Helper()
		cfg, err := configs.Load(conf)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Web
	}
	w = load()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.Address = l.Addr().String()
	s, err = New(Options{Config: w, Backend: newFakeBackend(t, map[string]int{"web": 1}),
		TLS: &tls.Config{Certificates: []tls.Certificate{*w.Cert}}, Log: hclog.New(&hclog.LoggerOptions{Output: testWriter{t}})})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s, l)
	return dir, first, load, w, s
}

// TestReloadServesRenewedCertificate: a certificate renewed at the same
// path was never served until poold restarted, though the config check
// says "renew it and reload" of an expired one; a reload reported no
// change and kept the old (expiring) certificate. A reload now serves the
// renewed one to new connections.
func TestReloadServesRenewedCertificate(t *testing.T) {
	t.Parallel()
	dir, first, load, w, s := certServer(t)
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

// A reload that brings a certificate out of its dates (an expired file
// copied over the renewed one, a certificate issued for next year)
// served it at once: every poolctl and fleet view then failed its
// handshake, and the only way back was another reload. poold warned
// (configs) but applied it. Now it keeps serving the current one, valid,
// and logs why; a valid renewal is still served at once.
func TestReloadKeepsAValidCertificateOverOneOutOfItsDates(t *testing.T) {
	t.Parallel()
	dir, first, load, w, s := certServer(t)
	for _, tc := range []struct {
		name       string
		from, till time.Time
	}{
		{"expired", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"not yet valid", time.Now().Add(24 * time.Hour), time.Now().Add(48 * time.Hour)},
	} {
		writeCertFor(t, dir, tc.from, tc.till)
		next := load()
		next.Address = w.Address
		s.Reconfigure(next)
		if !bytes.Equal(servedCert(t, w.Address), first) {
			t.Errorf("after a reload with a certificate %s, new connections get it, not the valid one served before", tc.name)
		}
	}
	renewed := writeCert(t, dir)
	next := load()
	next.Address = w.Address
	s.Reconfigure(next)
	if !bytes.Equal(servedCert(t, w.Address), renewed) {
		t.Fatal("after a reload with a valid certificate, new connections do not get it")
	}
}
