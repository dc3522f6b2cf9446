package arbiter

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// TestSpawnTooBigNamesTheKeys: a worker whose command line and
// environment exec refuses (E2BIG: here args over what poold's stack
// limit allows) failed with a bare "argument list too long", naming
// neither the keys nor the limit. add checks only what holds on any
// machine (each string, and 6 MiB in all), so it takes this watcher;
// its spawn error now names the largest keys, their sizes, the limit and
// what to do.
func TestSpawnTooBigNamesTheKeys(t *testing.T) {
	// poold's stack limit at most 8 MiB, so that exec takes 2 MiB, under
	// what add refuses on any machine.
	var own unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_STACK, &own); err != nil {
		t.Fatal(err)
	}
	if own.Cur > 8<<20 {
		lower := own
		lower.Cur = 8 << 20
		if err := unix.Setrlimit(unix.RLIMIT_STACK, &lower); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = unix.Setrlimit(unix.RLIMIT_STACK, &own) })
		own = lower
	}
	limit := configs.ExecLimit(own.Cur)
	h := start(t, &configs.Config{Watchers: []configs.Watcher{testWatcher("web", "sleep", 0)}}, Options{NoCgroups: true})
	w := testWatcher("big", "sleep", 1)
	var args []any
	for range limit/100000 + 2 {
		args = append(args, strings.Repeat("a", 100000))
	}
	r := h.a.Do(context.Background(), Request{ID: "a", Command: "add", Properties: map[string]any{
		"name": "big", "cmd": w.Cmd, "args": args, "options": map[string]any{"env": []any{w.Env[0]}},
		"start": true, "waiting": true}})
	reason := fmt.Sprint(r["reason"])
	for _, want := range []string{
		"argument list too long: the command line and environment are ",
		fmt.Sprintf("over the %d bytes exec takes with poold's stack limit %d", limit, own.Cur),
		"the largest, in bytes: args[0] 100000, args[1] 100000, args[2] 100000;",
		"pass large data in a file the worker reads",
		"or raise poold's stack limit",
	} {
		if !strings.Contains(reason, want) {
			t.Errorf("add of a watcher too big for exec: %.2000v\nwant %q", r, want)
		}
	}
}
