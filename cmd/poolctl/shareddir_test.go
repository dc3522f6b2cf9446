package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestDefaultEndpointInAnotherUsersDir: without XDG_RUNTIME_DIR a
// user's poold lives in /tmp/poold-<uid>, which any user may create
// first. poolctl (no --endpoint) then sent its commands to whatever
// listened in it, `set web env.DB_PASSWORD ...` included, and printed
// what it answered. It must send nothing there and say whose the
// directory is.
func TestDefaultEndpointInAnotherUsersDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("this test runs poolctl as uid 65534 in a directory root made, and needs root")
	}
	bin := binaries(t)
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := os.Chmod(tmp, os.ModeSticky|0o777); err != nil { // as /tmp
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(tmp), 0o755); err != nil { // t.TempDir's own, 0700
		t.Fatal(err)
	}
	// Root plays the other user: nobody's runtime dir, made first, in
	// the shared temporary directory, or in an XDG_RUNTIME_DIR that is
	// shared (r49b review: poolctl checked only the first).
	for _, c := range []struct{ name, dir, xdg string }{
		{"tmp", filepath.Join(tmp, "poold-65534"), ""},
		{"shared XDG_RUNTIME_DIR", filepath.Join(tmp, "poold"), tmp},
	} {
		t.Run(c.name, func(t *testing.T) {
			otherUsersDir(t, filepath.Join(bin, "poolctl"), c.dir, "TMPDIR="+tmp, "XDG_RUNTIME_DIR="+c.xdg)
		})
	}
}

// otherUsersDir runs poolctl as nobody, with env, against dir, which
// root made with a listener in it: poolctl must not connect.
func otherUsersDir(t *testing.T, poolctl, dir string, env ...string) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(filepath.Join(dir, "control.sock"), 0o777); err != nil {
		t.Fatal(err)
	}
	var reached atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			reached.Store(true)
			c.Close()
		}
	}()

	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		poolctl, "--timeout", "2s", "set", "web", "env.DB_PASSWORD", "s3cret")
	cmd.Env = append(append(os.Environ(), "POOLCTL_ENDPOINT=", "CIRCUSCTL_ENDPOINT="), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	l.Close()
	<-done
	if reached.Load() {
		t.Errorf("poolctl connected to the socket in %s, a directory uid 0 made for uid 65534 (stderr %q)", dir, stderr.String())
	}
	if err == nil || !strings.Contains(stderr.String(), "owned by uid 0, not by you (uid 65534)") {
		t.Errorf("poolctl: %v, stderr %q; want a failure naming the directory's owner", err, stderr.String())
	}
}
