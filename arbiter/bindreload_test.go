package arbiter

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// holdPort starts another process (this test binary, sleeping) that
// holds a listening socket on a loopback port, and returns its pid and
// the port. This process keeps no copy of the socket. The holder is
// killed and waited for when the test ends.
func holdPort(t testing.TB) (pid, port int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{workertest.Env + "=sleep"}
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid, port
}

// badSockets are three sockets that cannot be bound, each for its own
// reason, and the start of the line each error must hold (file is the
// config file's path).
func badSockets(t testing.TB, file string) ([]configs.Socket, []string) {
	t.Helper()
	pid, port := holdPort(t)
	held := tcpSocket("held")
	held.Host, held.Port = "127.0.0.1", port
	remote := tcpSocket("remote")
	remote.Host, remote.Port = "192.0.2.1", 8000 // TEST-NET-1: never an address of this machine
	gone := configs.DefaultSocket("gone")
	missing := filepath.Join(t.TempDir(), "missing")
	gone.Path = filepath.Join(missing, "s.sock")
	return []configs.Socket{held, remote, gone}, []string{
		fmt.Sprintf("sockets: %s: sockets.held: bind 127.0.0.1:%d: address already in use (pid %d (%s) holds it; stop that process or choose another port)", file, port, pid, filepath.Base(os.Args[0])),
		fmt.Sprintf("sockets: %s: sockets.remote: bind 192.0.2.1:8000: cannot assign requested address (192.0.2.1 is not an address of this machine;", file),
		fmt.Sprintf("sockets: %s: sockets.gone: bind %s: no such file or directory (directory %s does not exist; create it first)", file, gone.Path, missing),
	}
}

func wantLines(t testing.TB, got string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("error\n%s\ndoes not contain\n%s", got, w)
		}
	}
}

// TestStartBindErrorsNameFileKeyAndHolder: a socket poold could not bind
// at start was named "sockets: held: ..." and a port in use blamed
// "another process"; each error now names the file and the key, and the
// process that holds the port.
func TestStartBindErrorsNameFileKeyAndHolder(t *testing.T) {
	file := filepath.Join(t.TempDir(), "poold.toml")
	socks, want := badSockets(t, file)
	cfg := &configs.Config{Path: file, Arbiter: configs.DefaultArbiter(), Sockets: socks}
	err := New(cfg, Options{}).Run(context.Background())
	if err == nil {
		t.Fatal("Run succeeded with sockets that cannot be bound")
	}
	wantLines(t, err.Error(), want)
}

// TestFailedBindInReloadChangesNothing: a reload that changes a watcher,
// changes a socket in place (backlog), adds a socket that binds and adds
// sockets that cannot be bound is refused as a whole: the reply names the
// file, the keys and the holder of the port; the workers, the sockets and
// their fds and backlogs stay as they were, and the port the good new
// socket took is free again.
func TestFailedBindInReloadChangesNothing(t *testing.T) {
	file := filepath.Join(t.TempDir(), "poold.toml")
	w := testWatcher("web", "serve", 2)
	w.Sockets = []string{"web"}
	cfg := &configs.Config{Path: file, Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	bad, want := badSockets(t, file)
	free := tcpSocket("fresh")
	free.Host = "127.0.0.1"
	free.Port = proctest.FreePort(t)
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		web := tcpSocket("web")
		web.Backlog = 17
		c.Sockets = append([]configs.Socket{web, free}, bad...)
		nw := w
		nw.NumProcesses = 3
		nw.Args = []string{"changed"}
		c.Watchers = []configs.Watcher{nw}
		return &c, nil
	}})
	pids := readyPids(t, h, "web", 2)
	before := h.do("listsockets", nil)["sockets"]
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["status"] != "error" || !strings.HasSuffix(reason, "(nothing was changed)") {
		t.Fatalf("reloadconfig replied %v, want an error saying nothing was changed", r)
	}
	wantLines(t, reason, want)
	checkStillServing(t, h, pids)
	if after := h.do("listsockets", nil)["sockets"]; fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("sockets changed by the refused reload:\nbefore %v\nafter  %v", before, after)
	}
	opts := h.do("get", map[string]any{"name": "web", "keys": []any{"numprocesses", "args"}})["options"].(Ordered).Values
	if opts["numprocesses"] != 2 || opts["args"] != "" {
		t.Errorf("watcher web after the refused reload: numprocesses %v, args %#v; want 2 and none (\"\")", opts["numprocesses"], opts["args"])
	}
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", free.Port))
	if err != nil {
		t.Errorf("port of socket fresh still taken after the refused reload: %v", err)
	} else {
		ln.Close()
	}
}

// TestReloadNamesTheEndpointOnASocketsPort: at start a socket on the port
// of one of poold's own endpoints names that endpoint; a reload adding
// such a socket said "another process" instead.
func TestReloadNamesTheEndpointOnASocketsPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // stands for the control endpoint
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := &configs.Config{Path: "poold.toml", Arbiter: configs.DefaultArbiter()}
	cfg.Arbiter.Endpoint = fmt.Sprintf("tcp://127.0.0.1:%d", port)
	s := tcpSocket("s")
	s.Host, s.Port = "127.0.0.1", port
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Sockets = []configs.Socket{s}
		return &c, nil
	}})
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	want := fmt.Sprintf("sockets: poold.toml: sockets.s: bind 127.0.0.1:%d: address already in use (poold's own arbiter.endpoint (tcp://127.0.0.1:%d) is bound to this port; give socket \"s\" or arbiter.endpoint another port)", port, port)
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), want) {
		t.Fatalf("reloadconfig replied %v\nwant a reason containing %q", r, want)
	}
}
