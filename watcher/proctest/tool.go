package proctest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Tool returns the path of an external program a test needs (promtool,
// prometheus, ...). Without it the test is skipped, except under CI
// (CI=true), where a missing dependency is a failure: .ci/run installs
// it, and a skip would hide that it did not.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " not found (apt-get install " + debianPackage + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so a missing dependency fails")
	}
	t.Skip(msg)
	return ""
}

// PythonModules checks that python (a path) imports every module of
// modules ("zmq, tornado"), which Debian ships as debianPackages. Without
// them the test is skipped, except under CI (CI=true), where it fails, as
// in Tool.
func PythonModules(t testing.TB, python, modules, debianPackages string) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import "+modules).CombinedOutput()
	if err == nil {
		return
	}
	msg := python + " cannot import " + modules + " (apt-get install " + debianPackages + "): " + strings.TrimSpace(string(out))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so a missing dependency fails")
	}
	t.Skip(msg)
}
