package configs

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSocketDirNotWritable (r59b net L3): `runuser -u nobody -- poold
// --check` of a unix socket in a directory of mode 0555 printed "ok", and
// the start then failed to bind. SocketProblems, run as nobody (a copy
// of this test binary), now refuses it; as root, which bind lets create
// files there, it does not.
func TestSocketDirNotWritable(t *testing.T) {
	base := sockdirBase(t)
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "configs.test")
	copyFile(t, os.Args[0], bin)
	path := filepath.Join(ro, "app.sock")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang bound
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, path)
	cmd.Env = []string{helperEnv + "=socketproblems"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper as nobody: %v (%s)", err, out)
	}
	want := "sockets.api.path: " + path + ": poold's user (uid 65534) may not create files in directory " + ro
	if !strings.Contains(string(out), want) {
		t.Errorf("as nobody: %s\nwant it to contain %q", out, want)
	}
	if err := SocketProblems("poold.toml", []Socket{{Name: "api", Family: "unix", Path: path}}); err != nil {
		t.Errorf("as root: %v, want none", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSocketDirOfASocketUnit (r59 merge review L1): under socket
// activation systemd creates the unix socket, as root in a directory of
// root's, and poold (User=app) takes it without binding; yet `runuser -u
// app -- poold --check` refused the config for that directory. A socket
// listening at the path is now let be; a stale socket file there (which
// poold would replace, so it needs the directory) is refused as before.
func TestSocketDirOfASocketUnit(t *testing.T) {
	base := sockdirBase(t)
	ro := filepath.Join(base, "ro dir") // a space, as /proc/net/unix shows it
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(base, "configs.test")
	copyFile(t, os.Args[0], bin)
	path := filepath.Join(ro, "app.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	t.Cleanup(func() { ln.Close() })

	asNobody := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // hang bound
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, path)
		cmd.Env = []string{helperEnv + "=socketproblems"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("helper as nobody: %v (%s)", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := asNobody(); out != "<nil>" {
		t.Errorf("as nobody, with a socket listening at the path: %s\nwant no problem", out)
	}
	ln.Close()
	want := "sockets.api.path: " + path + ": poold's user (uid 65534) may not create files in directory " + ro
	if out := asNobody(); !strings.Contains(out, want) {
		t.Errorf("as nobody, with a stale socket file at the path: %s\nwant it to contain %q", out, want)
	}
}

// sockdirBase is a directory for a test whose helper runs as nobody:
// nobody may enter it (t.TempDir's parent is 0700). The test runs as
// root, as the suite does (README "make test").
func sockdirBase(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test runs as root, to run its helper as nobody")
	}
	base, err := os.MkdirTemp("", "poold-sockdir-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}
