package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A certificate out of its dates loads (its key matches), but every
// client refuses it: --check and start say so, with the date, instead
// of leaving poolctl's handshake error to be read as the client's fault.
func TestCertificateOutOfItsDatesWarns(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name       string
		from, till time.Time
		want       string
	}{
		{"expired", day("2019-01-01"), day("2020-01-01"), "expired on 2020-01-01: clients refuse it; renew it"},
		{"not yet valid", time.Now().Add(48 * time.Hour), time.Now().Add(96 * time.Hour), "is not valid before"},
		{"valid", time.Now().Add(-time.Hour), time.Now().Add(time.Hour), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cert, key := selfSignedFor(t, dir, tc.from, tc.till)
			got := tlsWarnings(t, dir, cert, key)
			if tc.want == "" && strings.Contains(got, "web.tls_cert") || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want one saying %q", got, tc.want)
			}
			if tc.want != "" && !strings.Contains(got, "web.tls_cert") {
				t.Errorf("warnings %q do not name web.tls_cert", got)
			}
		})
	}
}

// A TLS key that other users can read is served without complaint by
// most servers; --check, start and reload say so, naming the file and
// its mode. A key of the owner alone, or shared with a group, is quiet.
func TestTLSKeyOpenToOtherUsersWarns(t *testing.T) {
	for _, tc := range []struct {
		mode os.FileMode
		warn bool
	}{{0o644, true}, {0o604, true}, {0o640, false}, {0o600, false}} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			dir := t.TempDir()
			cert, key := selfSignedFor(t, dir, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
			if err := os.Chmod(key, tc.mode); err != nil {
				t.Fatal(err)
			}
			got := tlsWarnings(t, dir, cert, key)
			want := "web.tls_key: the private key " + key + " is open to other users (mode " + fmt.Sprintf("%04o", tc.mode) + ")"
			if tc.warn != strings.Contains(got, want) {
				t.Errorf("key mode %04o: warnings %q; want a warning %v, %q", tc.mode, got, tc.warn, want)
			}
		})
	}
}

// tlsWarnings loads a config in dir whose console serves cert and key,
// and returns its warnings, one a line.
func tlsWarnings(t *testing.T, dir, cert, key string) string {
	t.Helper()
	path := filepath.Join(dir, "poold.toml")
	conf := "[web]\nenabled = true\ntls_cert = \"" + cert + "\"\ntls_key = \"" + key + "\"\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return strings.Join(cfg.Warnings, "\n")
}
