package cgroup

import (
	"os"
	"path/filepath"
	"testing"
)

// memory.oom.group = 1 (kubelet's on every container cgroup since
// Kubernetes 1.28, cgroup v2) is named, 0 is not; the limit is read in
// bytes, "max" is none.
func TestOOMGroupAndLimitBytes(t *testing.T) {
	for _, c := range []struct {
		group, max, wantGroup string
		wantLimit             int64
	}{
		{"1\n", "209715200\n", "memory.oom.group", 209715200},
		{"0\n", "max\n", "", 0},
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "memory.oom.group"), []byte(c.group), 0o644)
		os.WriteFile(filepath.Join(dir, "memory.max"), []byte(c.max), 0o644)
		o := &Outer{files: []outerFile{{dir: dir, name: "memory.events", limit: "memory.max"}}}
		want := ""
		if c.wantGroup != "" {
			want = filepath.Join(dir, c.wantGroup)
		}
		if got := o.OOMGroup(); got != want {
			t.Errorf("memory.oom.group %q: OOMGroup %q, want %q", c.group, got, want)
		}
		if got := o.LimitBytes(); got != c.wantLimit {
			t.Errorf("memory.max %q: LimitBytes %d, want %d", c.max, got, c.wantLimit)
		}
	}
	var none *Outer
	if none.OOMGroup() != "" || none.LimitBytes() != 0 {
		t.Errorf("a nil Outer names a group or a limit")
	}
}
