package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
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
	dir := t.TempDir()
	cert, key := writeSelfSigned(t, dir)
	ops, ro := filepath.Join(dir, "ops.token"), filepath.Join(dir, "ro.token")
	writeToken(t, ops)
	writeToken(t, ro)
	p := startPooldWith(t, pooldConf{web: fmt.Sprintf(`enabled = true
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
