package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckFlagPrograms checks that --check finds every watcher whose
// program cannot run, and names the file, the key, the path and why.
func TestCheckFlagPrograms(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil { // searchable by any user
			t.Fatal(err)
		}
	}
	private := filepath.Join(dir, "private")
	if err := os.WriteFile(private, []byte("#!/bin/sh\n"), 0o744); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(private, 4321, 4321); err != nil {
			t.Fatal(err)
		}
	}
	path := writeConfig(t, dir, fmt.Sprintf(`
[watchers.ok]
cmd = "sleep 1"
[watchers.spaced]
cmd = "%[1]s/my app/server --port 80"
[watchers.private]
cmd = %[2]q
uid = "60001"
[watchers.probe]
cmd = @WORKER@
health_check = "exec"
health_cmd = "/nonexistent/poold-check --pid $POOLD_PID"
`, dir, private))
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != exitConfig {
		t.Fatalf("--check: exit %d, want 78; stdout %q stderr %q", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"configs: " + path + ":5:1: watchers.spaced.cmd: " + dir + "/my: not found (cmd is split into words like a shell; quote a path that contains spaces)",
		"configs: " + path + ":7:1: watchers.private.cmd: " + private + ": not executable by uid 60001 (mode 0744",
		"configs: " + path + ":12:1: watchers.probe.health_cmd: /nonexistent/poold-check: not found",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--check output lacks %q:\n%s", want, errb.String())
		}
	}
	if n := strings.Count(errb.String(), "\n"); n != 3 || strings.Contains(errb.String(), "watchers.ok") {
		t.Errorf("want exactly the 3 problems above, got:\n%s", errb.String())
	}
	// Each problem on a line of its own with poold's prefix: only the
	// first had it.
	for _, line := range strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n") {
		if !strings.HasPrefix(line, "poold: configs: ") {
			t.Errorf("--check line %q does not start with poold: configs:", line)
		}
	}
}

// TestCheckWarnsOfAnOverrideOfNoWatcher: --check passes a file beside an
// override of a watcher it does not define, and prints the warning once.
func TestCheckWarnsOfAnOverrideOfNoWatcher(t *testing.T) {
	t.Setenv("POOLD_WATCHERS_WEBB_NUMPROCESSES", "2")
	path := writeConfig(t, t.TempDir(), "[watchers.web]\ncmd = \"sleep 1\"\n")
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != 0 {
		t.Fatalf("--check: exit %d, want 0; stdout %q stderr %q", code, out.String(), errb.String())
	}
	want := "poold: warning: configs: " + path + `: environment variable POOLD_WATCHERS_WEBB_NUMPROCESSES: ignored: the file has no watcher "webb" (an override never creates a watcher; defined: web); did you mean POOLD_WATCHERS_WEB_NUMPROCESSES?`
	if !strings.HasPrefix(errb.String(), want) || strings.Count(errb.String(), "\n") != 1 {
		t.Errorf("--check stderr:\n%s\nwant one line starting %q", errb.String(), want)
	}
	if !strings.HasSuffix(out.String(), ": ok (0 sockets, 1 watcher)\n") {
		t.Errorf("--check stdout %q, want ok", out.String())
	}
}

// TestCheckUnixSocketPaths: --check finds the unix socket paths poold
// could not bind at start: in a missing directory, under a regular file,
// in /proc, or taken by a regular file. A free path passes, and so does
// an abstract one ("@name": no file, no directory).
func TestCheckUnixSocketPaths(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, dir, fmt.Sprintf(`
[sockets.missing]
path = "%[1]s/missing/x.sock"
[sockets.underfile]
path = "%[2]s/x.sock"
[sockets.proc]
path = "/proc/poold-check-x.sock"
[sockets.taken]
path = %[2]q
[sockets.free]
path = "%[1]s/free.sock"
[sockets.abstract]
path = "@poold-check/no/such/dir.sock"
`, dir, file))
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != exitConfig {
		t.Fatalf("--check: exit %d, want 78; stdout %q stderr %q", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"configs: " + path + ":3:1: sockets.missing.path: " + dir + "/missing/x.sock: directory " + dir + "/missing does not exist; create it first",
		"configs: " + path + ":5:1: sockets.underfile.path: " + file + "/x.sock: " + file + " is not a directory",
		"configs: " + path + ":7:1: sockets.proc.path: /proc/poold-check-x.sock: directory /proc takes no new files (a virtual file system)",
		"configs: " + path + ":9:1: sockets.taken.path: " + file + " exists and is not a socket (a regular file), which poold does not remove",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--check output lacks %q:\n%s", want, errb.String())
		}
	}
	if n := strings.Count(errb.String(), "\n"); n != 4 || strings.Contains(errb.String(), "sockets.free") || strings.Contains(errb.String(), "sockets.abstract") {
		t.Errorf("want exactly the 4 problems above, got:\n%s", errb.String())
	}
}

// What the machine says of a translated file (a missing directory, an
// unknown user) is told in the file's own terms, as its values' problems
// are: the section, the option the user wrote and its line, not poold's
// watchers.r.working_dir.
func TestCheckTellsMachineProblemsOfASupervisordFileInItsTerms(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[supervisord]\n\n[program:r]\ncommand=/bin/sleep 100\ndirectory=/nonexistent/poold-check\nuser=no-such-user-poold\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != exitConfig {
		t.Fatalf("--check: exit %d, want 78; stdout %q stderr %q", code, out.String(), errb.String())
	}
	for _, want := range []string{
		path + ":5: [program:r] directory: /nonexistent/poold-check: no such file or directory",
		path + ":6: [program:r] user: no user \"no-such-user-poold\"",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--check output lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "watchers.r.") || strings.Contains(errb.String(), "working_dir") {
		t.Errorf("--check output names poold's keys:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "set directory to an existing directory") {
		t.Errorf("--check output does not advise setting directory, the option the file has:\n%s", errb.String())
	}
}

// TestCheckReportsControlRulesOfUnknownUsers: control rule names are no
// longer looked up when the file is read (a user deleted under a running
// poold blocked every reload; arbiter's
// TestReloadKeepsControlRulesWhoseUserIsGone), so --check asks the
// machine about them with the rest of its checks.
func TestCheckReportsControlRulesOfUnknownUsers(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf("[arbiter]\nendpoint = \"ipc://%s/c.sock\"\ncontrol_allow = [\"user:root\", \"user:poold-check-nobody-here\"]\ncontrol_read_only = [\"group:poold-check-no-group\"]\n[watchers.web]\ncmd = \"sleep 1\"\n", dir))
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != exitConfig {
		t.Fatalf("--check: exit %d, want 78; stdout %q stderr %q", code, out.String(), errb.String())
	}
	for _, want := range []string{
		"configs: " + path + `:3:1: arbiter.control_allow: "user:poold-check-nobody-here": no such user`,
		"configs: " + path + `:4:1: arbiter.control_read_only: "group:poold-check-no-group": no such group`,
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--check output lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String(), "user:root") {
		t.Errorf("--check reports a user that exists:\n%s", errb.String())
	}
}

// TestCheckWarnsOfAnEmptyFile: an empty (or comment-only) TOML or YAML
// file was "ok (0 sockets, 0 watchers)", and poold started on it idle
// without a word, though a reload to the same file is refused. --check
// (and a start) now warn, and still pass: poold may be meant to start
// empty and be given watchers with poolctl add.
func TestCheckWarnsOfAnEmptyFile(t *testing.T) {
	dir := t.TempDir()
	for name, text := range map[string]string{"empty.toml": "", "comments.toml": "# nothing yet\n", "empty.yaml": "", "bom.yaml": "\ufeff", "arbiter.toml": "[arbiter]\nlog_level = \"debug\"\n"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != 0 {
			t.Fatalf("--check %s: exit %d, want 0; stdout %q stderr %q", name, code, out.String(), errb.String())
		}
		want := "poold: warning: configs: " + path + ": defines no watchers and no sockets, so poold runs idle (is the file empty or cut short?); add a [watchers.NAME] section, or add watchers at run time with poolctl add\n"
		if errb.String() != want {
			t.Errorf("--check %s stderr:\n%q\nwant %q", name, errb.String(), want)
		}
	}
}

// TestCheckReportsALongArgumentOnce: an argument over the kernel's limit
// for one string was reported twice, by the file's check under
// watchers.a.args[0] and by the machine's under watchers.a.cmd, so the
// rule that leaves out a machine problem of a key the file named did not
// catch it. It is reported once, with its line.
func TestCheckReportsALongArgumentOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeConfig(t, dir, fmt.Sprintf(`
[watchers.a]
cmd = "sleep"
args = [%q]
`, strings.Repeat("x", 131072)))
	var out, errb bytes.Buffer
	if code := exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb); code != exitConfig {
		t.Fatalf("--check: exit %d, want 78; stdout %q stderr %q", code, out.String(), errb.String())
	}
	if n := strings.Count(errb.String(), "over the kernel's limit"); n != 1 || !strings.Contains(errb.String(), "watchers.a.args[0]") {
		t.Errorf("--check reported the long argument %d times, want once, as watchers.a.args[0]:\n%.2000s", n, errb.String())
	}
}
