package worker

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsOnlyTheStandardLibrary: a user's worker imports this
// package; it must not pull in poold's own packages or their libraries
// (ZeroMQ, viper, Prometheus), nor any module at all.
func TestImportsOnlyTheStandardLibrary(t *testing.T) {
	const pkg = "github.com/poold/poold/sockets/worker"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != pkg {
			t.Errorf("%s links %s; it may link the standard library only", pkg, dep)
		}
	}
}
