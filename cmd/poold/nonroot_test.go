package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/configs"
)

// asUID makes the test binary, playing poold, drop root for this uid
// (its gid the same number) before it runs poold's main: a poold run by
// an ordinary user, without capabilities.
const asUID = "POOLD_TEST_AS_UID"

func dropRoot(uid string) {
	if uid == "" {
		return
	}
	id, err := strconv.Atoi(uid)
	if err == nil {
		err = errors.Join(syscall.Setgroups(nil), syscall.Setgid(id), syscall.Setuid(id))
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "test: %s=%s: cannot drop root: %v\n", asUID, uid, err)
		os.Exit(3)
	}
}

// TestCheckAsOrdinaryUser (r56b nonroot, findings 2 to 5): poold --check
// run by an ordinary user (uid 65534, no capabilities, no cgroup of its
// own) said ok of limits no cgroup would enforce, of a nice below its own
// and of a privileged port; each failed later (every spawn, or the
// start). And problems came in passes: those of the file first (chroot,
// oom_score_adj), then, once fixed, those of the machine (uid, rlimits).
// One run now names them all.
func TestCheckAsOrdinaryUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test plays an ordinary user from root: run it as root")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { // readable by uid 65534
			t.Fatal(err)
		}
	}
	path := writeConfig(t, dir, `
[sockets.low]
host = "127.0.0.1"
port = 80
[watchers.lim]
cmd = "/bin/sleep 1000"
memory_max = "64M"
pids_max = 10
nice = -5
oom_score_adj = -500
[watchers.jail]
cmd = "/bin/sleep 1000"
chroot = "/"
uid = "root"
rlimits.nofile = 50000000
`)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), asPoold+"=1", asUID+"=65534", "POOLD_TEST_ARGS=--check "+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("--check as uid 65534: %v, want exit 1; output:\n%s", err, out.String())
	}
	// Problems of the file stage name their line (path:L:C:), the machine
	// checks' the file only.
	prefix := "poold: configs: " + regexp.QuoteMeta(path) + `(:\d+:\d+)?: `
	want := []string{
		"watchers.lim.nice: -5 is below poold's own nice (0), which needs CAP_SYS_NICE",
		"watchers.lim.oom_score_adj: -500 is below poold's own (0), which needs CAP_SYS_RESOURCE",
		"watchers.jail.chroot: needs CAP_SYS_CHROOT",
		"watchers.jail.uid: ",
		"watchers.jail.rlimits.nofile: ",
		"watchers.lim.memory_max: cannot be enforced: poold has no cgroups (containment: process group (",
		"watchers.lim.pids_max: cannot be enforced: poold has no cgroups",
	}
	if start := configs.UnprivilegedPortStart(); start > 80 {
		want = append(want, fmt.Sprintf("sockets.low.port: 80 is below %d, the first port a process without CAP_NET_BIND_SERVICE may bind", start))
	}
	for _, w := range want {
		if !regexp.MustCompile(prefix + regexp.QuoteMeta(w)).MatchString(out.String()) {
			t.Errorf("--check as uid 65534 lacks %q; output:\n%s", w, out.String())
		}
	}
	if n := strings.Count(out.String(), "\n"); n != len(want) {
		t.Errorf("--check as uid 65534: %d lines, want %d, one a problem:\n%s", n, len(want), out.String())
	}
}
