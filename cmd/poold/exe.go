package main

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/poold/poold/arbiter/upgrade"
)

// startPath is the binary an upgrade runs: the path poold was started
// from as its caller named it (argv[0], made absolute, looked up in PATH
// when it has no slash), with its symlinks kept. A deploy that switches
// a link (/usr/local/bin/poold -> /opt/poold/1.4/poold, update-
// alternatives, a release directory's "current") and then upgrades gets
// the release the link names now; /proc/self/exe (os.Executable) names
// the file it resolved to at start, the old release. An image that took
// over from another gets the path the first one used (upgrade.EnvExe).
// When argv[0] does not name this very binary (exec -a, a PATH changed
// meanwhile), it is /proc/self/exe's path.
func startPath(argv0 string) string {
	if _, taking := os.LookupEnv(upgrade.EnvFDs); taking {
		if p := os.Getenv(upgrade.EnvExe); filepath.IsAbs(p) {
			return p
		}
	}
	self, _ := os.Executable()
	p, err := exec.LookPath(argv0) // a path with a slash is taken as it is
	if err == nil {
		p, err = filepath.Abs(p)
	}
	if err != nil {
		return self
	}
	named, err1 := os.Stat(p)
	running, err2 := os.Stat("/proc/self/exe")
	if err1 != nil || err2 != nil || !os.SameFile(named, running) {
		return self
	}
	return p
}
