package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

func TestEndToEnd(t *testing.T) { endToEnd(t, startPoold(t)) }

// endToEnd runs every kind of command against p, over whichever
// transport p.conn names.
func endToEnd(t *testing.T, p *poold) {

	t.Run("status and list", func(t *testing.T) {
		p.waitPids(t, 2)
		if r := p.ctl(t, "status", "web"); r.stdout != "active\n" {
			t.Errorf("status web: %q", r.stdout)
		}
		// READY: the workers ready of those wanted, from the ready
		// counts poold adds to the status reply's sizes.
		if r := p.ctl(t, "status"); r.stdout != "WATCHER  STATUS  READY\nweb      active  2/2\n" {
			t.Errorf("status: %q", r.stdout)
		}
		if r := p.ctl(t, "--json", "status"); !strings.Contains(r.stdout, `"statuses":{"web":"active"}`) || !strings.Contains(r.stdout, `"ready":2`) {
			t.Errorf("status --json: %q, want Circus's statuses and poold's ready count", r.stdout)
		}
		if r := p.ctl(t, "list"); r.stdout != "web\n" {
			t.Errorf("list: %q", r.stdout)
		}
		if r := p.ctl(t, "numwatchers"); r.stdout != "1\n" {
			t.Errorf("numwatchers: %q", r.stdout)
		}
		if r := p.ctl(t, "numprocesses", "web"); r.stdout != "2\n" {
			t.Errorf("numprocesses: %q", r.stdout)
		}
		// Shell completion asks poold for the watcher names.
		if r := p.ctl(t, "__complete", "incr", ""); !strings.HasPrefix(r.stdout, "web\n") {
			t.Errorf("completing incr: %q", r.stdout)
		}
		for _, pid := range p.pids(t) {
			if !proctest.Alive(pid) {
				t.Errorf("pid %d from list web is not alive", pid)
			}
		}
	})

	t.Run("incr and decr change the live pids", func(t *testing.T) {
		if r := p.ctl(t, "incr", "web"); r.stdout != "3\n" {
			t.Errorf("incr web: %q", r.stdout)
		}
		p.waitPids(t, 3)
		r := p.ctl(t, "--waiting", "incr", "web", "2")
		if r.stdout != "5\n" {
			t.Errorf("incr web 2: %q", r.stdout)
		}
		if !strings.Contains(r.stderr, "waiting for 'incr web 2'...") {
			t.Errorf("--waiting progress: %q", r.stderr)
		}
		if pids := p.pids(t); len(pids) != 5 {
			t.Errorf("after a waiting incr web 2: pids %v, want 5", pids)
		}
		if r := p.ctl(t, "--waiting", "decr", "web", "3"); r.stdout != "2\n" {
			t.Errorf("decr web 3: %q", r.stdout)
		}
		if pids := p.pids(t); len(pids) != 2 {
			t.Errorf("after a waiting decr web 3: pids %v, want 2", pids)
		}
	})

	t.Run("stats", func(t *testing.T) {
		pids := p.pids(t)
		r := p.ctl(t, "stats", "web")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "PID ") ||
			!strings.Contains(lines[0], "WID  STATE") || !strings.Contains(lines[0], "RESTARTS") {
			t.Fatalf("stats web:\n%s", r.stdout)
		}
		for _, pid := range pids {
			if !strings.Contains(r.stdout, "\n"+strconv.Itoa(pid)+" ") {
				t.Errorf("stats web lacks pid %d:\n%s", pid, r.stdout)
			}
		}
		r = p.ctl(t, "--json", "stats", "web")
		var rep struct {
			Name string                    `json:"name"`
			Info map[string]map[string]any `json:"info"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("--json stats web: %v\n%s", err, r.stdout)
		}
		if rep.Name != "web" || len(rep.Info) != 2 {
			t.Errorf("--json stats web: %s", r.stdout)
		}
		for pid, info := range rep.Info {
			for _, k := range []string{"pid", "wid", "cpu", "mem", "mem_info1", "age", "state", "restarts", "cmdline"} {
				if _, ok := info[k]; !ok {
					t.Errorf("stats info of %s lacks %q: %v", pid, k, info)
				}
			}
		}
		r = p.ctl(t, "stats")
		if !strings.HasPrefix(r.stdout, "WATCHER  PID") || strings.Count(r.stdout, "\nweb ") != 2 {
			t.Errorf("stats:\n%s", r.stdout)
		}
		r = p.ctl(t, "stats", "web", strconv.Itoa(pids[0]))
		if strings.Count(strings.TrimSpace(r.stdout), "\n") != 1 {
			t.Errorf("stats web %d:\n%s", pids[0], r.stdout)
		}
		if r := p.ctl(t, "dstats"); !strings.Contains(r.stdout, "name") || !strings.Contains(r.stdout, "poold") {
			t.Errorf("dstats:\n%s", r.stdout)
		}
	})

	t.Run("listsockets options globaloptions", func(t *testing.T) {
		if r := p.ctl(t, "listsockets"); r.stdout != "FD  NAME  ADDRESS  BACKLOG  QUEUE\n" {
			t.Errorf("listsockets: %q", r.stdout)
		}
		if r := p.ctl(t, "--json", "listsockets"); !strings.Contains(r.stdout, `"sockets":[]`) {
			t.Errorf("--json listsockets: %q", r.stdout)
		}
		r := p.ctl(t, "options", "web")
		if !strings.Contains(r.stdout, "\nnumprocesses ") || !regexp.MustCompile(`(?m)^args +3600$`).MatchString(r.stdout) {
			t.Errorf("options web:\n%s", r.stdout)
		}
		if r := p.ctl(t, "get", "web", "cmd", "numprocesses"); r.stdout != "cmd           sleep\nnumprocesses  2\n" {
			t.Errorf("get web: %q", r.stdout)
		}
		if r := p.ctl(t, "globaloptions", "pubsub_endpoint"); r.stdout != "pubsub_endpoint  "+p.pubsub+"\n" {
			t.Errorf("globaloptions pubsub_endpoint: %q", r.stdout)
		}
	})

	t.Run("error reply exits 1", func(t *testing.T) {
		r := poolctl(t, append(p.conn(), "incr", "nope")...)
		if r.code != exitReplyError || !strings.Contains(r.stderr, "nope") || !strings.Contains(r.stderr, "not found") {
			t.Errorf("incr nope: %v", r)
		}
		r = poolctl(t, append(p.conn(), "get", "web", "nosuchkey")...)
		if r.code != exitReplyError {
			t.Errorf("get web nosuchkey: %v", r)
		}
	})

	t.Run("events prints a spawn after incr", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		out := &syncBuffer{}
		var errb bytes.Buffer
		done := make(chan int, 1)
		go func() { done <- run(ctx, append(p.conn(), "events", "watcher.web."), out, &errb) }()
		// The subscription takes effect shortly after connecting, so an
		// incr may come too early to be seen: repeat until one is.
		deadline := time.Now().Add(20 * time.Second)
		incrs := 0
		spawn := events.WatcherTopic("web", events.KindSpawn)
		for !strings.Contains(out.String(), spawn+" pid=") {
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("no spawn event after %d incr; events printed %q, stderr %q", incrs, out.String(), errb.String())
			}
			p.ctl(t, "incr", "web")
			incrs++
			proctest.Poll(time.Second, func() bool { return strings.Contains(out.String(), spawn) })
		}
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("events exited %d after Ctrl-C, want 0; stderr %q", code, errb.String())
		}
		p.ctl(t, "--waiting", "decr", "web", strconv.Itoa(incrs))
		p.waitPids(t, 2)
	})

	t.Run("stop start restart", func(t *testing.T) {
		old := p.pids(t)
		r := p.ctl(t, "--waiting", "stop", "web")
		if !strings.Contains(r.stdout, "stopped:  "+joinInts(old)+"\n") {
			t.Errorf("stop --waiting: %q (pids were %v)", r.stdout, old)
		}
		if !strings.HasPrefix(r.stderr, "waiting for 'stop web'...\n") {
			t.Errorf("stop --waiting progress: %q", r.stderr)
		}
		t.Logf("stop --waiting progress:\n%s", r.stderr)
		for _, pid := range old {
			if proctest.Alive(pid) {
				t.Errorf("pid %d alive after a waiting stop", pid)
			}
		}
		if r := p.ctl(t, "status", "web"); r.stdout != "stopped\n" {
			t.Errorf("status after stop: %q", r.stdout)
		}
		if pids := p.pids(t); len(pids) != 0 {
			t.Errorf("list after stop: %v", pids)
		}
		r = p.ctl(t, "--waiting", "start", "web")
		started := p.pids(t)
		if len(started) != 2 || !strings.Contains(r.stdout, "started:  "+joinInts(started)+"\n") {
			t.Errorf("start --waiting: %q; list %v", r.stdout, started)
		}
		if r := p.ctl(t, "status", "web"); r.stdout != "active\n" {
			t.Errorf("status after start: %q", r.stdout)
		}
		// restart waits by default, as reload does: its "ok" after half
		// a second, the workers still stopping, made a deploy script's
		// smoke test run against no worker. It says what it waits for.
		r = p.ctl(t, "restart", "web")
		now := p.pids(t)
		if !strings.Contains(r.stdout, "stopped:  "+joinInts(started)+"\n") || !strings.Contains(r.stdout, "started:  "+joinInts(now)+"\n") {
			t.Errorf("restart (waited by default): %q; before %v, after %v", r.stdout, started, now)
		}
		header := "waiting for 'restart web' (its workers stop, then new ones start: none serves in between; 'poolctl reload web' replaces them without that gap)...\n"
		if !strings.HasPrefix(r.stderr, header) {
			t.Errorf("restart progress should say what a restart does first: %q", r.stderr)
		}
		if r := p.ctl(t, "restart", "--no-wait", "web"); r.stdout != "ok\n" || r.stderr != "" {
			t.Errorf("restart --no-wait: %v", r)
		}
		p.waitPids(t, 2)
		if r := p.ctl(t, "stop", "web"); r.stdout != "ok\n" {
			t.Errorf("stop without waiting: %q", r.stdout)
		}
		p.waitPids(t, 0)
		p.ctl(t, "start", "web")
		p.waitPids(t, 2)
	})

	t.Run("set and signal", func(t *testing.T) {
		p.ctl(t, "--waiting", "set", "web", "numprocesses", "3")
		p.waitPids(t, 3)
		if r := p.ctl(t, "get", "web", "numprocesses"); r.stdout != "numprocesses  3\n" {
			t.Errorf("get after set: %q", r.stdout)
		}
		if r := p.ctl(t, "signal", "web", "CONT"); r.stdout != "ok\n" {
			t.Errorf("signal web CONT: %q", r.stdout)
		}
	})

	t.Run("top one frame", func(t *testing.T) {
		r := p.ctl(t, "top", "-n", "1")
		if !strings.HasPrefix(r.stdout, "poold top ") || !strings.Contains(r.stdout, "\nweb  active  3 processes") {
			t.Errorf("top -n 1:\n%s", r.stdout)
		}
	})

	t.Run("quit", func(t *testing.T) {
		pids := p.pids(t)
		p.ctl(t, "--waiting", "quit")
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("poold still running 30s after quit; log:\n%s", p.log())
		}
		if p.waitErr != nil {
			t.Errorf("poold exit after quit: %v", p.waitErr)
		}
		for _, pid := range pids {
			if proctest.Alive(pid) {
				t.Errorf("worker %d survived quit", pid)
			}
		}
	})
}

func joinInts(ns []int) string {
	s := append([]int(nil), ns...)
	sort.Ints(s)
	parts := make([]string, len(s))
	for i, n := range s {
		parts[i] = strconv.Itoa(n)
	}
	return strings.Join(parts, " ")
}

// syncBuffer is a log sink safe to read while the process under test writes.
type syncBuffer = workertest.Buffer

// BenchmarkPoolctlStatus50 is BenchmarkPoolctlStatus with 50 watchers of
// 2 workers each: the READY column costs one stats request for all of
// them, not one per watcher.
func BenchmarkPoolctlStatus50(b *testing.B) {
	var more strings.Builder
	for i := range 49 {
		fmt.Fprintf(&more, "[watchers.w%02d]\ncmd = \"sleep\"\nargs = [\"3600\"]\nnumprocesses = 2\n", i)
	}
	p := startPooldWith(b, pooldConf{watchers: more.String()})
	bin := filepath.Join(binaries(b), "poolctl")
	for b.Loop() {
		out, err := exec.Command(bin, "--endpoint", p.control, "status").CombinedOutput()
		if err != nil || strings.Count(string(out), "\n") != 51 {
			b.Fatalf("poolctl status: %v\n%s", err, out)
		}
	}
}

// BenchmarkPoolctlStatus runs the built poolctl binary as a whole process
// (`poolctl status`) against a running poold: start-up, connect, one
// round trip, print, exit.
func BenchmarkPoolctlStatus(b *testing.B) {
	p := startPoold(b)
	bin := filepath.Join(binaries(b), "poolctl")
	for b.Loop() {
		out, err := exec.Command(bin, "--endpoint", p.control, "status").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "web") {
			b.Fatalf("poolctl status: %v\n%s", err, out)
		}
	}
}
