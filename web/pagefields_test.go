package web

import (
	"slices"
	"strconv"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
)

// Every process sample reached each console with all of Circus's stats
// fields, of which the page uses about half: at 2,000 workers, 0.6–0.8
// MB/s per console (r50 scale tester). The stats message, and the
// process lists of state messages, carry only the fields the page uses,
// in children too.
func TestConsoleGetsOnlyTheFieldsThePageUses(t *testing.T) {
	t.Parallel()
	fake := newFakeBackend(t, map[string]int{"web": 1})
	ts := startServer(t, fake, configs.Web{}, nil)
	c := dialConsole(t, ts)
	pid, n := c.onlyPid("web")
	circus := func(pid int, children []any) map[string]any {
		return map[string]any{"pid": pid, "name": "web", "subtopic": pid, "cpu": 1.0, "rss": 1000, "mem_info1": "1K",
			"mem_info2": "2M", "mem": 0.1, "vms": 9999, "cmdline": "python app.py", "argv": []any{"python", "app.py"},
			"username": "www", "nice": 0, "num_threads": 3, "ppid": 1, "ctime": "0:01.00", "create_time": 1.0, "age": 5.0,
			"cpu_user": 0.5, "cpu_system": 0.5, "children": children}
	}
	worker := circus(n, []any{circus(n+1, []any{})})
	// r63 memstats: a worker under memory_max, its cgroup's charge.
	worker["cgroup_memory"], worker["cgroup_memory_peak"], worker["memory_max"] = 4096.0, 8192.0, 65536.0
	fake.Stats.PublishTopic("stat.web."+pid, "web", events.KindStat, worker)
	st := c.next("stats", func(m map[string]any) bool {
		procs, _ := m["procs"].(map[string]any)
		return m["type"] == "stats" && procs["web"] != nil
	})
	info := st["procs"].(map[string]any)["web"].(map[string]any)[pid].(map[string]any)
	for _, m := range []map[string]any{info, info["children"].([]any)[0].(map[string]any)} {
		for k := range m {
			if k != "children" && !slices.Contains(pageFields, k) {
				t.Errorf("the stats message carries %q, which the page does not use: %v", k, m)
			}
		}
		if m["cpu"] != 1.0 || m["mem_info1"] != "1K" || m["create_time"] != 1.0 {
			t.Errorf("the stats message lost a field the page uses: %v", m)
		}
	}
	if info["cgroup_memory"] != 4096.0 || info["cgroup_memory_peak"] != 8192.0 || info["memory_max"] != 65536.0 {
		t.Errorf("the stats message lost the worker's cgroup memory, which the page shows: %v", info)
	}
}

// onlyPid waits for the console's loaded state and returns the pid of
// watcher name's one process, as the page keys it and as a number.
func (w *wsClient) onlyPid(name string) (string, int) {
	w.t.Helper()
	m := w.next("hello", typeIs("hello"))
	if st, _ := m["state"].(map[string]any); st["loaded"] != true {
		m = w.next("state", func(m map[string]any) bool { return m["type"] == "state" && watcherIn(m, name) != nil })
	}
	var pid string
	for p := range watcherIn(m, name)["procs"].(map[string]any) {
		pid = p
	}
	n, _ := strconv.Atoi(pid)
	return pid, n
}
