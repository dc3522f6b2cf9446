package arbiter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// TestReloadChecksOnlyTheWatchersItTouches: a watcher whose program has
// been missing since poold started is not a reason to refuse an edit to
// another watcher (it used to be: start never checks programs, a reload
// checked them all, so the file could not be reloaded at all). A reload
// that changes that watcher is still refused.
func TestReloadChecksOnlyTheWatchersItTouches(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	missing := testWatcher("optional", "sleep", 1)
	missing.Cmd = "/nonexistent/poold-test/not-deployed-yet"
	cfg := &configs.Config{Watchers: []configs.Watcher{web, missing}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	readyPids(t, h, "web", 1)
	reload := func() Reply {
		return h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	}

	web2 := web
	web2.NumProcesses = 2
	next.Watchers = []configs.Watcher{web2, missing}
	if r := reload(); r["status"] != "ok" || fmt.Sprint(r["updated"]) != "[web]" {
		t.Fatalf("reload scaling web beside a watcher whose program is missing: %v, want ok with updated [web]", r)
	}

	missing2 := missing
	missing2.Args = []string{"--port", "1"}
	next.Watchers = []configs.Watcher{web2, missing2}
	r := reload()
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "watchers.optional.cmd") {
		t.Fatalf("reload changing the watcher whose program is missing: %v, want it refused naming watchers.optional.cmd", r)
	}
}

// TestReloadKeepsRunTimeChanges: a reload applies what the file changed
// since it was last read and keeps run-time incr and set of the keys it
// left alone, as circusd does. It used to compare the file with the
// running spec, so a SIGHUP sent to add another watcher scaled a pool
// back down and undid every set.
func TestReloadKeepsRunTimeChanges(t *testing.T) {
	web := testWatcher("web", "sleep", 1) // "serve" with no socket exits 1 soon after start
	cfg := &configs.Config{Watchers: []configs.Watcher{web}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	readyPids(t, h, "web", 1)
	do := func(cmd string, props map[string]any) Reply {
		t.Helper()
		r := h.a.Do(context.Background(), Request{ID: cmd, Command: cmd, Properties: props})
		if r["status"] != "ok" {
			t.Fatalf("%s %v: %v", cmd, props, r)
		}
		return r
	}
	get := func(key string) string {
		opts := do("get", map[string]any{"name": "web", "keys": []any{key}})["options"].(Ordered).Values
		return fmt.Sprint(opts[key])
	}
	do("incr", map[string]any{"name": "web", "nb": 2, "waiting": true})
	do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 7}})

	extra := testWatcher("extra", "sleep", 1)
	next.Watchers = []configs.Watcher{web, extra}
	r := do("reloadconfig", map[string]any{"waiting": true})
	if fmt.Sprint(r["unchanged"]) != "[web]" || fmt.Sprint(r["added"]) != "[extra]" {
		t.Errorf("reload adding extra: %v, want web unchanged", r)
	}
	if n, g := get("numprocesses"), get("graceful_timeout"); n != "3" || g != "7" {
		t.Errorf("after a reload that left web's section alone: numprocesses %s, graceful_timeout %s; want the run-time 3 and 7", n, g)
	}

	web2 := web
	web2.Env = append(web2.Env, "EDITED=1") // the file changes another key of web
	next.Watchers = []configs.Watcher{web2, extra}
	do("reloadconfig", map[string]any{"waiting": true})
	if n, g := get("numprocesses"), get("graceful_timeout"); n != "3" || g != "7" {
		t.Errorf("after a reload that changed web's env: numprocesses %s, graceful_timeout %s; want 3 and 7 kept", n, g)
	}

	web3 := web2
	web3.NumProcesses = 2 // the file scales web: its value wins
	next.Watchers = []configs.Watcher{web3, extra}
	do("reloadconfig", map[string]any{"waiting": true})
	if n := get("numprocesses"); n != "2" {
		t.Errorf("after the file changed numprocesses 1 -> 2: %s, want 2", n)
	}
}

// TestReloadRefusesFileChangesThatClashWithRunTimeOnes: a key the file
// changes must still go with the run-time set of another key that the
// reload keeps. It used to be applied unchecked: backoff_min 5s from the
// file beside a set backoff_max 1s ran, and every later set of that
// watcher was refused naming backoff_min.
func TestReloadRefusesFileChangesThatClashWithRunTimeOnes(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Path: "poold.toml", Watchers: []configs.Watcher{web}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	pids := readyPids(t, h, "web", 1)
	if r := h.do("set", map[string]any{"name": "web", "options": map[string]any{"backoff_max": 1}}); r["status"] != "ok" {
		t.Fatalf("set backoff_max 1: %v", r)
	}
	web2 := web
	web2.BackoffMin = 5 * time.Second // valid in the file, whose backoff_max is 30s
	next.Watchers = []configs.Watcher{web2}
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["status"] != "error" || !strings.Contains(reason, "poold.toml: watchers.web.backoff_min: (5s) must not exceed backoff_max (1s)") ||
		!strings.Contains(reason, "backoff_max = 1") || !strings.Contains(reason, "nothing was changed") ||
		!strings.Contains(reason, "change that one with poolctl set, or the file so that it fits") {
		t.Fatalf("reload of backoff_min 5s beside a run-time backoff_max 1s: %v, want it refused naming both keys", r)
	}
	opts := h.do("get", map[string]any{"name": "web", "keys": []any{"backoff_min", "backoff_max"}})["options"].(Ordered).Values
	if fmt.Sprint(opts["backoff_min"], " ", opts["backoff_max"]) != "0.1 1" {
		t.Errorf("after the refused reload: backoff_min %v, backoff_max %v; want 0.1 and 1 as before", opts["backoff_min"], opts["backoff_max"])
	}
	if r := h.do("set", map[string]any{"name": "web", "options": map[string]any{"graceful_timeout": 3}}); r["status"] != "ok" {
		t.Errorf("set graceful_timeout after the refused reload: %v", r)
	}
	if now := h.do("list", map[string]any{"name": "web"})["pids"].([]int); len(now) != 1 || !pids[now[0]] {
		t.Errorf("pids after the refused reload: %v, want %v untouched", now, pids)
	}
}

// TestReloadRefusesAnEmptyFile: a file with no watcher and no socket (one
// truncated by a tool that then writes it) does not stop every watcher.
func TestReloadRefusesAnEmptyFile(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	cfg := &configs.Config{Path: "poold.toml", Sockets: []configs.Socket{tcpSocket("web")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return &configs.Config{Path: "poold.toml"}, nil }})
	pids := readyPids(t, h, "web", 1)
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "poold.toml defines no watchers and no sockets") {
		t.Fatalf("reloadconfig of an empty file: %v, want it refused", r)
	}
	if reason := fmt.Sprint(r["reason"]); !strings.Contains(reason, "refusing to stop the 1 watcher (") {
		t.Errorf("reason %q: want it to count the one watcher as one", reason)
	}
	checkStillServing(t, h, pids)
}

// TestReloadReportsSockets: the reply and the log name the sockets a
// reload bound and closed; they used to mention watchers only.
func TestReloadReportsSockets(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	cfg := &configs.Config{Sockets: []configs.Socket{tcpSocket("web"), tcpSocket("old")}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Sockets = []configs.Socket{tcpSocket("web"), tcpSocket("extra")}
		return &c, nil
	}})
	readyPids(t, h, "web", 1)
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	socks, _ := r["sockets"].(map[string]any)
	if got := fmt.Sprint(socks["added"], socks["removed"], socks["updated"]); got != "[extra] [old] []" {
		t.Errorf("reply sockets %v, want extra added and old removed", r["sockets"])
	}
	if !strings.Contains(h.log.String(), "sockets: added extra, removed old") {
		t.Errorf("log does not name the sockets:\n%s", h.log.String())
	}
}

// TestReloadReportsARenamedSocket: a reload that renames a socket keeps
// its fd and port under the new name, but the reply and the log said
// "added front, removed web", which reads as a close and a bind.
func TestReloadReportsARenamedSocket(t *testing.T) {
	w := testWatcher("web", "serve", 1)
	w.Sockets = []string{"web"}
	web := tcpSocket("web")
	web.Host, web.Port = "127.0.0.1", proctest.FreePort(t)
	cfg := &configs.Config{Sockets: []configs.Socket{web}, Watchers: []configs.Watcher{w}}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		front := web
		front.Name = "front"
		w2 := w
		w2.Sockets = []string{"front"}
		return &configs.Config{Sockets: []configs.Socket{front}, Watchers: []configs.Watcher{w2}}, nil
	}})
	readyPids(t, h, "web", 1)
	r := h.do("reloadconfig", map[string]any{"waiting": true})
	socks, _ := r["sockets"].(map[string]any)
	if got := fmt.Sprint(socks["added"], socks["removed"], socks["renamed"]); got != "[] [] map[web:front]" {
		t.Errorf("reply sockets %v, want web renamed to front", r["sockets"])
	}
	if !strings.Contains(h.log.String(), "sockets: renamed web to front") {
		t.Errorf("log does not say the socket was renamed:\n%s", h.log.String())
	}
}

// TestWaitedStartReportsWorkersThatDidNotStart: start with waiting used
// to answer ok (started: none) while every slot of the watcher sat in
// backoff with a spawn error; it now fails naming the slots, as
// systemctl start fails for a unit that does not start.
func TestWaitedStartReportsWorkersThatDidNotStart(t *testing.T) {
	bad := testWatcher("bad", "sleep", 2)
	bad.Cmd = "/nonexistent/poold-test/prog"
	bad.Autostart = false
	good := testWatcher("good", "sleep", 1)
	good.Autostart = false
	h := start(t, &configs.Config{Watchers: []configs.Watcher{bad, good}}, Options{})
	r := h.a.Do(context.Background(), Request{ID: "s", Command: "start", Properties: map[string]any{"name": "bad", "waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "bad" wid 1 has no worker (backoff: spawn error: /nonexistent/poold-test/prog: not found)`) {
		t.Errorf("waited start of a watcher whose program is missing: %v", r)
	}
	if r := h.do("start", map[string]any{"name": "good", "waiting": true}); r["status"] != "ok" {
		t.Errorf("waited start of a good watcher: %v", r)
	}
}

// TestWaitedReloadReportsAddedWatcherThatDidNotStart: a waited reload
// answered ok, with the new watcher under added, while its only worker
// could not be spawned (a program the kernel cannot run, which the
// reload's check lets pass: a binary format it does not know); a waited
// start of the same watcher failed. The reload now fails the same way,
// names the watcher under not_started with the slot's reason, and counts
// as a reload that did not apply in full.
func TestWaitedReloadReportsAddedWatcherThatDidNotStart(t *testing.T) {
	good := testWatcher("good", "sleep", 1)
	cfg := &configs.Config{Watchers: []configs.Watcher{good}}
	bad := testWatcher("bad", "sleep", 1)
	bad.Cmd = filepath.Join(t.TempDir(), "not-a-program")
	if err := os.WriteFile(bad.Cmd, []byte("\x00\x01 no known binary format"), 0o755); err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
		c := *cfg
		c.Watchers = []configs.Watcher{good, bad}
		return &c, nil
	}})
	readyPids(t, h, "good", 1)
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	reason := fmt.Sprint(r["reason"])
	if r["errno"] != ErrnoAsync || !strings.Contains(reason, `watcher "bad" added but not started: watcher "bad" wid 1 has no worker (backoff: spawn error: `) {
		t.Fatalf("waited reload adding a watcher that cannot spawn: %v", r)
	}
	ns, _ := r["not_started"].(map[string]any)
	if why := fmt.Sprint(ns["bad"]); !strings.Contains(why, "exec format error") || len(ns) != 1 {
		t.Errorf("not_started %v, want bad with its spawn error", r["not_started"])
	}
	if added := fmt.Sprint(r["added"]); added != "[bad]" {
		t.Errorf("added %s, want [bad]: the watcher is there, stopped or retrying", added)
	}
	if snap, err := h.a.Snapshot(context.Background()); err != nil || snap.Config.LastReloadOK {
		t.Errorf("the reload counts as applied in full (%v)", err)
	}
}

// TestReloadIgnoresAVanishedWorkingDirOfAnUntouchedWatcher: a running
// watcher whose working_dir was removed (an old release directory
// cleaned up) made every reload of the file fail, an edit to another
// watcher too: the config validation checked every working_dir. A reload
// now checks it, as a program, only for the watchers it adds or changes.
func TestReloadIgnoresAVanishedWorkingDirOfAnUntouchedWatcher(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "release-1")
	if err := os.Mkdir(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "poold.toml")
	write := func(aProcs int, bArgs string) {
		t.Helper()
		text := fmt.Sprintf(`[watchers.a]
cmd = %[1]q
env = ["%[2]s=sleep"]
numprocesses = %[3]d
[watchers.b]
cmd = %[1]q
args = [%[4]q]
env = ["%[2]s=sleep"]
working_dir = %[5]q
`, os.Args[0], workertest.Env, aProcs, bArgs, wd)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1, "one")
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return configs.Load(path) }})
	readyPidsOf(t, h, map[string]int{"a": 1, "b": 1})
	if err := os.Remove(wd); err != nil {
		t.Fatal(err)
	}
	reload := func() Reply {
		return h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	}

	write(2, "one")
	if r := reload(); r["status"] != "ok" || fmt.Sprint(r["updated"]) != "[a]" {
		t.Fatalf("reload scaling a while b's working_dir is gone: %v, want ok with updated [a]", r)
	}
	write(2, "two")
	if r := reload(); r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), "watchers.b.working_dir: "+wd+": no such file or directory") {
		t.Fatalf("reload changing b, whose working_dir is gone: %v, want it refused naming watchers.b.working_dir", r)
	}
}

// TestReloadRefusesAWatcherWhoseUserIsMissing: a file's user and group
// names are no longer looked up by the config validation (a user deleted
// under a running watcher made every reload fail; configs'
// TestUserAndGroupAreMachineFacts), so the reload's own machine check
// (launch.Check, for the watchers it adds or changes) refuses a watcher
// whose user or group is not on this machine, naming file and key, and
// changes nothing.
func TestReloadRefusesAWatcherWhoseUserIsMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	write := func(extra string) {
		t.Helper()
		text := fmt.Sprintf("[watchers.a]\ncmd = %[1]q\nenv = [\"%[2]s=sleep\"]\n%[3]s", os.Args[0], workertest.Env, extra)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return configs.Load(path) }})
	readyPids(t, h, "a", 1)
	write(fmt.Sprintf("[watchers.b]\ncmd = %q\nuid = \"no-such-user-poold\"\ngid = \"no-such-group-poold\"\n", os.Args[0]))
	r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	for _, want := range []string{
		path + ": watchers.b.uid: no user \"no-such-user-poold\" on this machine",
		"(nothing was changed)",
	} {
		if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), want) {
			t.Errorf("reload adding b, whose user is not on this machine: %v, want it refused with %q", r, want)
		}
	}
	if r := h.a.Do(context.Background(), Request{ID: "l", Command: "list"}); fmt.Sprint(r["watchers"]) != "[a]" {
		t.Errorf("after the refused reload: %v, want watchers [a]", r)
	}
}

// TestReloadReplyCarriesConfigWarnings: the warnings of the file a reload
// read (an override variable of a watcher the file does not define, a
// deprecated key) were only logged, so neither poolctl nor a Circus
// client saw them. The reply carries them under "warnings", a key poold
// adds only when there are some.
func TestReloadReplyCarriesConfigWarnings(t *testing.T) {
	web := testWatcher("web", "sleep", 1)
	cfg := &configs.Config{Watchers: []configs.Watcher{web}}
	next := *cfg
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { c := next; return &c, nil }})
	readyPids(t, h, "web", 1)
	reload := func() Reply {
		return h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	}

	if r := reload(); r["status"] != "ok" || r["warnings"] != nil {
		t.Fatalf("reload of a config without warnings: %v, want ok without a warnings key", r)
	}
	warning := "configs: poold.toml: POOLD_WATCHERS_GONE_NUMPROCESSES: no watcher \"gone\" in the file; the variable is ignored"
	next.Warnings = []string{warning}
	r := reload()
	if got, _ := r["warnings"].([]string); r["status"] != "ok" || len(got) != 1 || got[0] != warning {
		t.Fatalf("reload of a config with a warning: %v, want ok with warnings [%s]", r, warning)
	}
	wire, err := json.Marshal(r)
	if err != nil || !strings.Contains(string(wire), `"warnings":["configs: poold.toml: POOLD_WATCHERS_GONE_NUMPROCESSES`) {
		t.Errorf("on the wire: %s (%v), want the warnings list", wire, err)
	}
}

// TestReloadKeepsControlRulesWhoseUserIsGone: control_allow and
// control_read_only names were looked up by the config validation, so a
// user deleted under a running poold made every reload fail, whatever it
// changed. Rules the reload leaves as they are now pass (the unknown name
// matches nobody; controller's TestUnknownNameMatchesNobody); rules it
// changes are still refused when a name is not on this machine.
func TestReloadKeepsControlRulesWhoseUserIsGone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	write := func(rules string, n int) {
		t.Helper()
		text := fmt.Sprintf("[arbiter]\nendpoint = \"ipc://%s\"\ncontrol_read_only = [%s]\n[watchers.a]\ncmd = %q\nnumprocesses = %d\nenv = [\"%s=sleep\"]\n",
			sock, rules, os.Args[0], n, workertest.Env)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`"user:poold-test-user-deleted-since"`, 1)
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatalf("a rule naming a user this machine does not know should load (it matches nobody): %v", err)
	}
	h := start(t, cfg, Options{Load: func() (*configs.Config, error) { return configs.Load(path) }})
	readyPids(t, h, "a", 1)
	reload := func() Reply {
		return h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
	}

	write(`"user:poold-test-user-deleted-since"`, 2)
	if r := reload(); r["status"] != "ok" || fmt.Sprint(r["updated"]) != "[a]" {
		t.Fatalf("reload scaling a, the control rules unchanged: %v, want ok with updated [a]", r)
	}
	write(`"user:poold-test-user-deleted-since", "group:poold-test-typo"`, 2)
	r := reload()
	want := `arbiter.control_read_only: "group:poold-test-typo": no such group`
	if r["status"] != "error" || !strings.Contains(fmt.Sprint(r["reason"]), want) {
		t.Fatalf("reload changing the control rules to a group that does not exist: %v, want it refused with %q", r, want)
	}
}

// TestReloadKeepsAnAddressWrittenOtherwise: a reload that writes a
// socket's address another way (localhost for 127.0.0.1), under the same
// name or a new one, keeps its fd and port. poold bound it again and the
// reload was refused with "address already in use", poold's own socket
// holding the port.
func TestReloadKeepsAnAddressWrittenOtherwise(t *testing.T) {
	for _, name := range []string{"web", "front"} {
		t.Run(name, func(t *testing.T) {
			w := testWatcher("web", "serve", 1)
			w.Sockets = []string{"web"}
			web := tcpSocket("web")
			web.Host, web.Port = "127.0.0.1", proctest.FreePort(t)
			cfg := &configs.Config{Sockets: []configs.Socket{web}, Watchers: []configs.Watcher{w}}
			h := start(t, cfg, Options{Load: func() (*configs.Config, error) {
				next := web
				next.Name, next.Host = name, "localhost"
				w2 := w
				w2.Sockets = []string{name}
				return &configs.Config{Sockets: []configs.Socket{next}, Watchers: []configs.Watcher{w2}}, nil
			}})
			readyPids(t, h, "web", 1)
			fdOf := func() any {
				for _, s := range h.do("listsockets", nil)["sockets"].([]map[string]any) {
					return s["fd"]
				}
				return nil
			}
			before := fdOf()
			r := h.a.Do(context.Background(), Request{ID: "r", Command: "reloadconfig", Properties: map[string]any{"waiting": true}})
			if r["status"] != "ok" {
				t.Fatalf("reload writing 127.0.0.1 as localhost: %v", r)
			}
			if after := fdOf(); after != before {
				t.Errorf("socket fd %v after the reload, %v before: it was bound again", after, before)
			}
		})
	}
}
