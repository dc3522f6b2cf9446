package notify

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Gunicorn 20.1's master sends "READY=1\nSTATUS=Gunicorn arbiter booted"
// once it has its listeners, before it forks any worker; the workers
// inherit NOTIFY_SOCKET but send nothing. So the sender is the process
// poold started (pid == pgid), and READY=1 means "listening", not
// "a worker serves".
func TestGunicornReady(t *testing.T) {
	bin, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gunicorn not installed: %v", err)
		}
		t.Skipf("gunicorn not installed: %v", err)
	}
	dir := t.TempDir()
	app := "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte(app), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()

	l := start(t)
	// LISTEN_PID must be gunicorn's own pid: the shell exports its pid
	// and execs gunicorn in its place.
	c := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`,
		bin, "--chdir", dir, "--workers", "1", "app:app")
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "LISTEN_FDS=1", "NOTIFY_SOCKET=" + l.Path()}
	c.ExtraFiles = []*os.File{lf}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	defer func() {
		syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		t.Logf("gunicorn output:\n%s", out.String())
		if addr := ln.Addr().String(); !strings.Contains(out.String(), "Listening at: http://"+addr) {
			t.Errorf("gunicorn did not adopt the LISTEN_FDS socket %s", addr)
		}
	}()

	var m Message
	select {
	case m = <-l.Messages():
	case err := <-exited:
		t.Fatalf("gunicorn exited before READY=1: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("no READY=1 from gunicorn; stats %+v", l.Stats())
	}
	if !m.Ready() || m.Fields["STATUS"] == "" {
		t.Errorf("message %q, want READY=1 and a STATUS", m.Raw)
	}
	if m.Pid != c.Process.Pid || m.Pgid != c.Process.Pid {
		t.Errorf("sent by pid %d pgid %d, want the master %d", m.Pid, m.Pgid, c.Process.Pid)
	}
	t.Logf("READY from pid %d (master %d): %q", m.Pid, c.Process.Pid, m.Raw)
}
