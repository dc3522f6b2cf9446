package handover

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

// Debian's gunicorn, a worker this project did not write, is seen waiting
// on the socket it inherits, so a reload hands over to it without waiting
// out the bound: its sync workers wait in select (Opaque), its gthread
// workers in an epoll set (Listening, through the master's children).
func TestWaitSeesGunicorn(t *testing.T) {
	path := proctest.Tool(t, "gunicorn", "gunicorn")
	for _, tc := range []struct {
		class string
		want  Seen
	}{{"sync", Opaque}, {"gthread", Listening}} {
		t.Run(tc.class, func(t *testing.T) {
			pid, socks := startGunicorn(t, path, tc.class)
			ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
			defer cancel()
			t0 := time.Now()
			s, err := Wait(ctx, pid, socks, 3*hang)
			if err != nil || s != tc.want {
				t.Fatalf("Wait = %v, %v after %v; want %v", s, err, time.Since(t0), tc.want)
			}
			t.Logf("gunicorn %s worker: %v after %v", tc.class, s, time.Since(t0))
		})
	}
}

// startGunicorn runs gunicorn with a socket at fd 3 (LISTEN_FDS, with
// LISTEN_PID set by an sh exec step to gunicorn's own pid), one worker of
// class, serving configs/wsgi_hello.py. It is stopped, with its worker,
// when the test ends.
func startGunicorn(t *testing.T, path, class string) (int, Inodes) {
	t.Helper()
	f, socks := listenerInodes(t)
	configs, err := filepath.Abs("../../configs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
		path, "--workers", "1", "--worker-class", class, "--chdir", configs, "wsgi_hello:app")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
	return startGroup(t, cmd, f), socks
}

// Debian's uvicorn, on the socket it inherits (--fd 3), alone and as a
// master of two worker processes, is seen polling it through asyncio's
// epoll set.
func TestWaitSeesUvicorn(t *testing.T) {
	py := proctest.Tool(t, "/usr/bin/python3", "python3")
	proctest.PythonModules(t, py, "uvicorn", "python3-uvicorn")
	app, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	for _, workers := range []string{"1", "2"} {
		t.Run("workers="+workers, func(t *testing.T) {
			f := proctest.ListenerFile(t)
			socks, err := InodesOf([]*os.File{f})
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(py, "-m", "uvicorn", "--fd", "3", "--workers", workers, "--app-dir", app, "asgi_hello:app")
			pid := startGroup(t, cmd, f)
			ctx, cancel := context.WithTimeout(context.Background(), 3*hang)
			defer cancel()
			t0 := time.Now()
			if s, err := Wait(ctx, pid, socks, 3*hang); s != Listening || err != nil {
				t.Fatalf("Wait = %v, %v after %v; want listening", s, err, time.Since(t0))
			}
			t.Logf("uvicorn, %s worker process(es): listening after %v", workers, time.Since(t0))
		})
	}
}

// startGroup starts cmd in its own process group with f at fd 3 and
// stops the group when the test ends.
func startGroup(t *testing.T, cmd *exec.Cmd, f *os.File) int {
	t.Helper()
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its own group: the master and its workers
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}
