package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/watcher/proctest"
)

// circusConfig: one watcher with env and a socket whose workers have a
// child (the shell's sleep; the worker execs another sleep once it is
// gone), and a plain one.
// web's workers never wait on its socket, so readiness "spawn" would count
// each one ready only at its 10 s bound (80 s of TestCircusdSideBySide's
// 98 under -race); ready as soon as started, as circusd counts them.
const circusConfig = `
[arbiter]
ENDPOINTS
[sockets.web]
port = 0
[watchers.web]
cmd = "/bin/sh"
args = ["-c", "sleep 3600 & wait; exec sleep 3600"]
numprocesses = 2
use_sockets = true
env = ["FOO=bar", "HELLO=world"]
graceful_timeout = "2s"
readiness = "delay"
ready_delay = 0
[watchers.other]
cmd = "/bin/sleep"
args = ["3600"]
graceful_timeout = "1s"
`

func ctlEndpoint(p *proc) string { return "ipc://" + p.dir + "/c.sock" }

// goPids lists a watcher's pids through poold's own client (fast; for
// the test's bookkeeping, not under test).
func goPids(t *testing.T, c *ctlclient.Client, name string) []int {
	t.Helper()
	var pids []int
	r := call(t, c, "list", map[string]any{"name": name})
	l, _ := r["pids"].([]any)
	for _, v := range l {
		pids = append(pids, int(v.(float64)))
	}
	return pids
}

func goCount(t *testing.T, c *ctlclient.Client) float64 {
	n, _ := call(t, c, "numprocesses", nil)["numprocesses"].(float64)
	return n
}

// TestCircusctlCommandsAgainstPoold runs every circusctl command against
// poold and checks its exit status and output, including the ones that
// failed before: options and get with env (circusctl crashed on a list),
// listsockets (poold's own fd), kill --graceful_timeout (a string),
// start/stop/restart --match, decr (removed the newest), quit --waiting
// (answered before the workers were gone).
func TestCircusctlCommandsAgainstPoold(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, circusConfig)
	ep := ctlEndpoint(p)
	c := dialControl(t, p)
	proctest.Eventually(t, "3 workers", func() bool { return goCount(t, c) == 3 })
	// decr removes the oldest worker, as circusd does (wids 1 and 2 run,
	// the new one takes 3: removing the highest wid removed the newest).
	before := goPids(t, c, "web")
	call(t, c, "incr", map[string]any{"name": "web", "waiting": true})
	var newest int
	for _, pid := range goPids(t, c, "web") {
		if !slices.Contains(before, pid) {
			newest = pid
		}
	}
	if r := circusctlBatch(t, ep, [][]string{{"decr", "web", "--waiting"}}); r[0].code != 0 || r[0].out != "2" {
		t.Fatalf("decr: %v", r)
	}
	if after := goPids(t, c, "web"); len(after) != 2 || !slices.Contains(after, newest) {
		t.Errorf("decr left %v; want the newest worker %d kept (the oldest of %v removed)", after, newest, before)
	}

	// circusctl reads a reply with "name" as a whole watcher's stats: a
	// process's reply has Circus's process and info only.
	pid := strconv.Itoa(newest)
	steps := []struct {
		args []string
		want []string // regexps the output must match
	}{
		{[]string{"list"}, []string{`^other,web$`}},
		{[]string{"list", "web"}, []string{`^\d+,\d+$`}},
		{[]string{"status"}, []string{`^other: active\nweb: active$`}},
		{[]string{"status", "web"}, []string{`^active$`}},
		{[]string{"numwatchers"}, []string{`^2$`}},
		{[]string{"numprocesses"}, []string{`^3$`}},
		{[]string{"options", "web"}, []string{`(?m)^env: (FOO=bar,HELLO=world|HELLO=world,FOO=bar)$`,
			`(?m)^args: -c 'sleep 3600 & wait; exec sleep 3600'$`, `(?m)^stop_signal: 15$`, `(?m)^graceful_timeout: 2\.0$`}},
		{[]string{"get", "web", "env"}, []string{`^env: (FOO=bar,HELLO=world|HELLO=world,FOO=bar)$`}},
		{[]string{"get", "web", "numprocesses", "uid"}, []string{`^numprocesses: 2\nuid: ?$`}},
		// In the order asked, as circusd answers.
		{[]string{"get", "web", "uid", "numprocesses"}, []string{`^uid: ?\nnumprocesses: 2$`}},
		{[]string{"globaloptions"}, []string{`(?m)^endpoint: ipc://`}},
		{[]string{"listsockets"}, []string{`^3:socket 'web' at 127\.0\.0\.1:\d+$`}},
		{[]string{"stats", "web"}, []string{`^web:\n\d+: \d+ +sh root `}},
		{[]string{"stats", "other"}, []string{`(?m)^\d+: \d+ +sleep root `}},
		{[]string{"stats", "web", pid}, []string{`^` + pid + `: ` + pid + ` +sh root `}},
		{[]string{"dstats"}, []string{`^Main Process:\n +\d+ `}},
		{[]string{"signal", "web", "CONT"}, []string{`^ok$`}},
		{[]string{"set", "web", "graceful_timeout", "3"}, []string{`^ok$`}},
		{[]string{"get", "web", "graceful_timeout"}, []string{`^graceful_timeout: 3\.0$`}},
		{[]string{"kill", "other", "--graceful_timeout", "1", "--waiting"}, []string{`^ok$`}},
		{[]string{"stop", "o*", "--waiting"}, []string{`^ok$`}},
		{[]string{"status", "other"}, []string{`^stopped$`}},
		{[]string{"start", "^oth", "--match", "regex", "--waiting"}, []string{`^ok$`}},
		{[]string{"restart", "?th*r", "--match", "glob", "--waiting"}, []string{`^ok$`}},
		{[]string{"status", "other"}, []string{`^active$`}},
		{[]string{"reload", "web", "--waiting"}, []string{`^ok$`}},
		{[]string{"reloadconfig"}, []string{`^ok$`}},
		{[]string{"add", "extra", "/bin/sleep 3600"}, []string{`^ok$`}},
		{[]string{"rm", "extra", "--waiting"}, []string{`^ok$`}},
	}
	lines := make([][]string, len(steps))
	for i, s := range steps {
		lines[i] = s.args
	}
	for i, r := range circusctlBatch(t, ep, lines) {
		for _, want := range steps[i].want {
			if r.code != 0 || !regexp.MustCompile(want).MatchString(r.out) {
				t.Errorf("circusctl %s: exit %d, output:\n%s\nwant exit 0 and output matching %q", strings.Join(steps[i].args, " "), r.code, r.out, want)
			}
		}
	}

	// quit --waiting answers once every worker is gone, here one that
	// ignores SIGTERM and is killed at its graceful_timeout.
	add := call(t, c, "add", map[string]any{"name": "slow", "cmd": "/bin/sh", "args": []any{"-c", "trap '' TERM; sleep 3600"},
		"options": map[string]any{"graceful_timeout": 1}, "start": true, "waiting": true})
	if add["status"] != "ok" {
		t.Fatalf("add slow: %v", add)
	}
	all := append(goPids(t, c, "web"), goPids(t, c, "other")...)
	all = append(all, goPids(t, c, "slow")...)
	if r := circusctlBatch(t, ep, [][]string{{"quit", "--waiting"}}); r[0].code != 0 || r[0].out != "ok" {
		t.Errorf("quit --waiting: %v", r)
	}
	for _, pid := range all {
		if alive(pid) {
			t.Errorf("quit --waiting answered while worker %d was alive", pid)
		}
	}
	if code := p.wait(); code != 0 {
		t.Errorf("poold exited %d after quit", code)
	}
}

// alive reports whether pid runs (a zombie does not count).
func alive(pid int) bool {
	if !exists(pid) {
		return false
	}
	st, err := readState(pid)
	return err == nil && st != "Z"
}

func readState(pid int) (string, error) {
	b, err := readFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return "", fmt.Errorf("bad stat %q", s)
	}
	return s[i+2 : i+3], nil
}

// TestCircusSignalChildpid: Circus's signal with childpid signals that
// child of the worker, not the worker.
func TestCircusSignalChildpid(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, circusConfig)
	ep := ctlEndpoint(p)
	c := dialControl(t, p)
	var worker, child int
	proctest.Eventually(t, "a worker with a child", func() bool {
		for _, pid := range goPids(t, c, "web") {
			if kids := childrenOf(pid); len(kids) == 1 {
				worker, child = pid, kids[0]
				return true
			}
		}
		return false
	})
	r := circusClient(t, ep, []map[string]any{{"command": "signal", "properties": map[string]any{
		"name": "web", "pid": worker, "childpid": child, "signum": "TERM"}}})
	if r[0].Reply["status"] != "ok" {
		t.Fatalf("signal childpid: %v", r[0].Reply)
	}
	proctest.Eventually(t, fmt.Sprintf("child %d gone", child), func() bool { return !alive(child) })
	if !alive(worker) || !slices.Contains(goPids(t, c, "web"), worker) {
		t.Errorf("worker %d was signalled (or replaced) instead of its child %d", worker, child)
	}
}

// TestCircusTopPaintsPoold feeds poold's stats stream, read by circus-top's
// own StatsClient, to its painter (_paint) on a fake screen: it painted a
// blank screen (ValueError) without the stat.circus aggregate.
func TestCircusTopPaintsPoold(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, circusConfig)
	c := dialControl(t, p)
	proctest.Eventually(t, "3 workers", func() bool { return goCount(t, c) == 3 })
	const script = `
import os, sys, time
from collections import defaultdict
from circus.stats.client import StatsClient, _paint

class Screen:
    def __init__(self): self.lines = {}
    def getmaxyx(self): return (60, 120)
    def erase(self): self.lines = {}
    def refresh(self): pass
    def resize(self, h, w): pass
    def addstr(self, x, y, text): self.lines[(x, y)] = text

watchers = defaultdict(dict)
client = StatsClient(sys.argv[1])
client.timeout = 1
deadline = time.time() + 25
for watcher, subtopic, stat in client:
    stat['watcher'] = watcher
    watchers[watcher][subtopic or 'all'] = stat
    names = set(watchers)
    if {'web', 'other', 'circus', 'sockets'} <= names and all('all' in watchers[n] and len(watchers[n]) > 1 for n in ('web', 'other', 'circus')) or time.time() > deadline:
        break
screen = Screen()
_paint(screen, watchers, 60, 120)
for (x, y), text in sorted(screen.lines.items()):
    print(x, y, text.rstrip())
# Painted: exit now. Python's exit tears down the stats client's zmq
# context, which on a loaded machine once outlasted the test's bound
# after the whole screen was out ("signal: killed").
sys.stdout.flush()
os._exit(0)
`
	ctx, cancel := contextWithHang()
	defer cancel()
	cmd := circusPython(t, ctx, "-c", script, "ipc://"+p.dir+"/s.sock")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("circus-top's painter: %v\n%s", err, out)
	}
	screen := string(out)
	for _, want := range []string{"Circus Top", "\n2 0 circus\n", "\nweb\n", "(avg)", "(sum)", "(older)"} {
		if !strings.Contains(strings.ReplaceAll(screen, "\n", "\n\n"), want) && !strings.Contains(screen, strings.TrimPrefix(want, "\n")) {
			t.Errorf("circus-top screen lacks %q:\n%s", want, screen)
		}
	}
	for _, w := range []string{"other", "web", "sockets", "circus", "poold"} {
		if !regexp.MustCompile(`(?m)^\d+ 0 ` + w + `$`).MatchString(screen) {
			t.Errorf("circus-top shows no %s group:\n%s", w, screen)
		}
	}
	// A worker's row is its pid alone, as under circusd-stats, which
	// sends a worker's name as null.
	for _, w := range []string{"(web)", "(other)"} {
		if strings.Contains(screen, w) {
			t.Errorf("circus-top labels a worker %s:\n%s", w, screen)
		}
	}
	if n := strings.Count(screen, "(avg)"); n != 4 {
		t.Errorf("circus-top shows %d aggregate lines, want 4 (circus, other, poold, web):\n%s", n, screen)
	}
}

// TestCircusFlappingPluginThroughReloadAndDecr runs Circus's flapping
// plugin against poold: a reload and a decr 2 must leave the watcher
// alone (poold published reap for the workers they stop, which the plugin
// counts as crashes), while real crashes still trip it.
func TestCircusFlappingPluginThroughReloadAndDecr(t *testing.T) {
	circusPeer(t)
	p := startPoold(t, strings.Replace(circusConfig, "numprocesses = 2", "numprocesses = 4", 1))
	ep := ctlEndpoint(p)
	c := dialControl(t, p)
	sub := subscribe(t, p, c)
	proctest.Eventually(t, "5 workers", func() bool { return goCount(t, c) == 5 })

	// The real plugin, which also prints each event it handles, so the
	// test knows what it has seen.
	const script = `
import sys
from circus.plugins.flapping import Flapping
class Seen(Flapping):
    def handle_recv(self, data):
        print("event", data[0].decode(), flush=True)
        return super().handle_recv(data)
Seen(sys.argv[1], sys.argv[2], 5.0, None, attempts="3", window="30", retry_in="1", max_retry="1").start()
`
	ctx, cancel := contextWithHang()
	defer cancel()
	plugin := circusPython(t, ctx, "-c", script, ep, "ipc://"+p.dir+"/e.sock")
	plog := &lockedBuffer{}
	plugin.Stdout, plugin.Stderr = plog, plog
	if err := plugin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = plugin.Process.Signal(syscall.SIGTERM)
		_ = plugin.Wait()
		if t.Failed() {
			t.Logf("flapping plugin log:\n%s", plog.String())
		}
	})
	// seen provokes an updated event until the plugin has handled one
	// more: everything published before has been handled too, and a stop
	// it cast has reached poold before the options call it makes on
	// updated (same socket).
	seen := func() {
		n := strings.Count(plog.String(), "event watcher.web.updated")
		proctest.Eventually(t, "the plugin handling events", func() bool {
			call(t, c, "set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 2}})
			return strings.Count(plog.String(), "event watcher.web.updated") > n
		})
	}
	seen()
	for i, r := range circusctlBatch(t, ep, [][]string{{"reload", "web", "--waiting"}, {"decr", "web", "2", "--waiting"}}) {
		if r.code != 0 {
			t.Fatalf("circusctl reload/decr %d: %v", i, r)
		}
	}
	seen()
	if st := call(t, c, "status", map[string]any{"name": "web"})["status"]; st != "active" || !strings.Contains(plog.String(), "event watcher.web.kill") {
		t.Fatalf("after reload and decr 2 with the flapping plugin: web is %s (want active)", st)
	}
	// Control: three real crashes in the window do trip it.
	var seq float64
	for crashed := 0; crashed < 3; crashed++ {
		var pids []int
		proctest.Eventually(t, "a worker to crash", func() bool { pids = goPids(t, c, "web"); return len(pids) > 0 })
		_ = syscall.Kill(pids[0], syscall.SIGKILL)
		collect(t, sub, &seq, func(e event) bool {
			return e.topic == "watcher.web.reap" && e.p["process_pid"] == float64(pids[0])
		})
	}
	collect(t, sub, &seq, func(e event) bool { return e.topic == "watcher.web.stop" })
}

func contextWithHang() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), hang)
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }
