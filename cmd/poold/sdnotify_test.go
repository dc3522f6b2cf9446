package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
)

// sdMessage is one datagram on the NOTIFY_SOCKET the test plays systemd
// with, and the pid the kernel says sent it.
type sdMessage struct {
	text string
	pid  int32
}

// has reports whether m assigns kv; a kv ending in "*" is a prefix.
func (m sdMessage) has(kv string) bool {
	prefix, isPrefix := strings.CutSuffix(kv, "*")
	for _, l := range strings.Split(m.text, "\n") {
		if l == kv || isPrefix && strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (m sdMessage) field(key string) string {
	for _, l := range strings.Split(m.text, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v
		}
	}
	return ""
}

// systemdSocket binds a unixgram socket with SO_PASSCRED, as systemd's
// notify socket, and returns its path and its messages in order.
func systemdSocket(t *testing.T) (string, <-chan sdMessage) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.Control(func(fd uintptr) {
		err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := make(chan sdMessage, 256)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(msgs)
		buf, oob := make([]byte, 4096), make([]byte, 1024)
		for {
			n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
			if err != nil {
				return
			}
			m := sdMessage{text: string(buf[:n])}
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for i := range scms {
					if cred, err := unix.ParseUnixCredentials(&scms[i]); err == nil {
						m.pid = cred.Pid
					}
				}
			}
			msgs <- m
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return path, msgs
}

// next returns the next message that has kv, failing on a READY=1 or
// STOPPING=1 that comes first unless it is what is awaited, and on one
// not sent by pid.
func next(t *testing.T, msgs <-chan sdMessage, pid int, kv string) sdMessage {
	t.Helper()
	timeout := time.After(hang)
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %s", kv)
			}
			if int(m.pid) != pid {
				t.Fatalf("NOTIFY_SOCKET got %q from pid %d, not from poold (pid %d): a worker reached poold's socket", m.text, m.pid, pid)
			}
			if m.has(kv) {
				return m
			}
			t.Logf("NOTIFY_SOCKET: %q", m.text)
			for _, big := range []string{"READY=1", "RELOADING=1", "STOPPING=1"} {
				if m.has(big) {
					t.Fatalf("waiting for %s, got %q first", kv, m.text)
				}
			}
		case <-timeout:
			t.Fatalf("no %s on NOTIFY_SOCKET within %v", kv, hang)
		}
	}
}

const sdConfig = `
[arbiter]
ENDPOINTS

[sockets.web]
port = 0

# Ready only once the test opens the gate: READY=1 must wait for them.
[watchers.gated]
cmd = %[1]q
args = ["3600"]
numprocesses = %[3]d
copy_env = true
readiness = "tcp"
ready_address = %[2]q
graceful_timeout = "5s"

# Workers with their own NOTIFY_SOCKET (readiness "notify"): their READY=1
# must never reach poold's socket.
[watchers.notifying]
cmd = @WORKER@
sockets = ["web"]
copy_env = true
env = ["POOLD_TEST_WORKER=notify"]
readiness = "notify"
`

// Issue 11: poold tells systemd READY=1 once every worker is ready,
// RELOADING=1 (with MONOTONIC_USEC) then READY=1 around SIGHUP, STOPPING=1
// on SIGTERM, and STATUS= on the way; workers never see its socket.
func TestSystemdNotify(t *testing.T) {
	t.Parallel()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	gate := freeAddr(t)
	sock, msgs := systemdSocket(t)
	p := startBinary(t, fmt.Sprintf(sdConfig, sleep, gate, 2), "NOTIFY_SOCKET="+sock)
	pid := p.cmd.Process.Pid

	// Not ready while the gated workers are not: STATUS= says why.
	st := next(t, msgs, pid, `STATUS=2 watchers, 1/3 workers ready; watcher "gated" *`)
	t.Logf("before the gate: %q", st.text)
	checkWorkerEnv(t, pid, sock)

	l, err := net.Listen("tcp", gate)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ready := next(t, msgs, pid, "READY=1")
	if got := ready.field("STATUS"); got != "2 watchers, 3/3 workers ready" {
		t.Errorf("STATUS with READY=1 = %q", got)
	}

	// SIGHUP with one more gated worker: RELOADING=1 at once, READY=1
	// once it is ready.
	writeConfig(t, filepath.Dir(p.cfg), fmt.Sprintf(sdConfig, sleep, gate, 3))
	before := monotonicUsec(t)
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	reloading := next(t, msgs, pid, "RELOADING=1")
	at, err := strconv.ParseUint(reloading.field("MONOTONIC_USEC"), 10, 64)
	if err != nil || at < before || at > monotonicUsec(t) {
		t.Errorf("RELOADING=1 with MONOTONIC_USEC %q: want a CLOCK_MONOTONIC time after the SIGHUP (%d)", reloading.field("MONOTONIC_USEC"), before)
	}
	ready = next(t, msgs, pid, "READY=1")
	if got := ready.field("STATUS"); got != "2 watchers, 4/4 workers ready" {
		t.Errorf("STATUS with READY=1 after the reload = %q", got)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	next(t, msgs, pid, "STOPPING=1")
	if code := p.wait(t); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM", code)
	}
}

// checkWorkerEnv reads the environment of poold's workers: none has
// poold's NOTIFY_SOCKET; those of readiness "notify" have their own.
func checkWorkerEnv(t *testing.T, pid int, sock string) {
	t.Helper()
	var own int
	proctest.Eventually(t, "3 workers", func() bool { return len(childrenOf(pid)) == 3 })
	for _, c := range childrenOf(pid) {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", c))
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			v, ok := strings.CutPrefix(kv, "NOTIFY_SOCKET=")
			if !ok {
				continue
			}
			if v == sock {
				t.Errorf("worker %d inherited poold's NOTIFY_SOCKET %s", c, sock)
			} else {
				own++
			}
		}
	}
	if own != 1 {
		t.Errorf("%d workers have a NOTIFY_SOCKET of their own, want 1 (the readiness \"notify\" one)", own)
	}
}

func childrenOf(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

func monotonicUsec(t *testing.T) uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Sec)*1e6 + uint64(ts.Nsec)/1e3
}

// freeAddr is a loopback address nobody listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
