package arbiter

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/launch"
	"github.com/poold/poold/watcher/procinfo"
	"github.com/poold/poold/watcher/proctest"
)

// TestLeftSweepJudgesByMarkAndLivePoold: of the processes holding an
// address, only those with this config's id that a poold now gone
// started are a previous poold's leftovers; one of another config, one
// without the mark, one of a running poold of this config (named in the
// error, as what to stop first) and one of poold's own workers are left
// alone.
func TestLeftSweepJudgesByMarkAndLivePoold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	a := New(&configs.Config{Path: path}, Options{Log: hclog.NewNullLogger()})
	if a.mark = workerMark(path); a.mark == nil {
		t.Fatal("no mark for a config with a file")
	}
	sw := a.leftSweep()
	id := launch.ConfigID(path)
	if id == launch.ConfigID(path+".other") || len(id) != 16 {
		t.Fatalf("config ids %q and %q: want 16 hex digits, one per file", id, launch.ConfigID(path+".other"))
	}
	self := os.Getpid()
	selfStart, err := procinfo.StartTicks(self)
	if err != nil {
		t.Fatal(err)
	}
	// A live poold of this config other than this one: the test's parent
	// plays it (its pid and start are those of a running process).
	live := os.Getppid()
	liveStart, err := procinfo.StartTicks(live)
	if err != nil {
		t.Fatal(err)
	}
	worker := []string{"POOLD_WATCHER=web", "POOLD_WID=1"}
	mark := func(id string, pid int, start uint64) []string {
		return append(launch.MarkEnv(id, pid, start), worker...)
	}
	cases := []struct {
		name string
		env  []string
		left bool
		note string
	}{
		{"a gone poold's", mark(id, self, selfStart+1), true, ""}, // the pid is another process's now
		{"another config's", mark(launch.ConfigID(path+".other"), self, selfStart+1), false, ""},
		{"no mark", worker, false, ""},
		{"no worker's", launch.MarkEnv(id, self, selfStart+1), false, ""},
		{"a running poold's", mark(id, live, liveStart), false, fmt.Sprintf("was started by poold pid %d, which runs on this config: stop that poold first", live)},
		{"poold's own worker's", mark(id, self, selfStart), false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "3600")
			cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, c.env...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			pid := cmd.Process.Pid
			proctest.Eventually(t, "sleep exec'd", func() bool {
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
				return strings.Contains(string(b), "PATH=")
			})
			p, note := sw.judge(pid)
			if got := p.pid == pid; got != c.left {
				t.Errorf("judged a leftover: %v, want %v (env %q)", got, c.left, c.env)
			}
			if c.note == "" && note != "" || !strings.Contains(note, c.note) {
				t.Errorf("note %q, want one with %q", note, c.note)
			}
		})
	}
}

// TestLeftSweepEndsByPidfd: end stops a leftover that ignores SIGTERM
// with SIGKILL after leftGrace, and says so.
func TestLeftSweepEndsByPidfd(t *testing.T) {
	log := &syncBuffer{}
	a := New(&configs.Config{}, Options{Log: hclog.New(&hclog.LoggerOptions{Output: log})})
	sw := a.leftSweep()
	cmd := exec.Command("sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	buf := make([]byte, 6)
	if _, err := out.Read(buf); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	start, err := procinfo.StartTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	if !sw.end([]leftProc{{pid: pid, start: start, socket: "web"}}, []string{"web"}) {
		t.Fatal("end signalled nothing")
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the leftover ended with %v, want SIGKILL", err)
	}
	if !strings.Contains(log.String(), "killed what a previous poold of this config left holding its sockets") ||
		!strings.Contains(log.String(), "sigkill=1") {
		t.Errorf("log lacks the kill; log:\n%s", log.String())
	}
	// A pid whose start does not match is never signalled.
	if sw.end([]leftProc{{pid: os.Getpid(), start: start + 12345, socket: "web"}}, []string{"web"}) {
		t.Error("end signalled a process other than the one judged")
	}
}

// TestReloadEndsALeftoverHoldingANewSocket: a reload that binds a socket
// whose port what a previous poold of this config left holds ends it, as
// a start does, and binds.
func TestReloadEndsALeftoverHoldingANewSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	selfStart, err := procinfo.StartTicks(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	left := exec.Command("sleep", "3600")
	left.ExtraFiles = []*os.File{ln}
	left.Env = append(launch.MarkEnv(launch.ConfigID(path), os.Getpid(), selfStart+1), "POOLD_WATCHER=web", "POOLD_WID=1", "PATH="+os.Getenv("PATH"))
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = left.Process.Kill() })
	ended := make(chan struct{})
	go func() { _ = left.Wait(); close(ended) }()
	proctest.Eventually(t, "the leftover exec'd", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", left.Process.Pid))
		return strings.Contains(string(b), "POOLD_CONFIG_ID=")
	})
	ln.Close() // the test's own copy: only the leftover holds the port

	cfg := &configs.Config{Path: path}
	next := &configs.Config{Path: path, Sockets: []configs.Socket{{Name: "web", Family: "tcp", Host: "127.0.0.1", Port: port, Backlog: 16}}}
	h := start(t, cfg, Options{NoCgroups: true, Load: func() (*configs.Config, error) { c := *next; c.Arbiter = cfg.Arbiter; return &c, nil }})
	h.do("reloadconfig", map[string]any{"waiting": true})
	select {
	case <-ended:
	case <-time.After(hang):
		t.Fatalf("the leftover %d still runs after the reload", left.Process.Pid)
	}
	if !strings.Contains(h.log.String(), "killed what a previous poold of this config left holding its sockets") {
		t.Errorf("log lacks the kill; log:\n%s", h.log.String())
	}
}
