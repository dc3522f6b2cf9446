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
			ctx, cancel := context.WithTimeout(context.Background(), hang)
			defer cancel()
			t0 := time.Now()
			s, err := Wait(ctx, pid, socks)
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
	f := proctest.ListenerFile(t)
	socks, err := InodesOf([]*os.File{f})
	if err != nil {
		t.Fatal(err)
	}
	configs, err := filepath.Abs("../../configs")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
		path, "--workers", "1", "--worker-class", class, "--chdir", configs, "wsgi_hello:app")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1")
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
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // its own group: the master and its worker
		_ = cmd.Wait()
	})
	return cmd.Process.Pid, socks
}
