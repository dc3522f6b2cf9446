package arbiter

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// reuseportListener is a listening tcp socket on 127.0.0.1:port (0: the
// kernel's choice) with SO_REUSEPORT, as a file to hand a child.
func reuseportListener(t *testing.T, port int) (*os.File, int) {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	l, err := lc.Listen(context.Background(), "tcp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	return f, l.Addr().(*net.TCPAddr).Port
}

// holdWith starts a sleep holding ln with env (PATH added), waits until
// it runs with that environment, closes the test's copy of ln, and
// returns it with a channel closed when it has ended.
func holdWith(t *testing.T, ln *os.File, env []string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	cmd.ExtraFiles = []*os.File{ln}
	cmd.Env = append(env, "PATH="+os.Getenv("PATH"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ended := make(chan struct{})
	go func() { _ = cmd.Wait(); close(ended) }()
	proctest.Eventually(t, "the holder exec'd", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid))
		return strings.Contains(string(b), "PATH=")
	})
	ln.Close()
	return cmd, ended
}

// TestReuseportBindEndsASharingLeftover: a reuseport socket binds even
// where what a killed poold of this config left holds the address with
// SO_REUSEPORT too (the kernel splits the connections between them), so
// no "address in use" calls the sweep. After the bind, at start and in
// a reload, poold still ends that leftover, and leaves alone an unmarked
// process and another config's that share the address the same way,
// and names in a warning one a live poold of this config started.
func TestReuseportBindEndsASharingLeftover(t *testing.T) {
	for _, atReload := range []bool{false, true} {
		t.Run(map[bool]string{false: "start", true: "reload"}[atReload], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "poold.toml")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			selfStart, err := procinfo.StartTicks(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			worker := []string{"POOLD_WATCHER=web", "POOLD_WID=1"}
			ln, port := reuseportListener(t, 0)
			left, leftEnded := holdWith(t, ln, append(launch.MarkEnv(launch.ConfigID(path), os.Getpid(), selfStart+1), worker...))
			ln, _ = reuseportListener(t, port)
			other, otherEnded := holdWith(t, ln, append(launch.MarkEnv(launch.ConfigID(path+".other"), os.Getpid(), selfStart+1), worker...))
			ln, _ = reuseportListener(t, port)
			plain, plainEnded := holdWith(t, ln, worker)
			// A live poold of this config: the test's parent plays it.
			liveStart, err := procinfo.StartTicks(os.Getppid())
			if err != nil {
				t.Fatal(err)
			}
			ln, _ = reuseportListener(t, port)
			live, liveEnded := holdWith(t, ln, append(launch.MarkEnv(launch.ConfigID(path), os.Getppid(), liveStart), worker...))

			sock := configs.Socket{Name: "web", Family: "tcp", Host: "127.0.0.1", Port: port, Backlog: 16, ReusePort: true}
			cfg := &configs.Config{Path: path, Sockets: []configs.Socket{sock}}
			opts := Options{NoCgroups: true}
			if atReload {
				next := &configs.Config{Path: path, Sockets: cfg.Sockets}
				cfg = &configs.Config{Path: path}
				opts.Load = func() (*configs.Config, error) { c := *next; c.Arbiter = cfg.Arbiter; return &c, nil }
			}
			h := start(t, cfg, opts)
			if atReload {
				h.do("reloadconfig", map[string]any{"waiting": true})
			} else {
				waitUp(t, h)
			}
			select {
			case <-leftEnded:
			case <-time.After(hang):
				t.Fatalf("the leftover %d sharing the reuseport address still runs after the bind", left.Process.Pid)
			}
			for _, c := range []struct {
				cmd   *exec.Cmd
				ended <-chan struct{}
			}{{other, otherEnded}, {plain, plainEnded}, {live, liveEnded}} {
				select {
				case <-c.ended:
					t.Errorf("pid %d (%q) was ended, but no poold of this config started it", c.cmd.Process.Pid, c.cmd.Env)
				default:
				}
			}
			if !strings.Contains(h.log.String(), "killed what a previous poold of this config left holding its sockets") ||
				!strings.Contains(h.log.String(), "sockets=web") {
				t.Errorf("log lacks the kill; log:\n%s", h.log.String())
			}
			if want := fmt.Sprintf("pid %d was started by poold pid %d, which runs on this config: stop that poold first", live.Process.Pid, os.Getppid()); !strings.Contains(h.log.String(), want) {
				t.Errorf("log lacks a warning with %q; log:\n%s", want, h.log.String())
			}
		})
	}
}

// TestReuseportBindAloneScansNoProcs: a reuseport socket whose address
// no other listener shares costs its bind sock_diag dumps, no look
// through every process in /proc.
func TestReuseportBindAloneScansNoProcs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, port := reuseportListener(t, 0)
	ln.Close()
	before := shareScans.Load()
	sock := configs.Socket{Name: "web", Family: "tcp", Host: "127.0.0.1", Port: port, Backlog: 16, ReusePort: true}
	h := start(t, &configs.Config{Path: path, Sockets: []configs.Socket{sock}}, Options{NoCgroups: true})
	waitUp(t, h)
	if n := shareScans.Load() - before; n != 0 {
		t.Errorf("%d looks through /proc for a reuseport socket that shares its address with nobody, want 0", n)
	}
}

// waitUp waits for h's arbiter to have bound its sockets.
func waitUp(t *testing.T, h *harness) {
	t.Helper()
	select {
	case <-h.a.Up():
	case <-time.After(hang):
		t.Fatalf("the arbiter is not up after %v", hang)
	}
}
