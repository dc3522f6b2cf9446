package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A metrics_address beyond loopback is plain HTTP, and /metrics there
// needs [web] token: Prometheus sent the console's token in clear
// across the network, and poold said nothing, though it refuses a
// console beyond loopback without TLS for that very reason. --check,
// start and reload now warn, naming the key and what to do, when the
// console is on (with it off the token opens nothing else).
func TestMetricsAddressBeyondLoopbackWithTokenWarns(t *testing.T) {
	for _, tc := range []struct {
		name, web string
		want      string
		enabled   string
	}{
		{"wildcard with token", "token = \"0123456789abcdef\"\nmetrics_address = \"0.0.0.0:9100\"\n", "0.0.0.0:9100 is plain HTTP on an address that is not loopback", "enabled = true\n"},
		{"all interfaces with token", "token = \"0123456789abcdef\"\nmetrics_address = \":9100\"\n", "holds the console's token (an operator's)", "enabled = true\n"},
		{"read-only console", "token = \"0123456789abcdef\"\nread_only = true\nmetrics_address = \"192.0.2.7:9100\"\n", "holds the console's token (a read-only one) wherever the console is reachable; scrape /metrics on the console's HTTPS listener", "enabled = true\n"},
		{"console off: the token guards only /metrics", "token = \"0123456789abcdef\"\nmetrics_address = \"0.0.0.0:9100\"\n", "", ""},
		{"loopback with token", "token = \"0123456789abcdef\"\nmetrics_address = \"127.0.0.1:9100\"\n", "", "enabled = true\n"},
		{"wildcard without token", "metrics_address = \"0.0.0.0:9100\"\n", "", "enabled = true\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, []byte("[web]\n"+tc.enabled+tc.web), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got := strings.Join(cfg.Warnings, "\n")
			if tc.want == "" {
				if strings.Contains(got, "web.metrics_address") {
					t.Errorf("warnings %q, want none about web.metrics_address", got)
				}
				return
			}
			if !strings.Contains(got, "web.metrics_address") || !strings.Contains(got, tc.want) {
				t.Errorf("warnings %q, want one on web.metrics_address saying %q", got, tc.want)
			}
		})
	}
}

// A [web] token shorter than an API token may be signs in to the console
// and controls poold; it was taken without a word.
func TestShortConsoleTokenWarns(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"change-me", "web.token: is 9 characters, shorter than the 16 an API token must have"},
		{"0123456789abcdef", ""},
	} {
		path := filepath.Join(t.TempDir(), "poold.toml")
		if err := os.WriteFile(path, []byte("[web]\nenabled = true\ntoken = \""+tc.token+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		got := strings.Join(cfg.Warnings, "\n")
		if tc.want == "" && strings.Contains(got, "web.token") {
			t.Errorf("token %q: warnings %q, want none about web.token", tc.token, got)
		}
		if tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("token %q: warnings %q, want %q", tc.token, got, tc.want)
		}
	}
}
