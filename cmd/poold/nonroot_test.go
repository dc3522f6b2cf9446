package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

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
	parent := os.Getppid()
	id, err := strconv.Atoi(uid)
	if err == nil {
		err = errors.Join(syscall.Setgroups(nil), syscall.Setgid(id), syscall.Setuid(id))
	}
	if err == nil {
		// The kernel clears the parent-death signal launchCmd gave when
		// the uid changes (prctl(2)): without it again, this poold
		// outlived a test binary that died, with its workers.
		err = rearmDeathSignal(parent)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "test: %s=%s: cannot drop root: %v\n", asUID, uid, err)
		os.Exit(3)
	}
}

// rearmDeathSignal gives this process, which has just changed its uid,
// its parent-death signal (SIGKILL) again, and exits 3 if parent, the
// test binary, died before it was set.
func rearmDeathSignal(parent int) error {
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set the parent-death signal again: %w", err)
	}
	if os.Getppid() != parent {
		os.Exit(3) // the test binary died before the signal was set again
	}
	return nil
}

// TestCheckAsOrdinaryUser (r56b nonroot, findings 2 to 5): poold --check
// run by an ordinary user (uid 65534, no capabilities, no cgroup of its
// own) said ok of limits no cgroup would enforce, of a nice below its own
// and of a privileged port; each failed later (every spawn, or the
// start). And problems came in passes: those of the file first (chroot,
// oom_score_adj), then, once fixed, those of the machine (uid, rlimits).
// One run now names them all, and (r57 polish5) each at the line and
// column of its key, in every format, as the decoder's own problems: the
// machine's named the file only.
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
	files := map[string]string{
		"poold.toml": `
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
`,
		"poold.yaml": `
sockets:
  low: {host: 127.0.0.1, port: 80}
watchers:
  lim:
    cmd: /bin/sleep 1000
    memory_max: 64M
    pids_max: 10
    nice: -5
    oom_score_adj: -500
  jail:
    cmd: /bin/sleep 1000
    chroot: /
    uid: root
    rlimits:
      nofile: 50000000
`,
		"poold.json": `{
 "sockets": {"low": {"host": "127.0.0.1", "port": 80}},
 "watchers": {
  "lim": {"cmd": "/bin/sleep 1000", "memory_max": "64M", "pids_max": 10,
          "nice": -5, "oom_score_adj": -500},
  "jail": {"cmd": "/bin/sleep 1000", "chroot": "/", "uid": "root",
           "rlimits": {"nofile": 50000000}}
 }
}
`,
	}
	// Where each key is written, by file.
	at := map[string]map[string]string{
		"poold.toml": {"nice": "9:1", "oom_score_adj": "10:1", "chroot": "13:1", "uid": "14:1",
			"nofile": "15:9", "memory_max": "7:1", "pids_max": "8:1", "port": "4:1"},
		"poold.yaml": {"nice": "9:5", "oom_score_adj": "10:5", "chroot": "13:5", "uid": "14:5",
			"nofile": "16:7", "memory_max": "7:5", "pids_max": "8:5", "port": "3:26"},
		"poold.json": {"nice": "5:11", "oom_score_adj": "5:23", "chroot": "6:38", "uid": "6:53",
			"nofile": "7:24", "memory_max": "4:37", "pids_max": "4:58", "port": "2:43"},
	}
	for _, name := range []string{"poold.toml", "poold.yaml", "poold.json"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
				t.Fatal(err)
			}
			out := checkAs65534(t, path)
			pos := at[name]
			want := map[string]string{
				"nice":          "watchers.lim.nice: -5 is below poold's own nice (0), which needs CAP_SYS_NICE",
				"oom_score_adj": "watchers.lim.oom_score_adj: -500 is below poold's own (0), which needs CAP_SYS_RESOURCE",
				"chroot":        "watchers.jail.chroot: needs CAP_SYS_CHROOT",
				"uid":           "watchers.jail.uid: ",
				"nofile":        "watchers.jail.rlimits.nofile: ",
				"memory_max":    "watchers.lim.memory_max: cannot be enforced: poold has no cgroups (containment: process group (",
				"pids_max":      "watchers.lim.pids_max: cannot be enforced: poold has no cgroups",
			}
			if start := configs.UnprivilegedPortStart(); start > 80 {
				want["port"] = fmt.Sprintf("sockets.low.port: 80 is below %d, the first port a process without CAP_NET_BIND_SERVICE may bind", start)
			}
			for key, w := range want {
				line := "poold: configs: " + path + ":" + pos[key] + ": " + w
				if !strings.Contains(out, line) {
					t.Errorf("--check as uid 65534 lacks %q; output:\n%s", line, out)
				}
			}
			if n := strings.Count(out, "\n"); n != len(want) {
				t.Errorf("--check as uid 65534: %d lines, want %d, one a problem:\n%s", n, len(want), out)
			}
		})
	}
}

// TestCheckAsOrdinaryUserCircus: the machine checks of a Circus file name
// the option's line, and the option as circus.ini spells it
// (rlimit_nofile, not poold's rlimits.nofile).
func TestCheckAsOrdinaryUserCircus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test plays an ordinary user from root: run it as root")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { // readable by uid 65534
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "circus.ini")
	ini := "[circus]\ncheck_delay = 5\n\n[socket:low]\nhost = 127.0.0.1\nport = 80\n\n" +
		"[watcher:jail]\ncmd = /bin/sleep 1000\nuid = root\nrlimit_nofile = 50000000\nuse_sockets = true\n"
	if err := os.WriteFile(path, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	out := checkAs65534(t, path)
	want := []string{
		":10: [watcher:jail] uid: poold runs as uid 65534",
		":11: [watcher:jail] rlimit_nofile: 50000000 is over the kernel's most open files per process",
	}
	if start := configs.UnprivilegedPortStart(); start > 80 {
		want = append(want, fmt.Sprintf(":6: [socket:low] port: 80 is below %d", start))
	}
	for _, w := range want {
		if !strings.Contains(out, "poold: configs: "+path+w) {
			t.Errorf("--check as uid 65534 lacks %q; output:\n%s", path+w, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(want) {
		t.Errorf("--check as uid 65534: %d lines, want %d, one a problem:\n%s", n, len(want), out)
	}
}

// checkAs65534 runs poold --check path as uid 65534 and returns its
// output, failing t unless it exits 78 (a config --check refuses).
func checkAs65534(t *testing.T, path string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), asPoold+"=1", asUID+"=65534", "POOLD_TEST_ARGS=--check "+path)
	// Until dropRoot sets it again after the uid change.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitConfig {
		t.Fatalf("--check as uid 65534: %v, want exit 78; output:\n%s", err, out.String())
	}
	return out.String()
}
