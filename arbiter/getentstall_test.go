package arbiter

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/watcher/proctest"
)

// Defect: a watcher's user that only NSS knows (LDAP, SSSD: not in
// /etc/passwd) was asked of getent on the loop at each start, so while a
// slow directory held getent (up to 5 s), status and every other command
// waited. Now the start waits for getent off the loop and the loop
// answers meanwhile; the start goes on with getent's answer.
func TestStatusAnswersWhileGetentHoldsAStart(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("a watcher with another user needs root (Credential refuses it otherwise)")
	}
	bin, dir := t.TempDir(), t.TempDir()
	asked, gate := filepath.Join(dir, "asked"), filepath.Join(dir, "gate")
	// A directory that answers for pooldtest-slow only once the test
	// opens the gate: a hung LDAP server until then.
	script := fmt.Sprintf(`#!/bin/sh
case "$1 $2" in
"passwd pooldtest-slow")
	touch %[1]s
	while [ ! -e %[2]s ]; do sleep 0.02; done
	echo "pooldtest-slow:*:2911:2911:Slow:/nonexistent:/bin/sh" ;;
"initgroups pooldtest-slow") echo "pooldtest-slow 2911" ;;
*) exit 2 ;;
esac
`, asked, gate)
	if err := os.WriteFile(filepath.Join(bin, "getent"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(configs.UseAccounts(configs.NewAccounts("/etc/passwd", "/etc/group", "/usr/bin/getent")))

	w := testWatcher("dir", "sleep", 1)
	w.UID, w.Autostart = "pooldtest-slow", false
	w.Cmd, w.Args, w.Env = "/bin/sleep", []string{"300"}, nil // the test binary's directory is root's only
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})

	started := make(chan Reply, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), hang)
		defer cancel()
		started <- h.a.Do(ctx, Request{ID: "s", Command: "start", Properties: map[string]any{"name": "dir", "waiting": true}})
	}()
	proctest.Eventually(t, "the start asks getent", func() bool {
		_, err := os.Stat(asked)
		return err == nil
	})
	began := time.Now()
	st := h.do("status", map[string]any{"name": "dir"})
	took := time.Since(began)
	select {
	case r := <-started:
		t.Fatalf("the start was answered before getent answered: %v (status took %v)", r, took)
	default:
	}
	t.Logf("status answered in %v while getent hung; it said %v", took, st["status"])
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var r Reply
	select {
	case r = <-started:
	case <-time.After(hang):
		t.Fatal("the start was not answered once getent answered")
	}
	if r["status"] != "ok" {
		t.Fatalf("start: %v (status took %v: the loop waited for getent?)", r, took)
	}
	pid := h.spawned()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil || !strings.Contains(string(b), "\nUid:\t2911\t") {
		t.Errorf("worker %d does not run as uid 2911 (getent's answer): %v\n%s", pid, err, b)
	}
}

// Defect (r60 review): with a before_spawn hook, a start whose user NSS
// had still to be asked ran the hook, then waited for getent, then ran
// the hook again: the pass the first run gave was dropped by the wait.
// The hook runs once a start.
func TestBeforeSpawnHookRunsOnceAcrossAGetentWait(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("a watcher with another user needs root (Credential refuses it otherwise)")
	}
	bin, dir := t.TempDir(), t.TempDir()
	script := `#!/bin/sh
case "$1 $2" in
"passwd pooldtest-hook") echo "pooldtest-hook:*:2912:2912:Hook:/nonexistent:/bin/sh" ;;
"initgroups pooldtest-hook") echo "pooldtest-hook 2912" ;;
*) exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "getent"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Cleanup(configs.UseAccounts(configs.NewAccounts("/etc/passwd", "/etc/group", "/usr/bin/getent")))

	runs := filepath.Join(dir, "runs")
	w := testWatcher("dir", "sleep", 1)
	w.UID = "pooldtest-hook"
	w.Cmd, w.Args, w.Env = "/bin/sleep", []string{"300"}, nil
	w.Hooks = map[string]string{"before_spawn": "/bin/sh -c 'echo run >> " + runs + "'"}
	h := start(t, &configs.Config{Watchers: []configs.Watcher{w}}, Options{})
	h.spawned()
	b, err := os.ReadFile(runs)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "run\n"); n != 1 {
		t.Errorf("before_spawn ran %d times for one start across the getent wait, want 1", n)
	}
}
