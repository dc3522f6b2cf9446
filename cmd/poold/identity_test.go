package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// workerEnv is the environment of process pid, by name.
func workerEnv(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

// sleepAsRoot is sleep's path for a test that needs root (why); it skips
// the test otherwise.
func sleepAsRoot(t *testing.T, why string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("needs root (%s); CI runs as root", why)
		}
		t.Skip("needs root: " + why)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	return sleep
}

// waitWorkers waits for one worker of each of n watchers of poold pid.
func waitWorkers(t *testing.T, pid, n int) map[string]int {
	t.Helper()
	var workers map[string]int
	proctest.Eventually(t, fmt.Sprintf("a worker of each of %d watchers", n), func() bool {
		workers = workersByWatcher(pid)
		return len(workers) == n
	})
	return workers
}

const copyEnvConfig = `
[arbiter]
ENDPOINTS

[watchers.app]
cmd = %q
args = ["3600"]
uid = "nobody"
copy_env = true
`

// poold's POOLD_* variables are its config overrides: with copy_env a
// worker of another user got them all, POOLD_WEB_TOKEN included, and with
// the console's operator token could `add` a command that poold ran as
// root. A worker keeps the rest of poold's environment.
func TestCopyEnvLeavesPooldOverridesOut(t *testing.T) {
	sleep := sleepAsRoot(t, "the worker runs as nobody")
	p := startBinary(t, fmt.Sprintf(copyEnvConfig, sleep),
		"POOLD_WEB_TOKEN=operator-secret-0123456789",
		"POOLD_WATCHERS_APP_GRACEFUL_TIMEOUT=5",
		"IDENTITY_TEST_KEPT=yes")
	w := waitWorkers(t, p.cmd.Process.Pid, 1)["app"]
	env := workerEnv(t, w)
	for k, v := range env {
		// poold's own for the worker, not from poold's environment: the
		// worker's slot and its mark (launch.MarkEnv).
		own := k == "POOLD_WID" || k == "POOLD_WATCHER" || k == "POOLD_CONFIG_ID" || k == "POOLD_STARTED_BY"
		if strings.HasPrefix(k, "POOLD_") && !own {
			t.Errorf("worker (pid %d, uid nobody) got poold's %s=%s", w, k, v)
		}
	}
	if env["IDENTITY_TEST_KEPT"] != "yes" || env["POOLD_WATCHER"] != "app" || env["POOLD_WID"] != "1" {
		t.Errorf("worker env lost what copy_env and poold give it: %v", env)
	}
}

// asNobody runs poold as nobody, with no supplementary groups.
func asNobody(a *syscall.SysProcAttr) {
	a.Credential = &syscall.Credential{Uid: 65534, Gid: nogroupID, Groups: []uint32{}}
}

// nogroupID is nobody's primary group (Debian's nogroup).
const nogroupID = 65534

// openTempDir is a t.TempDir that nobody may enter and write to.
func openTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d, mode := range map[string]os.FileMode{filepath.Dir(dir): 0o755, dir: 0o777} {
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const ownUserConfig = `
[arbiter]
ENDPOINTS

# poold's own user, by name and by number, and its own group.
[watchers.byname]
cmd = %[1]q
args = ["3600"]
uid = "nobody"

[watchers.bynumber]
cmd = %[1]q
args = ["3600"]
uid = 65534
gid = %[2]d
`

// A poold that is not root runs a watcher whose uid (and gid) are its
// own as itself, as supervisord does for its own user: every spawn of it
// failed with "fork/exec ...: operation not permitted" (setgroups needs
// root), while --check said the config was fine.
func TestUnprivilegedPooldRunsItsOwnUser(t *testing.T) {
	sleep := sleepAsRoot(t, "the test starts poold as nobody")
	p := startBinaryIn(t, openTempDir(t), fmt.Sprintf(ownUserConfig, sleep, nogroupID), asNobody)
	for name, w := range waitWorkers(t, p.cmd.Process.Pid, 2) {
		if got := strings.Fields(procStatus(t, w, "Uid"))[0]; got != "65534" {
			t.Errorf("%s (pid %d): uid %s, want 65534", name, w, got)
		}
	}
}

// ... and refuses one it cannot run (another user, another group) at
// --check, naming the watcher's key and what to do, rather than load it
// and fail every spawn with EPERM.
func TestUnprivilegedPooldRefusesOtherUsers(t *testing.T) {
	t.Run("no capabilities", func(t *testing.T) { refusesOtherUsers(t, asNobody) })
	// With CAP_SETUID and CAP_SETGID as ambient capabilities (systemd's
	// AmbientCapabilities= with User=) poold switched workers to another
	// user, and they kept both capabilities: one could setuid(0).
	t.Run("CAP_SETUID and CAP_SETGID", func(t *testing.T) {
		refusesOtherUsers(t, func(a *syscall.SysProcAttr) {
			asNobody(a)
			a.AmbientCaps = []uintptr{6, 7} // CAP_SETGID, CAP_SETUID
		})
	})
}

func refusesOtherUsers(t *testing.T, as func(*syscall.SysProcAttr)) {
	sleep := sleepAsRoot(t, "the test starts poold as nobody")
	dir := openTempDir(t)
	config := fmt.Sprintf(ownUserConfig, sleep, nogroupID) + fmt.Sprintf(`
[watchers.root]
cmd = %[1]q
uid = "root"

[watchers.group]
cmd = %[1]q
uid = "nobody"
gid = 0
`, sleep)
	cmd := exec.Command(pooldBinary(t), "--check", writeConfig(t, dir, config))
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	as(cmd.SysProcAttr)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("poold --check as nobody passed a watcher of root's:\n%s", out)
	}
	for _, want := range []string{
		`watchers.root.uid: poold runs as uid 65534 gid 65534 and may not switch a worker to uid "root" (id 0)`,
		`watchers.group.gid: poold runs as uid 65534 gid 65534 and may not switch a worker to gid "0" (id 0)`,
		"run poold as root",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("poold --check as nobody: no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "byname") || strings.Contains(string(out), "bynumber") {
		t.Errorf("poold --check as nobody refused a watcher of its own user:\n%s", out)
	}
}

const loginEnvConfig = `
[arbiter]
ENDPOINTS

# nobody's HOME, USER, LOGNAME and SHELL, not poold's (root's).
[watchers.copied]
cmd = %[1]q
args = ["3600"]
uid = "nobody"
copy_env = true

# Without copy_env too, as under systemd's User=; env still wins.
[watchers.clean]
cmd = %[1]q
args = ["3600"]
uid = "nobody"
env = ["HOME=/srv/app"]

# A uid without a passwd entry: none of root's.
[watchers.bare]
cmd = %[1]q
args = ["3600"]
uid = 4242
copy_env = true

# Without uid the worker is poold's user: poold's own.
[watchers.own]
cmd = %[1]q
args = ["3600"]
copy_env = true
`

// A worker run as another user got poold's HOME, USER and LOGNAME with
// copy_env (HOME=/root for nobody: caches and dotfiles written under
// root's home, or refused; Python's getpass.getuser() said "root"), and
// none without it. SHELL likewise (systemd's User= sets it; poold's
// root shell leaked to nobody's workers).
func TestWorkerGetsItsUsersLoginEnv(t *testing.T) {
	sleep := sleepAsRoot(t, "workers run as nobody")
	p := startBinary(t, fmt.Sprintf(loginEnvConfig, sleep), "HOME=/root", "USER=root", "LOGNAME=root", "SHELL=/bin/poold-test-sh")
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	shell := passwdShell(t, "nobody")
	workers := waitWorkers(t, p.cmd.Process.Pid, 4)
	for _, c := range []struct {
		watcher, home, user, shell string // "": absent
	}{
		{"copied", nobody.HomeDir, "nobody", shell},
		{"clean", "/srv/app", "nobody", shell},
		{"bare", "", "", ""},
		{"own", "/root", "root", "/bin/poold-test-sh"},
	} {
		env := workerEnv(t, workers[c.watcher])
		for k, want := range map[string]string{"HOME": c.home, "USER": c.user, "LOGNAME": c.user, "SHELL": c.shell} {
			if got, ok := env[k]; got != want || ok != (want != "") {
				t.Errorf("%s (pid %d): %s=%q (set: %v), want %q", c.watcher, workers[c.watcher], k, got, ok, want)
			}
		}
	}
}

const groupsConfig = `
[arbiter]
ENDPOINTS

[watchers.app]
cmd = %q
args = ["3600"]
uid = "nobody"
graceful_timeout = "5s"
`

// A group the worker's user joins (usermod -aG, to read a key file of
// that group) reaches the workers of the next reload or restart, as under
// systemd and supervisord, which call initgroups at each start; leaving
// one likewise. poold kept the groups it read when the watcher was made,
// until poold itself restarted.
func TestReloadAndRestartReadTheUsersGroupsAgain(t *testing.T) {
	sleep := sleepAsRoot(t, "workers run as nobody, and the test adds a group")
	group := fmt.Sprintf("pooldid%d", os.Getpid())
	_ = exec.Command("groupdel", group).Run() // left by a killed run of this pid
	run := func(args ...string) {
		t.Helper()
		if b, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", strings.Join(args, " "), err, b)
		}
	}
	run("groupadd", group)
	t.Cleanup(func() { _ = exec.Command("groupdel", group).Run() })
	g, err := user.LookupGroup(group)
	if err != nil {
		t.Fatal(err)
	}
	p := startPoold(t, fmt.Sprintf(groupsConfig, sleep))
	c := dialControl(t, p)
	pid := p.cmd.Process.Pid
	worker := waitWorkers(t, pid, 1)["app"]
	inGroup := func(w int) bool { return slices.Contains(strings.Fields(procStatus(t, w, "Groups")), g.Gid) }
	if inGroup(worker) {
		t.Fatalf("worker %d is in group %s before nobody joined it", worker, group)
	}
	for _, step := range []struct {
		change  []string
		command string
		want    bool
	}{
		{[]string{"usermod", "-a", "-G", group, "nobody"}, "reload", true},
		{[]string{"gpasswd", "-d", "nobody", group}, "restart", false},
	} {
		run(step.change...)
		if r := call(t, c, step.command, map[string]any{"name": "app", "waiting": true}); r["status"] != "ok" {
			t.Fatalf("%s app: %v", step.command, r)
		}
		old := worker
		proctest.Eventually(t, "a new worker after "+step.command, func() bool {
			worker = waitWorkers(t, pid, 1)["app"]
			return worker != old
		})
		if got := inGroup(worker); got != step.want {
			t.Errorf("after %s, %s: worker %d (Groups %s) in group %s (%s): %v, want %v",
				strings.Join(step.change, " "), step.command, worker, procStatus(t, worker, "Groups"), group, g.Gid, got, step.want)
		}
	}
}

// healthConfig runs sleep (%[1]s) as nobody with health_cmd %[2]q.
const healthConfig = `
[arbiter]
ENDPOINTS

[watchers.app]
cmd = %[1]q
args = ["3600"]
uid = "nobody"
health_check = "exec"
health_cmd = %[2]q
health_interval = "100ms"
`

// An exec health check of a watcher's workers runs as their user, as a
// Docker HEALTHCHECK or a Kubernetes exec probe does: it ran as poold's
// (root), so a health_cmd in the app's own directory (owned by its
// user, as a deploy leaves it) let a compromised worker run code as root.
func TestExecHealthCheckRunsAsTheWatchersUser(t *testing.T) {
	t.Parallel()
	sleep := sleepAsRoot(t, "workers run as nobody")
	dir := openTempDir(t)
	startPoold(t, fmt.Sprintf(healthConfig, sleep, fmt.Sprintf("sh -c 'id -u >> %[1]s/ids; id -G >> %[1]s/groups'", dir)))
	var ids []byte
	proctest.Eventually(t, "a health check ran", func() bool {
		ids, _ = os.ReadFile(filepath.Join(dir, "ids"))
		return len(ids) > 0
	})
	groups, _ := os.ReadFile(filepath.Join(dir, "groups"))
	if id := strings.Fields(string(ids))[0]; id != "65534" {
		t.Errorf("health_cmd ran as uid %s (groups %q), want nobody's 65534", id, groups)
	}
	if g := strings.Fields(strings.SplitN(string(groups), "\n", 2)[0]); len(g) > 0 && slices.Contains(g, "0") {
		t.Errorf("health_cmd ran with root's group: %q", groups)
	}
}

const logLinkConfig = `
[arbiter]
ENDPOINTS

# The worker may write its log's directory (as with /var/log/app owned
# by the app's user), and points its log file at a file of root's (by
# rename: an rm then ln raced poold making the file again).
[watchers.app]
cmd = "sh"
args = ["-c", "echo first; ln -s %[2]s %[1]s/link && mv -fT %[1]s/link %[1]s/app.log; while :; do echo attacker-line; sleep 0.1; done"]
uid = "nobody"
stdout_log = "%[1]s/app.log"
`

// poold (root) followed a symbolic link its worker put in place of the
// worker's log file, and appended the worker's lines to the link's
// target: any file root may write (authorized_keys, a cron file). It
// refuses the link, dropping and reporting those lines instead.
func TestWorkerLogRefusesALinkTheWorkerMade(t *testing.T) {
	t.Parallel()
	sleepAsRoot(t, "the worker runs as nobody")
	logs := filepath.Join(openTempDir(t), "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(logs, 65534, nogroupID); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "root-only")
	if err := os.WriteFile(target, []byte("root's\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startPoold(t, fmt.Sprintf(logLinkConfig, logs, target))
	refused := regexp.MustCompile(`cannot write a worker log file.*symbolic link`)
	var b []byte
	proctest.Eventually(t, "poold refuses the link, or writes through it", func() bool {
		b, _ = os.ReadFile(target)
		return refused.MatchString(p.log.String()) || string(b) != "root's\n"
	})
	if string(b) != "root's\n" {
		t.Fatalf("poold wrote the worker's lines through its link into %s:\n%s", target, b)
	}
}

// An exec health check run as the watcher's user took its program from
// the first PATH directory poold (root) could run it from: with
// /root/.pyenv/shims or a root-only directory first on PATH, the user
// could not run that copy, every check failed "permission denied" and
// the workers were restarted in a loop, while --check (which looks as
// the user) passed. The program is looked up as the user.
func TestExecHealthCheckFindsItsProgramAsTheUser(t *testing.T) {
	sleep := sleepAsRoot(t, "workers run as nobody")
	dir := openTempDir(t)
	rootOnly, shared := filepath.Join(dir, "rootonly"), filepath.Join(dir, "shared")
	for d, mode := range map[string]os.FileMode{rootOnly: 0o700, shared: 0o755} {
		if err := os.Mkdir(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		prog := "#!/bin/sh\nid -u >> \"$1/ran-" + filepath.Base(d) + "\"\n"
		if err := os.WriteFile(filepath.Join(d, "poold-test-probe"), []byte(prog), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	startBinaryIn(t, dir, fmt.Sprintf(healthConfig, sleep, "poold-test-probe "+dir), nil, "PATH="+rootOnly+":"+shared+":"+os.Getenv("PATH"))
	proctest.Eventually(t, "a health check ran the copy nobody may run", func() bool {
		_, err := os.Stat(filepath.Join(dir, "ran-shared"))
		return err == nil
	})
}

// passwdShell is user's login shell as getent reads it, which the test
// asks of the system rather than of poold's own parser.
func passwdShell(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("getent", "passwd", name).Output()
	if err != nil {
		t.Fatalf("getent passwd %s: %v", name, err)
	}
	f := strings.Split(strings.TrimSpace(string(out)), ":")
	if len(f) != 7 || f[6] == "" {
		t.Fatalf("getent passwd %s: %q has no shell field", name, out)
	}
	return f[6]
}
