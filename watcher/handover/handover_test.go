package handover

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// hang bounds a wait that only a bug makes long.
const hang = 20 * time.Second

// worker is a Python program that inherits a listening socket at fd 3,
// says "armed" once set up, waits for a line on stdin, then waits for
// connections the way its mode says.
const worker = `
import os, select, socket, sys
mode = sys.argv[1]
sock = socket.socket(fileno=3)
print("armed", flush=True)
sys.stdin.readline()
if mode == "epoll":
    ep = select.epoll(); ep.register(3, select.EPOLLIN); ep.poll()
elif mode == "epoll-many":
    # An epoll set whose fdinfo is longer than one small read.
    ep = select.epoll()
    pipes = [os.pipe() for _ in range(40)]
    for r, _ in pipes:
        ep.register(r, select.EPOLLIN)
    ep.register(3, select.EPOLLIN); ep.poll()
elif mode == "accept":
    sock.accept()
elif mode == "select":
    select.select([sock], [], [])
elif mode == "poll":
    p = select.poll(); p.register(3, select.POLLIN); p.poll()
elif mode == "child-epoll":
    if os.fork() == 0:
        ep = select.epoll(); ep.register(3, select.EPOLLIN); ep.poll()
    os.wait()
elif mode == "other-epoll":
    r, w = os.pipe()
    ep = select.epoll(); ep.register(r, select.EPOLLIN)
    print("polling", flush=True)
    ep.poll()
elif mode == "select-with-child":
    if os.fork() == 0:
        sys.stdin.readline()
        os._exit(0)
    select.select([sock], [], [])
elif mode == "serving":
    conn, _ = sock.accept()
    print("serving", flush=True)
    sys.stdin.readline()
elif mode == "outgoing":
    out = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    print("connected", flush=True)
    sys.stdin.readline()
elif mode == "exit":
    sys.exit(0)
elif mode == "spin-epoll":
    # The socket in an epoll set, and the main thread computing: no
    # call to be seen waiting in, only the set.
    ep = select.epoll(); ep.register(3, select.EPOLLIN)
    print("spinning", flush=True)
    while True:
        pass
elif mode in ("thread-epoll", "thread-accept", "thread-other-epoll"):
    # The main thread joins (a futex) while another one waits, as a Go
    # program's network poller does.
    import threading
    def serve():
        if mode == "thread-epoll":
            ep = select.epoll(); ep.register(3, select.EPOLLIN); ep.poll()
        elif mode == "thread-accept":
            sock.accept()
        else:
            r, w = os.pipe()
            ep = select.epoll(); ep.register(r, select.EPOLLIN); ep.poll()
    t = threading.Thread(target=serve); t.start(); t.join()
`

type pyWorker struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	socks Inodes
	lis   *os.File // the listening socket it inherited
}

func startWorker(t testing.TB, mode string, args ...string) *pyWorker {
	t.Helper()
	return startWorkerOn(t, proctest.ListenerFile(t), mode, args...)
}

// startWorkerOn is startWorker with f as the worker's listening socket.
func startWorkerOn(t testing.TB, f *os.File, mode string, args ...string) *pyWorker {
	t.Helper()
	py := proctest.Tool(t, "python3", "python3")
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, append([]string{"-c", worker, mode}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	// Its own group, so that child-epoll's child goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &pyWorker{cmd: cmd, in: in, out: bufio.NewReader(outPipe), socks: socks, lis: f}
	t.Cleanup(func() {
		if cmd.ProcessState == nil { // not reaped yet: its pid is still its own
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	w.expect(t, "armed")
	return w
}

func (w *pyWorker) expect(t testing.TB, line string) {
	t.Helper()
	got, err := w.out.ReadString('\n')
	if strings.TrimSpace(got) != line || err != nil {
		t.Fatalf("worker said %q (%v), want %q", got, err, line)
	}
}

func (w *pyWorker) goOn(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(w.in, "go\n"); err != nil {
		t.Fatal(err)
	}
}

func TestWaitSeesHowAWorkerWaitsForConnections(t *testing.T) {
	for _, tc := range []struct {
		mode string
		want Seen
	}{
		{"epoll", Listening},
		{"accept", Listening},
		{"child-epoll", Listening},
		{"select", Opaque},
		{"poll", Opaque},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			w := startWorker(t, tc.mode)
			// Set up, reading its stdin: not waiting on the socket.
			if s, err := Look(w.cmd.Process.Pid, w.socks); s != Busy || err != nil {
				t.Fatalf("before it waits on the socket: %v, %v; want busy", s, err)
			}
			w.goOn(t)
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			if s, err := Wait(ctx, w.cmd.Process.Pid, w.socks, hang); s != tc.want || err != nil {
				t.Fatalf("Wait = %v, %v; want %v", s, err, tc.want)
			}
		})
	}
}

// A worker polling something else is not taken for one that listens, and
// Wait gives up when its ctx ends.
func TestWaitIgnoresOtherPolledFiles(t *testing.T) {
	w := startWorker(t, "other-epoll")
	w.goOn(t)
	w.expect(t, "polling")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if s, err := Wait(ctx, w.cmd.Process.Pid, w.socks, hang); !errors.Is(err, ErrNotSeen) {
		t.Fatalf("Wait = %v, %v; want ErrNotSeen", s, err)
	}
}

// A worker that exits is ErrExited, not a wait until ctx ends: poold
// must not count it ready.
func TestWaitReportsAWorkerGone(t *testing.T) {
	w := startWorker(t, "exit")
	w.goOn(t)
	if err := w.cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	if s, err := Wait(ctx, w.cmd.Process.Pid, w.socks, hang); !errors.Is(err, ErrExited) {
		t.Fatalf("Wait on a reaped pid = %v, %v; want ErrExited", s, err)
	}
}

// A process asleep in select while it has children leaves the answer to
// them: a master waiting on its pipe (gunicorn's) while its worker still
// loads is not taken for a worker waiting on the socket.
func TestLookLeavesAMasterInSelectToItsChildren(t *testing.T) {
	w := startWorker(t, "select-with-child")
	w.goOn(t)
	pid := w.cmd.Process.Pid
	task := fmt.Sprintf("/proc/%d/task/%d/syscall", pid, pid)
	proctest.Eventually(t, "the master asleep in select", func() bool {
		b, err := os.ReadFile(task)
		f := strings.Fields(string(b))
		if err != nil || len(f) == 0 {
			return false
		}
		nr, err := strconv.Atoi(f[0])
		return err == nil && selectCalls[nr]
	})
	if s, err := Look(pid, w.socks); s != Busy || err != nil {
		t.Fatalf("Look = %v, %v; want busy (its child decides, and it reads its stdin)", s, err)
	}
}
