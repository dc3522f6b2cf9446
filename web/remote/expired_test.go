package remote

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
)

// A server whose certificate expired is refused even when the client
// trusts it (--ca-file): the error says the fix is the server's, not to
// pass --ca-file, which the client already did.
func TestExpiredServerCertificateNamesTheServer(t *testing.T) {
	cert := testCert(t, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	der := cert.Certificate[0]
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	c, err := New(Options{URL: srv.URL, Token: "0123456789abcdef", CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Do(context.Background(), arbiter.Request{Command: "status"})
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "web.tls_cert) must be renewed") || strings.Contains(err.Error(), "--ca-file") {
		t.Errorf("expired server certificate: %v, want unreachable saying to renew web.tls_cert, without the --ca-file hint", err)
	}
}

// A certificate the client does not trust although it passed --ca-file
// (renewed since, another server), or one for other names, was reported
// as "for a self-signed certificate pass --ca-file": advice the client
// had followed. Each now says what is wrong.
func TestUntrustedCertificateSaysWhy(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	der := srv.Certificate().Raw
	other := httptest.NewUnstartedServer(http.NotFoundHandler())
	other.TLS = &tls.Config{Certificates: []tls.Certificate{testCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))}}
	other.StartTLS()
	defer other.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, tc := range []struct{ name, url, want string }{
		// httptest's certificate names 127.0.0.1 and example.com, not localhost.
		{"other name", "https://localhost:" + port, "use a URL with one of the certificate's names"},
		{"renewed", other.URL, "not signed by the CA given"},
	} {
		c, err := New(Options{URL: tc.url, Token: "0123456789abcdef", CAPEM: ca})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Do(context.Background(), arbiter.Request{Command: "status"})
		c.Close()
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "pass --ca-file") {
			t.Errorf("%s: %v, want unreachable saying %q, without the --ca-file hint", tc.name, err, tc.want)
		}
	}
}

// testCert is a self-signed certificate for 127.0.0.1 valid from..till.
func testCert(t *testing.T, from, till time.Time) tls.Certificate {
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
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}
