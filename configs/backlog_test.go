package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBacklogAboveSomaxconn (r59b net L4): backlog = 100000 with
// somaxconn 4096 was accepted silently, and the kernel applied 4096.
// The load now warns, naming the figure and the sysctl; a backlog the
// config leaves to poold's default is not warned of.
func TestBacklogAboveSomaxconn(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/somaxconn")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "poold.toml")
	conf := fmt.Sprintf("[sockets.big]\nport = 0\nbacklog = %d\n\n[sockets.fits]\nport = 0\nbacklog = %d\n\n[sockets.plain]\nport = 0\n", max+1, max)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("sockets.big.backlog: %d is above net.core.somaxconn (%d), which the kernel applies instead", max+1, max)
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], want) || !strings.Contains(cfg.Warnings[0], "sysctl -w net.core.somaxconn=") {
		t.Errorf("warnings %q, want one containing %q", cfg.Warnings, want)
	}
}
