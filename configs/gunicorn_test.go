package configs

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// TestGunicornExample runs configs/gunicorn.toml's command the way poold
// will: the socket inherited at fd 3 with LISTEN_FDS/LISTEN_PID (set by a
// tiny sh exec step so that LISTEN_PID is the worker's own pid), and checks
// that Debian's gunicorn serves wsgi_hello.py on it.
func TestGunicornExample(t *testing.T) {
	path, err := exec.LookPath("gunicorn")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("gunicorn is required in CI: %v", err)
		}
		t.Skipf("gunicorn not installed: %v", err)
	}
	cfg, err := Load("gunicorn.toml")
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watchers[0]
	if names := w.SocketNames(cfg.Sockets); len(names) != 1 || names[0] != "web" {
		t.Fatalf("SocketNames = %v", names)
	}
	vars := map[string]string{"wid": "1", "name": w.Name, "sockets.web": "3"}
	args := []string{"-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"`, path}
	for _, a := range w.Args {
		args = append(args, Expand(a, vars))
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = ".." // the example's --chdir is relative to the repository root
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
	cmd.Env = append(cmd.Env, w.Env...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}()

	url := "http://" + ln.Addr().String() + "/"
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !regexp.MustCompile(`^hello from pid \d+\n$`).Match(body) {
				t.Fatalf("GET %s = %q, want hello from pid N", url, body)
			}
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("gunicorn exited before serving: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gunicorn did not answer on %s within 30s: %v", url, err)
		}
	}
}
