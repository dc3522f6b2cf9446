package procinfo

import (
	"encoding/json"
	"errors"
	"os"
	"os/user"
	"strconv"
	"testing"
	"time"

	"github.com/poold/poold/watcher/proctest"
)

func TestRSSOfProcessTouching64MB(t *testing.T) {
	h := startHelper(t, "mem64")
	s := New()
	in, err := s.Info(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	if in.RSS < 64<<20 {
		t.Errorf("rss = %d (%s), want >= 64 MiB", in.RSS, in.MemInfo1)
	}
	if in.VMS < in.RSS {
		t.Errorf("vms = %d < rss = %d", in.VMS, in.RSS)
	}
	if in.Mem <= 0 {
		t.Errorf("mem = %v%%, want > 0", in.Mem)
	}
	if n, err := strconv.ParseFloat(in.MemInfo1[:len(in.MemInfo1)-1], 64); err != nil || in.MemInfo1[len(in.MemInfo1)-1] != 'M' || n < 64 {
		t.Errorf("mem_info1 = %q, want >= 64M", in.MemInfo1)
	}
	if in.PID != h.pid || in.PPID != os.Getpid() {
		t.Errorf("pid, ppid = %d, %d; want %d, %d", in.PID, in.PPID, h.pid, os.Getpid())
	}
	if in.Username == "" {
		t.Error("username is empty")
	}
	if u, err := user.Current(); err == nil && in.Username != u.Username {
		t.Errorf("username = %q, want %q", in.Username, u.Username)
	}
	if in.Age < 0 || in.Age > 60 {
		t.Errorf("age = %v s for a fresh process", in.Age)
	}
	if d := time.Since(time.Unix(0, int64(in.CreateTime*1e9))); d < -2*time.Second || d > time.Minute {
		t.Errorf("create_time = %v is %v away from now", in.CreateTime, d)
	}
	if len(in.Argv) == 0 || in.Argv[0] != os.Args[0] {
		t.Errorf("argv = %q, want it to start with %q", in.Argv, os.Args[0])
	}

	// Once idle, its cpu over an interval drops to about 0, whatever its
	// lifetime average (touching 64 MB) was.
	var cpu float64
	if !proctest.Poll(20*time.Second, func() bool {
		in, err := s.Info(h.pid)
		if err != nil {
			t.Fatal(err)
		}
		cpu = float64(in.CPU)
		return cpu < 5
	}) {
		t.Fatalf("idle helper cpu near 0: still %.1f after 20s", cpu)
	}
}

func TestCPUOfBusyProcess(t *testing.T) {
	h := startHelper(t, "burn")
	s := New()
	if _, err := s.Info(h.pid); err != nil { // baseline
		t.Fatal(err)
	}
	first := time.Now()
	var cpu float64
	if !proctest.Poll(30*time.Second, func() bool {
		in, err := s.Info(h.pid)
		if err != nil {
			t.Fatal(err)
		}
		cpu = float64(in.CPU)
		// Only a figure computed over an interval counts, not the
		// lifetime average of the first sample. The burner's share is
		// the machine's to give: on 2 cores under a load of 60 it gets
		// about 3 %, so any clearly non-zero figure proves the reading.
		return time.Since(first) >= MinCPUInterval && cpu > 1
	}) {
		t.Fatalf("busy helper cpu > 1%%: still %.1f after 30s", cpu)
	}
}

func TestChildAndGrandchildInTree(t *testing.T) {
	h := startHelper(t, "tree")
	if len(h.pids) != 2 {
		t.Fatalf("tree helper reported pids %v, want child and grandchild", h.pids)
	}
	child, grandchild := h.pids[0], h.pids[1]
	s := New()
	in, err := s.Info(h.pid)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Children) != 1 || in.Children[0].PID != child {
		t.Fatalf("children of %d = %v, want [%d]", h.pid, pidsOf(in.Children), child)
	}
	c := in.Children[0]
	if len(c.Children) != 1 || c.Children[0].PID != grandchild {
		t.Fatalf("children of %d = %v, want [%d]", child, pidsOf(c.Children), grandchild)
	}
	if g := c.Children[0]; g.Children == nil || len(g.Children) != 0 || g.PPID != child || g.RSS == 0 {
		t.Errorf("grandchild info = %+v", g)
	}

	// A batch that asks for the child too reports it on its own as well.
	m, err := s.Sample([]int{h.pid, child, 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 2 || m[child].PID != child || len(m[child].Children) != 1 {
		t.Errorf("batch = %v", m)
	}
}

func pidsOf(infos []Info) []int {
	var pids []int
	for _, in := range infos {
		pids = append(pids, in.PID)
	}
	return pids
}

func TestDeadProcessIsGone(t *testing.T) {
	h := startHelper(t, "block")
	s := New()
	if _, err := s.Info(h.pid); err != nil {
		t.Fatal(err)
	}
	h.stop(t)

	_, err := s.Info(h.pid)
	if !errors.Is(err, ErrNoProcess) {
		t.Fatalf("Info(dead pid %d) error = %v, want ErrNoProcess", h.pid, err)
	}
	m, err := s.Sample([]int{h.pid, os.Getpid()})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m[h.pid]; ok || len(m) != 1 {
		t.Errorf("Sample with dead pid = %v, want only %d", m, os.Getpid())
	}
	s.mu.Lock()
	_, remembered := s.procs[h.pid]
	s.mu.Unlock()
	if remembered {
		t.Errorf("dead pid %d still remembered", h.pid)
	}
	if _, err := s.Info(-1); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Info(-1) error = %v, want ErrNoProcess", err)
	}
}

func TestSelf(t *testing.T) {
	s := New()
	in, err := s.Self()
	if err != nil {
		t.Fatal(err)
	}
	if in.PID != os.Getpid() || in.RSS == 0 || in.Username == "" || in.Children == nil || in.Ctime == "" {
		t.Errorf("Self() = %+v", in)
	}
}

// TestJSONShape checks the wire names and JSON types of the PROTOCOL.md
// process info object.
func TestJSONShape(t *testing.T) {
	s := New()
	in, err := s.Info(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	in.Children = []Info{{Children: []Info{}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"pid": "number", "wid": "number", "cmdline": "string", "username": "string",
		"nice": "number", "cpu": "number", "mem": "number", "mem_info1": "string",
		"mem_info2": "string", "ctime": "string", "create_time": "number",
		"age": "number", "started": "number", "children": "array",
		"rss": "number", "vms": "number",
	}
	for k, typ := range want {
		v, ok := m[k]
		if !ok {
			t.Errorf("key %q missing from %s", k, b)
			continue
		}
		var got string
		switch v.(type) {
		case float64:
			got = "number"
		case string:
			got = "string"
		case []any:
			got = "array"
		default:
			got = "other"
		}
		if got != typ {
			t.Errorf("%q is %s (%v), want %s", k, got, v, typ)
		}
	}
	kids := m["children"].([]any)
	if c, ok := kids[0].(map[string]any)["children"].([]any); !ok || len(c) != 0 {
		t.Errorf("a child's children = %v, want []", kids[0].(map[string]any)["children"])
	}
}

func TestSamplerConcurrentUse(t *testing.T) {
	h := startHelper(t, "block")
	s := New()
	done := make(chan error, 4)
	for range 4 {
		go func() {
			for range 20 {
				if _, err := s.Sample([]int{h.pid, os.Getpid()}); err != nil {
					done <- err
					return
				}
				if _, err := s.Self(); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func TestNewDoesNoIO(t *testing.T) {
	s := NewAt("/nonexistent-proc")
	if _, err := s.Sample([]int{1}); err == nil {
		t.Fatal("Sample on a missing proc mount: no error")
	}
}
