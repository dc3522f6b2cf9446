package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListenDisabledConsole: a disabled console's address is not
// listened on, so it meets no socket.
func TestListenDisabledConsole(t *testing.T) {
	if _, err := Load("testdata/listen_web_disabled.toml"); err != nil {
		t.Fatal(err)
	}
}

// TestListenDualStackPairs (r59b net M1): a socket on :: beside an IPv4
// socket at its port, or with bind_ipv6_only = "ipv6-only", is IPv6 only
// and meets no IPv4 address; the config loads.
func TestListenDualStackPairs(t *testing.T) {
	cfg, err := Load("testdata/listen_dualstack.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"v4": false, "v6": true, "only6": true, "lo": false, "any": true}
	for _, s := range cfg.Sockets {
		if got := IPv6Only(s, cfg.Sockets); got != want[s.Name] {
			t.Errorf("IPv6Only(%s) = %v, want %v", s.Name, got, want[s.Name])
		}
	}
	alone := Socket{Name: "any", Host: "::", Port: 80}
	if IPv6Only(alone, []Socket{alone}) {
		t.Error(`IPv6Only of a lone socket on "::" = true, want false (dual-stack)`)
	}
}

// TestListenOverlaps checks pairs of addresses by how Linux and Go bind
// them: Go's net.Listen on an unspecified host is dual-stack, a poold
// socket on :: is IPv6 only, localhost is 127.0.0.1.
func TestListenOverlaps(t *testing.T) {
	sock := func(host string, port int) listenAddr { return tcpAddr("sockets.s", host, port, false) }
	listen := func(hostPort string) listenAddr {
		a, ok := hostPortAddr("web.address", hostPort)
		if !ok {
			t.Fatalf("hostPortAddr(%q) not ok", hostPort)
		}
		return a
	}
	for _, tc := range []struct {
		name string
		a, b listenAddr
		want bool
	}{
		{"same ip", sock("127.0.0.1", 80), sock("127.0.0.1", 80), true},
		{"other port", sock("127.0.0.1", 80), sock("127.0.0.1", 81), false},
		{"other ip", sock("127.0.0.1", 80), sock("127.0.0.2", 80), false},
		{"v4 wildcard socket", sock("0.0.0.0", 80), sock("127.0.0.2", 80), true},
		{"v4 wildcard socket, v6 ip", sock("0.0.0.0", 80), sock("::1", 80), false},
		{"v6 wildcard socket, v4 wildcard socket", sock("::", 80), sock("0.0.0.0", 80), false},
		{"v6 wildcard socket, v6 ip", sock("::", 80), sock("::1", 80), true},
		{"dual listener, v6 ip", listen("0.0.0.0:80"), sock("::1", 80), true},
		{"dual listener, v6 wildcard socket", listen(":80"), sock("::", 80), true},
		{"localhost", listen("localhost:80"), sock("127.0.0.1", 80), true},
		{"localhost, ::1", listen("localhost:80"), sock("::1", 80), false},
		{"same name", sock("web.internal", 80), sock("WEB.internal", 80), true},
		{"name, ip", sock("web.internal", 80), sock("10.0.0.1", 80), false},
		{"name, dual listener", sock("web.internal", 80), listen("[::]:80"), true},
		{"mapped", sock("::ffff:127.0.0.1", 80), sock("127.0.0.1", 80), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.overlaps(tc.b); got != tc.want {
				t.Errorf("%s overlaps %s: %v, want %v", tc.a.shown, tc.b.shown, got, tc.want)
			}
			if got := tc.b.overlaps(tc.a); got != tc.want {
				t.Errorf("%s overlaps %s: %v, want %v", tc.b.shown, tc.a.shown, got, tc.want)
			}
		})
	}
}

// TestListenOffersIPv6OnlyWhereItHelps (r59 merge review L3): a
// dual-stack "::" socket that met [::1] or a dual-stack listener of
// poold's own was told to set bind_ipv6_only = "ipv6-only", which only
// led to the next refusal (":: is every IPv6 address"). The key is
// offered where the other address is IPv4 only. (The metrics listener
// stands for any of poold's own: it may listen beyond loopback.)
func TestListenOffersIPv6OnlyWhereItHelps(t *testing.T) {
	const key = `or set bind_ipv6_only = "ipv6-only" in sockets.any (IPv6 only)`
	for _, tc := range []struct {
		name, metrics string
		offer         bool
	}{
		{"ipv4", "127.0.0.1", true},
		{"ipv6 loopback", "[::1]", false},
		{"dual-stack", "0.0.0.0", false},
		{"every address", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			cfg := fmt.Sprintf("[web]\nmetrics_address = \"%s:22180\"\n\n[sockets.any]\nhost = \"::\"\nport = 22180\n", tc.metrics)
			if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), "sockets.any: its address [::]:22180 meets web.metrics_address's") {
				t.Fatalf("Load: %v, want the two addresses to meet", err)
			}
			if got := strings.Contains(err.Error(), key); got != tc.offer {
				t.Errorf("the error offers bind_ipv6_only: %v, want %v:\n%v", got, tc.offer, err)
			}
		})
	}
}
