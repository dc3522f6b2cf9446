package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/poold/poold/arbiter"
	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// envCtlPeer makes the test binary a control client (ctlPeerMain) on
// the endpoint it names, as the uid in envCtlPeerUID: the access rules
// see the credentials its connect had (SO_PEERCRED).
const (
	envCtlPeer    = "POOLDTEST_CTL_PEER"
	envCtlPeerUID = "POOLDTEST_CTL_PEER_UID"
)

// ctlPeerMain, when asked (envCtlPeer), drops to its uid, dials the
// endpoint once (ctlclient never dials again) and runs each command read
// on stdin ("COMMAND [WATCHER]") on that one connection, writing each
// reply as a JSON line ({"error": ...} when there was none).
func ctlPeerMain() {
	ep := os.Getenv(envCtlPeer)
	if ep == "" {
		return
	}
	var uid int
	fmt.Sscan(os.Getenv(envCtlPeerUID), &uid)
	parent := os.Getppid()
	if err := syscall.Setgroups(nil); err != nil {
		fmt.Println(`{"error": "setgroups"}`)
		os.Exit(1)
	}
	if err := syscall.Setresgid(uid, uid, uid); err != nil {
		os.Exit(1)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		os.Exit(1)
	}
	// The uid change cleared the parent-death signal startCtlPeer gave.
	if err := rearmDeathSignal(parent); err != nil {
		fmt.Printf("{\"error\": %q}\n", err.Error())
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	c, err := ctlclient.DialContext(ctx, ep)
	cancel()
	out := json.NewEncoder(os.Stdout)
	if err != nil {
		_ = out.Encode(map[string]any{"error": err.Error()})
		os.Exit(1)
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		req := arbiter.Request{Command: f[0]}
		if len(f) > 1 {
			req.Properties = map[string]any{"name": f[1]}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := c.Do(ctx, req)
		cancel()
		if r == nil {
			r = arbiter.Reply{"error": fmt.Sprint(err)}
		}
		_ = out.Encode(r)
	}
	c.Close()
	os.Exit(0)
}

// ctlPeer is a control client process (ctlPeerMain) with one connection.
type ctlPeer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startCtlPeer(t *testing.T, ep string, uid int) *ctlPeer {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envCtlPeer+"="+ep, fmt.Sprintf("%s=%d", envCtlPeerUID, uid))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	return &ctlPeer{cmd: cmd, in: in, out: bufio.NewScanner(out)}
}

// do runs command on the peer's connection and returns the reply.
func (c *ctlPeer) do(t *testing.T, command string) arbiter.Reply {
	t.Helper()
	if _, err := fmt.Fprintln(c.in, command); err != nil {
		t.Fatal(err)
	}
	if !c.out.Scan() {
		t.Fatalf("control client pid %d: no reply to %q (it ended: %v)", c.cmd.Process.Pid, command, c.out.Err())
	}
	var r arbiter.Reply
	if err := json.Unmarshal(c.out.Bytes(), &r); err != nil {
		t.Fatalf("control client pid %d: %q: %v", c.cmd.Process.Pid, c.out.Text(), err)
	}
	if e, ok := r["error"]; ok {
		t.Fatalf("control client pid %d: %q got no reply on its connection: %v", c.cmd.Process.Pid, command, e)
	}
	return r
}

// A control connection handed to the new image keeps its caller: the
// access rules see the same uid (and pid) on ipc as before the upgrade.
// A read-only caller (nobody) and an operator (root, this test) each keep
// one connection open across an upgrade: after it, nobody may still read
// but not write, root may still write, and the refusal names nobody's
// uid and pid. Were the new image to lose the credentials (not read
// SO_PEERCRED again from the handed-over socket), every caller would be
// refused; were it to give them another's, nobody would be let write.
func TestUpgradeKeepsCallerOfHandedConnections(t *testing.T) {
	t.Parallel()
	config := strings.Replace(fmt.Sprintf(upgradeConfig, 1), "ENDPOINTS", "ENDPOINTS\ncontrol_read_only = [\"user:nobody\"]", 1)
	p := newUpProc(t, "", config)
	// nobody reaches the socket (0666 with these rules) through p.dir.
	for _, d := range []string{filepath.Dir(p.dir), p.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.install(pooldBinary(t))
	p.start()
	proctest.Eventually(t, "1 worker", func() bool { return len(p.pids("web")) == 1 })

	nobody := startCtlPeer(t, p.endpoint(), 65534)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root, err := ctlclient.DialContext(ctx, p.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()

	refusal := fmt.Sprintf(`uid 65534 (pid %d) is read-only by arbiter.control_read_only "user:nobody"`, nobody.cmd.Process.Pid)
	check := func(when string, workers float64) {
		t.Helper()
		if r := nobody.do(t, "numprocesses web"); r["status"] != "ok" {
			t.Errorf("%s: nobody (read-only), numprocesses: %v; want it served", when, r)
		}
		if r := nobody.do(t, "incr web"); r["status"] != "error" || !strings.Contains(reason(r), refusal) {
			t.Errorf("%s: nobody (read-only), incr: %v; want it refused naming %q", when, r, refusal)
		}
		r, err := root.Do(ctx, arbiter.Request{Command: "incr", Properties: map[string]any{"name": "web"}})
		if err != nil || r["numprocesses"] != workers {
			t.Errorf("%s: root (operator), incr on its connection: %v %v; want it run (%v workers)", when, r, err, workers)
		}
	}
	check("before the upgrade", 2)
	if out, refused := p.upgrade(); refused != nil || out["state"] != "upgraded" {
		t.Fatalf("upgrade: %v %v", out, refused)
	}
	check("after the upgrade, on the connections handed over", 3)
	logged := fmt.Sprintf("uid=65534 gid=65534 pid=%d", nobody.cmd.Process.Pid)
	proctest.Eventually(t, "2 refusals of nobody's incr in poold's log", func() bool {
		return strings.Count(p.log.String(), logged) >= 2
	})
}
