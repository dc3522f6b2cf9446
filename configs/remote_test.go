package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a throwaway certificate and key for 127.0.0.1.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	return selfSignedFor(t, dir, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

// selfSignedFor is selfSigned valid from notBefore to notAfter.
func selfSignedFor(t *testing.T, dir string, notBefore, notAfter time.Time) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "poold test"},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	cert, key = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return cert, key
}

func TestRemoteWebConfig(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	good := filepath.Join(dir, "ops.token")
	os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600)
	open := filepath.Join(dir, "open.token")
	os.WriteFile(open, []byte("0123456789abcdef9999\n"), 0o644)
	short := filepath.Join(dir, "short.token")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, tc := range []struct {
		name, web, want string
	}{
		{"remote with TLS and api token", `address = "0.0.0.0:8443"
tls_cert = "` + cert + `"
tls_key = "` + key + `"
api_tokens = ["operator:` + good + `"]`, ""},
		{"remote with token but no TLS", `address = "0.0.0.0:8443"
token = "s3cret-s3cret-s3cret"`, `web.address: "0.0.0.0:8443" is not a loopback address: the console and its control API need TLS`},
		{"remote with TLS but no token", `address = "0.0.0.0:8443"
tls_cert = "` + cert + `"
tls_key = "` + key + `"`, `need TLS (web.tls_cert, web.tls_key) and a token`},
		{"cert without key", `tls_cert = "` + cert + `"`, "web.tls_cert: web.tls_cert and web.tls_key go together"},
		{"bad role", `api_tokens = ["admin:` + good + `"]`, `web.api_tokens: entry "admin:`},
		{"token file readable by others", `api_tokens = ["read-only:` + open + `"]`, "is readable by others (mode 0644); chmod 600 it"},
		{"short token", `api_tokens = ["read-only:` + short + `"]`, "token is 3 characters, want at least 16"},
		{"missing token file", `api_tokens = ["operator:/nonexistent/tok"]`, "no such file"},
		{"bad control rule", "", ""},
		{"control rules on tcp", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := "[web]\nenabled = true\n" + tc.web + "\n"
			if tc.name == "bad control rule" {
				// A name is looked up by ControlProblems, not by Load
				// (TestControlNamesAreMachineFacts): only the form is
				// checked here.
				conf = "[arbiter]\ncontrol_allow = [\"user:no-such-user-here\", \"uid:x\"]\n"
				tc.want = `arbiter.control_allow: "uid:x": uid must be a number`
			}
			if tc.name == "control rules on tcp" {
				// SO_PEERCRED exists only on the unix socket: on tcp the
				// rules would be silently ignored.
				conf = "[arbiter]\nendpoint = \"tcp://127.0.0.1:5555\"\ncontrol_read_only = [\"uid:65534\"]\n"
				tc.want = `arbiter.control_read_only: applies only to an ipc:// control endpoint`
			}
			path := filepath.Join(dir, "poold.toml")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if len(cfg.Web.Tokens) != 1 || cfg.Web.Tokens[0].Token != "0123456789abcdef0123" || cfg.Web.Tokens[0].Role != RoleOperator {
					t.Fatalf("tokens: %+v", cfg.Web.Tokens)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v; want %q", err, tc.want)
			}
		})
	}
}
