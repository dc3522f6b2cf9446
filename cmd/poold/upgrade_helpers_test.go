package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/arbiter/wire"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// upProc is the real poold binary, run from a copy of its own that a test
// may replace (the path an upgrade reads again).
type upProc struct {
	t    *testing.T
	dir  string
	exe  string // the copy poold runs from
	cfg  string
	ctl  string // the control endpoint, when not ipc://DIR/c.sock
	cmd  *exec.Cmd
	log  *workertest.Buffer
	done chan struct{}
	// passed, when set, are sockets passed as systemd socket activation
	// does (fds 3, 4, ... and LISTEN_PID = poold's pid; the test gives
	// LISTEN_FDS and LISTEN_FDNAMES in start's env).
	passed []*os.File
	// wrap, when set, is shell run before poold, which it then execs
	// (a wrapper that starts helpers), after LISTEN_PID is set.
	wrap string
}

// startUpgradable copies the built poold into a fresh directory and runs
// it on config (see writeConfig) with env added.
func startUpgradable(t *testing.T, config string, env ...string) *upProc {
	t.Helper()
	return startUpgradableOn(t, "", config, env...)
}

// startUpgradableOn is startUpgradable with the control endpoint ctl
// (config must name it), or ipc://DIR/c.sock when ctl is "".
func startUpgradableOn(t *testing.T, ctl, config string, env ...string) *upProc {
	t.Helper()
	p := newUpProc(t, ctl, config)
	p.install(pooldBinary(t))
	p.start(env...)
	return p
}

// newUpProc is an upProc not started yet, with its config written and
// nothing at p.exe.
func newUpProc(t *testing.T, ctl, config string) *upProc {
	t.Helper()
	dir := t.TempDir()
	p := &upProc{t: t, dir: dir, ctl: ctl, exe: filepath.Join(dir, "poold"), log: &workertest.Buffer{}, done: make(chan struct{})}
	p.cfg = writeConfig(t, dir, config)
	return p
}

// start runs the binary at p.exe on p.cfg with env added, until the test
// ends, and waits until it answers.
func (p *upProc) start(env ...string) {
	t := p.t
	t.Helper()
	p.cmd = exec.Command(p.exe, p.cfg)
	if p.passed != nil || p.wrap != "" { // the shell's pid is poold's once it execs
		listen := ""
		if p.passed != nil {
			listen = "export LISTEN_PID=$$; "
		}
		p.cmd = exec.Command("/bin/sh", "-c", listen+p.wrap+`exec "$0" "$@"`, p.exe, p.cfg)
		p.cmd.ExtraFiles = p.passed
	}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(hang):
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("poold log:\n%s", p.log.String())
		}
	})
	proctest.Eventually(t, "poold to answer", func() bool { _, err := p.try("status", nil); return err == nil })
}

// install puts a copy of src at p.exe the way a package manager does:
// written beside it, then renamed over it (a running binary cannot be
// written in place).
func (p *upProc) install(src string) {
	p.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		p.t.Fatal(err)
	}
	p.installBytes(b)
}

func (p *upProc) installBytes(b []byte) {
	p.t.Helper()
	tmp := p.exe + ".new"
	if err := writeProgram(tmp, b); err != nil {
		p.t.Fatal(err)
	}
	if err := os.Rename(tmp, p.exe); err != nil {
		p.t.Fatal(err)
	}
}

// writeProgram writes a program of b at path with no fork of this test
// binary in between: a child forked while the file was open for writing
// holds that fd until its exec, and an exec of path meanwhile fails with
// "text file busy" (the cmd/poold tests run in parallel and fork poolds).
// Forks hold syscall.ForkLock for writing.
func writeProgram(path string, b []byte) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(path, b, 0o755)
}

func (p *upProc) endpoint() string {
	if p.ctl != "" {
		return p.ctl
	}
	return "ipc://" + p.dir + "/c.sock"
}

// try runs one command on a fresh connection (an upgrade closes the
// open ones). A refusal by an image about to exec (wire.NotRun) is an
// error, as no answer is. It waits 10 s for the answer, hang for an
// upgrade's: that comes once the exec step has bound ahead, which took
// 8 s at load 234, and a refusal then must reach the test, not a
// timeout (TestUpgradeOntoItsOwnPortSaysRestartOrMove got none).
func (p *upProc) try(cmd string, props map[string]any) (arbiter.Reply, error) {
	bound := 10 * time.Second
	if cmd == "upgrade" {
		bound = hang
	}
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	c, err := ctlclient.DialContext(ctx, p.endpoint())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r, err := c.Do(ctx, arbiter.Request{Command: cmd, Properties: props})
	if r != nil && r[wire.NotRun] == true {
		return r, fmt.Errorf("%s: not run, poold is between images: %v", cmd, err)
	}
	if r != nil && r["status"] == "error" {
		return r, nil // an answer: an error reply
	}
	return r, err
}

// do runs cmd, retrying while poold is between images, and fails the test
// on no answer.
func (p *upProc) do(cmd string, props map[string]any) arbiter.Reply {
	p.t.Helper()
	var r arbiter.Reply
	var err error
	proctest.Eventually(p.t, "an answer to "+cmd, func() bool {
		r, err = p.try(cmd, props)
		return err == nil
	})
	return r
}

// pids lists the pids of watcher name.
func (p *upProc) pids(name string) []int {
	p.t.Helper()
	r := p.do("list", map[string]any{"name": name})
	var out []int
	for _, v := range r["pids"].([]any) {
		out = append(out, int(v.(float64)))
	}
	slices.Sort(out)
	return out
}

// outcome is the last upgrade's outcome (upgrade_status).
func (p *upProc) outcome() map[string]any {
	p.t.Helper()
	o, _ := p.do("upgrade_status", nil)["upgrade"].(map[string]any)
	return o
}

// upgrade asks for an upgrade and waits for its outcome, as poolctl does.
// It returns the outcome, or the error reply of a refusal.
func (p *upProc) upgrade() (outcome map[string]any, refused arbiter.Reply) {
	p.t.Helper()
	last := p.outcome()["id"].(float64)
	r, err := p.try("upgrade", nil)
	if err == nil && r["status"] == "error" {
		return nil, r
	}

	proctest.Eventually(p.t, "the upgrade's outcome", func() bool {
		r, err := p.try("upgrade_status", nil)
		if err != nil {
			return false
		}
		outcome, _ = r["upgrade"].(map[string]any)
		return outcome["id"].(float64) > last && outcome["state"] != "upgrading"
	})
	return outcome, nil
}

// exeIno is the inode of the file poold runs (/proc/PID/exe).
func (p *upProc) exeIno() uint64 {
	p.t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid), &st); err != nil {
		p.t.Fatal(err)
	}
	return st.Ino
}

// runsInstalled fails unless poold runs the file now at p.exe.
func (p *upProc) runsInstalled() {
	p.t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p.exe, &st); err != nil {
		p.t.Fatal(err)
	}
	if got := p.exeIno(); got != st.Ino {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.cmd.Process.Pid))
		p.t.Errorf("/proc/PID/exe is %s (inode %d), not the file now at %s (inode %d)", l, got, p.exe, st.Ino)
	}
}

// alive fails the test unless poold still runs.
func (p *upProc) alive() {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("poold exited")
	default:
	}
}

// seqs replays every kept event and returns their seqs and topics.
func (p *upProc) events() (seqs []uint64, topics []string, payloads []map[string]any) {
	p.t.Helper()
	r := p.do("events_since", map[string]any{"seq": 0, "limit": 5000})
	if r["complete"] != true {
		p.t.Fatalf("events_since 0: not complete: %v", r)
	}
	for _, e := range r["events"].([]any) {
		m := e.(map[string]any)
		ev := m["event"].(map[string]any)
		seqs = append(seqs, uint64(ev["seq"].(float64)))
		topics = append(topics, m["topic"].(string))
		payloads = append(payloads, ev)
	}
	return seqs, topics, payloads
}

// checkSeqs fails unless seqs run 1, 2, 3, ... without a gap or a repeat.
func checkSeqs(t *testing.T, seqs []uint64) {
	t.Helper()
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("event seq %d at position %d, want %d (a gap or a repeat): %v", s, i, i+1, seqs)
		}
	}
}

func reason(r arbiter.Reply) string { s, _ := r["reason"].(string); return s }

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// repeatUntil calls f over and over on a goroutine of its own, counted in
// wg, until stop is closed: the load of a prober.
func repeatUntil(wg *sync.WaitGroup, stop <-chan struct{}, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			f()
		}
	}()
}
