package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A hosts file naming its token and CA files relatively ("ops.token",
// beside it) only worked from the directory it sat in: from anywhere
// else poolctl looked for them in its own working directory. They are
// now relative to the hosts file, as kubeconfig's paths are.
func TestHostsFileRelativePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hosts := filepath.Join(dir, "fleet.txt")
	text := "https://a:8443 ops.token certs/a.pem\nhttps://b:8443 /etc/poold/b.token\nhttps://c:8443\n"
	if err := os.WriteFile(hosts, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	urls, files, err := urlsFrom(nil, hosts)
	if err != nil || len(urls) != 3 {
		t.Fatalf("urlsFrom = %q, %v", urls, err)
	}
	for u, want := range map[string][2]string{
		"https://a:8443": {filepath.Join(dir, "ops.token"), filepath.Join(dir, "certs/a.pem")},
		"https://b:8443": {"/etc/poold/b.token", ""},
		"https://c:8443": {"", ""},
	} {
		if files[u] != want {
			t.Errorf("%s: files %q, want %q", u, files[u], want)
		}
	}
}

// A hosts file naming one host on two lines with different token or CA
// files (a stale copy of a line) had the last line win silently: the
// fleet view showed a healthy host refused, or unreachable for want of
// the CA file the other line gave. It is a usage error naming both lines;
// the same line twice is still one host.
func TestHostsFileHostTwice(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	hosts := filepath.Join(dir, "fleet.txt")
	text := "https://a:8443 ops.token a.pem\nhttps://b:8443 b.token\nhttps://a:8443/ ops.token a.pem\nhttps://a:8443 old.token\n"
	if err := os.WriteFile(hosts, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := poolctl(t, "--hosts-file", hosts, "status")
	want := "--hosts-file " + hosts + " line 4: https://a:8443 is on line 3 too, with other token or CA files; keep one line per host"
	if r.code != 2 || !strings.Contains(r.stderr, want) {
		t.Fatalf("want exit 2 and %q\n%s", want, r)
	}

	if err := os.WriteFile(hosts, []byte("https://a:8443 ops.token\nhttps://a:8443/ ops.token\nhttps://b:8443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	urls, _, err := urlsFrom(nil, hosts)
	if err != nil || len(urls) != 2 {
		t.Fatalf("the same host twice with the same files: urlsFrom = %q, %v; want 2 hosts", urls, err)
	}
}
