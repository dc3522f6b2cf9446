// Package rundir names the directory of poold's default ipc:// sockets
// and the endpoints in it. It reads only the environment, so poolctl finds
// poold without reading any config file (or linking the config loader).
package rundir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Dir is the directory holding poold's default ipc:// sockets:
// $XDG_RUNTIME_DIR/poold when XDG_RUNTIME_DIR is set, /run/poold for root,
// else <os.TempDir()>/poold-<uid>.
func Dir() string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "poold")
	}
	if os.Geteuid() == 0 {
		return "/run/poold"
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("poold-%d", os.Geteuid()))
}

// ControlEndpoint is the control endpoint used when none is configured.
func ControlEndpoint() string { return "ipc://" + filepath.Join(Dir(), "control.sock") }
