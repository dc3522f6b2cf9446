package procinfo

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// The owner read through a pidfd is the one status gives: for this
// process, for pid 1, and (when the test runs as root) for a child
// started as another user and a set-uid child, whose real and effective
// uids differ. Where the kernel cannot tell it that way, the Sampler must
// not try.
func TestOwnerByPidfdMatchesStatus(t *testing.T) {
	if !pidfdOwners("/proc") {
		if _, err := realUIDByPidfd(os.Getpid()); err == nil {
			t.Fatal("pidfdOwners says no, but realUIDByPidfd answers for this process")
		}
		t.Logf("this kernel (or /proc) does not tell owners through pidfds: status is read")
		return
	}
	pids := []int{os.Getpid(), 1}
	child := 0 // started as uid 65534
	if os.Geteuid() == 0 {
		sleep := exec.Command("sleep", "3600")
		sleep.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
		child = sleep.Process.Pid
		pids = append(pids, child)
		pids = append(pids, setuidChild(t))
	}
	buf := make([]byte, idBufSize)
	for _, pid := range pids {
		dir := filepath.Join("/proc", strconv.Itoa(pid))
		want, err := readRealUID(dir+"/status", buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := realUIDByPidfd(pid)
		if err != nil || got != want {
			t.Errorf("pid %d: owner through a pidfd %d, %v; status says %d", pid, got, err, want)
		}
		if id := readIdentityOf(procDir{path: "/proc", fd: -1}, pid, true, buf); id.err != nil || id.uid != want {
			t.Errorf("pid %d: identity %+v, want uid %d", pid, id, want)
		}
	}
	if child != 0 {
		if got, err := realUIDByPidfd(child); err != nil || got != 65534 {
			t.Errorf("the child started as uid 65534: owner %d, %v", got, err)
		}
	}
}

// setuidChild starts, as root, a copy of cat that is set-uid to 65534:
// its real uid (the owner) stays 0 while its effective uid is 65534. It
// returns once cat has echoed a line, so its exec, credentials included,
// is done.
func setuidChild(t *testing.T) int {
	path, err := exec.LookPath("cat")
	if err != nil {
		t.Fatalf("test needs cat: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "cat")
	if err := os.WriteFile(copyPath, b, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(copyPath, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(copyPath, 0o755|os.ModeSetuid); err != nil { // after chown, which clears set-uid
		t.Fatal(err)
	}
	c := exec.Command(copyPath)
	in, err := c.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Close(); _ = c.Wait() })
	if _, err := io.WriteString(in, "up\n"); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "up\n" {
		t.Fatalf("set-uid cat echoed %q, %v", line, err)
	}
	return c.Process.Pid
}

// A process that has exited and been reaped has no owner to read: the
// pidfd's error says so, with no fall back to a status file that is gone
// as well.
func TestOwnerOfAReapedProcess(t *testing.T) {
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	for _, byPidfd := range []bool{false, pidfdOwners("/proc")} {
		if _, err := realUID(procDir{path: "/proc", fd: -1}, c.Process.Pid, byPidfd, make([]byte, idBufSize)); err == nil {
			t.Errorf("byPidfd %v: the owner of reaped pid %d: no error", byPidfd, c.Process.Pid)
		}
	}
}

// A Sampler of a /proc that is not this process's own (a fake one in
// tests, another pid namespace's) reads status.
func TestPidfdOwnersOnlyForOwnProc(t *testing.T) {
	if pidfdOwners(t.TempDir()) {
		t.Error("pidfdOwners of a directory that is not /proc: true")
	}
}
