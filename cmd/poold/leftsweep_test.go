package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestLeftoversWithoutCgroupsGoAtTheNextStart (r60 nomad, MEDIUM 1):
// without cgroups (an ordinary user, here uid 65534), a poold killed with
// SIGKILL takes its workers with it (parent-death signal), but what they
// started goes on under init holding the listening socket it inherited,
// as uvicorn's multiprocessing workers do. Every start of poold on the
// same config then exited 1, "address already in use", until someone
// killed them. Now the next poold ends those that carry this config's id
// and were started by a poold that is gone, and serves; a process
// holding the port without that mark is never touched: the start fails
// as before, naming it.
func TestLeftoversWithoutCgroupsGoAtTheNextStart(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test plays an ordinary user from root: run it as root")
	}
	dir, bin := nonrootCopy(t)
	port := proctest.FreePort(t)
	path := leftoverConfig(t, dir, bin, port, "")

	// Without the mark: an ordinary user's orphan, as a leftover is,
	// holding the port. It is named, and left alone.
	stranger := strangerHolding(t, bin, port)
	p := pooldAsNobody(t, bin, path)
	if code := p.wait(); code != 1 {
		t.Fatalf("poold exited %d with the port held by pid %d, want 1; log:\n%s", code, stranger, p.log.String())
	}
	if want := fmt.Sprintf("bind 127.0.0.1:%d: address already in use (pid %d (%s) holds it", port, stranger, leftoverName); !strings.Contains(p.log.String(), want) {
		t.Errorf("poold's error lacks %q; log:\n%s", want, p.log.String())
	}
	if !proctest.Alive(stranger) {
		t.Fatalf("pid %d, which holds the port without this config's mark, was ended", stranger)
	}
	_ = syscall.Kill(stranger, syscall.SIGKILL)
	proctest.Eventually(t, "the stranger gone", func() bool { return !proctest.Alive(stranger) })

	// A poold killed with SIGKILL leaves its worker's child holding the
	// port.
	first := pooldAsNobody(t, bin, path)
	first.waitLog(`containment: process groups only`, 1)
	worker, _ := strconv.Atoi(first.waitLog(`worker (\d+) serving`, 1)[0][1])
	var left int
	proctest.Eventually(t, "the worker's child", func() bool {
		left = leftoverOf(worker)
		return left != 0
	})
	t.Cleanup(func() { _ = syscall.Kill(left, syscall.SIGKILL) })
	first.signal(syscall.SIGKILL)
	first.wait()
	proctest.Eventually(t, "the worker gone with poold", func() bool { return !proctest.Alive(worker) })
	if !proctest.Alive(left) {
		t.Fatalf("the worker's child %d did not outlive poold: nothing left to test", left)
	}

	next := pooldAsNobody(t, bin, path)
	next.waitLogAlive(`killed what a previous poold of this config left holding its sockets .*count=1 processes="`+strconv.Itoa(left)+` \([^)]*poold\.test[^)]*\)" sockets=web`, 1)
	next.waitLogAlive(`worker (\d+) serving`, 1)
	if proctest.Alive(left) {
		t.Errorf("pid %d, which the killed poold left, still runs", left)
	}
	body, err := get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil || !strings.HasPrefix(body, "pid=") {
		t.Errorf("GET from the new poold's worker: %q, %v", body, err)
	}
	next.signal(syscall.SIGTERM)
	if code := next.wait(); code != 0 {
		t.Errorf("poold exited %d after SIGTERM, want 0", code)
	}
}

// waitLogAlive is waitLog that fails at once when poold exits.
func (p *proc) waitLogAlive(re string, n int) {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	proctest.Eventually(p.t, fmt.Sprintf("%d log lines matching %q", n, re), func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("poold exited (%v) before %d log lines matched %q", p.err, n, re)
		default:
		}
		return len(rx.FindAllString(p.log.String(), -1)) >= n
	})
}

// nonrootCopy makes a directory uid 65534 owns, below directories it may
// enter, with a copy of this test binary in it that uid 65534 may run
// (go test's own directory is root's alone): to play poold and its
// workers.
func nonrootCopy(t *testing.T) (dir, bin string) {
	t.Helper()
	dir = t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "poold.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}

// pooldAsNobody starts bin, a copy of this test binary, as poold on path, as
// uid 65534.
func pooldAsNobody(t *testing.T, bin, path string) *proc {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), asPoold+"=1", asUID+"=65534", "POOLD_TEST_ARGS="+path)
	return launchCmd(t, cmd, filepath.Dir(path), path, nil)
}

// The orphans these tests make on purpose (a worker's child, a stranger)
// are bin, this test binary's copy, in workertest's outlive mode: they
// hold what they inherited, as `sleep 3600 &` did, and end once this
// test binary is gone, where a sleep outlived a killed test binary by an
// hour. Their command line, as a failed bind names them, is leftoverName
// (the sweep's log line gives bin's whole path, cut at 80 characters).
const leftoverName = "poold.test leftover"

// leftoverCmd is the shell command that starts such an orphan (to be put
// in the background with &): $0 is bin.
var leftoverCmd = fmt.Sprintf(`%s=outlive %s=%d "$0" leftover`,
	workertest.Env, workertest.OutlivePID, os.Getpid())

// leftoverConfig writes, in dir, the config of a poold whose one worker,
// bin serving on 127.0.0.1:port, starts an orphan holding the socket;
// extraEnv, if not empty, is one more KEY=VALUE of the worker's.
// It returns the config's path.
func leftoverConfig(t *testing.T, dir, bin string, port int, extraEnv string) string {
	t.Helper()
	env := fmt.Sprintf("%q", workertest.Env+"=serve")
	// The test's GORACE (QuickRaceExits: no exit sleep) spares the worker,
	// and the orphan it starts with its environment, an exec of itself
	// each to drop the sleep: two starts of the -race test binary fewer
	// before the worker serves, seconds each on a loaded machine.
	if race := os.Getenv("GORACE"); race != "" {
		env += fmt.Sprintf(", %q", "GORACE="+race)
	}
	if extraEnv != "" {
		env += fmt.Sprintf(", %q", extraEnv)
	}
	path := filepath.Join(dir, "poold.toml")
	writeFile(t, path, fmt.Sprintf(`
[arbiter]
endpoint = "ipc://%[1]s/c.sock"
pubsub_endpoint = "ipc://%[1]s/e.sock"
stats_endpoint = "ipc://%[1]s/s.sock"

[sockets.web]
host = "127.0.0.1"
port = %[2]d

[watchers.web]
cmd = "/bin/sh"
args = ["-c", %[3]q, %[4]q]
sockets = ["web"]
env = [%[5]s]
`, dir, port, leftoverCmd+` & exec "$0"`, bin, env))
	return path
}

// leftoverOf is the orphan-to-be that worker started, 0 while there is
// none.
func leftoverOf(worker int) int {
	for _, c := range childrenOf(worker) {
		if strings.HasSuffix(commandLine(c), " leftover") {
			return c
		}
	}
	return 0
}

// strangerHolding starts an orphan as uid 65534 (its shell has exited)
// that holds a socket listening on 127.0.0.1:port, with no mark of
// poold's in its environment; it returns its pid.
func strangerHolding(t *testing.T, bin string, port int) int {
	t.Helper()
	l, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sh := exec.Command("/bin/sh", "-c", leftoverCmd+" </dev/null >/dev/null 2>&1 & echo $!", bin)
	sh.ExtraFiles = []*os.File{f}
	sh.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	_ = sh.Wait()
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("the stranger's pid: %q: %v", line, err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	return pid
}

// commandLine is pid's command line, its words joined by spaces.
func commandLine(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.TrimSpace(regexp.MustCompile("\x00+").ReplaceAllString(string(b), " "))
}
