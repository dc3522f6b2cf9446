package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A hosts file naming its token and CA files relatively ("ops.token",
// beside it) only worked from the directory it sat in: from anywhere
// else poolctl looked for them in its own working directory. They are
// now relative to the hosts file, as kubeconfig's paths are.
func TestHostsFileRelativePaths(t *testing.T) {
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
