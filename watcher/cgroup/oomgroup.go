package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OOMGroup names the memory.oom.group file of poold's cgroup (v2) when it
// holds 1, "" otherwise. Kubelet (Kubernetes 1.28 and later, on cgroup
// v2, unless singleProcessOOMKill) sets it on every container's cgroup:
// an OOM kill in that cgroup then kills every process in it, poold and
// all its workers, whatever their oom_score_adj. A worker with a
// memory_max of its own is below it: its cgroup's OOM takes only what is
// in that cgroup.
func (o *Outer) OOMGroup() string {
	if o == nil {
		return ""
	}
	for _, f := range o.files {
		if f.name != "memory.events" {
			continue
		}
		file := filepath.Join(f.dir, "memory.oom.group")
		if b, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(b)) == "1" {
			return file
		}
	}
	return ""
}

// LimitBytes is the memory limit of the first of poold's memory cgroups
// that has one (see Limited), 0 for none.
func (o *Outer) LimitBytes() int64 {
	if o == nil {
		return 0
	}
	for _, f := range o.files {
		b, err := os.ReadFile(filepath.Join(f.dir, f.limit))
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n < 1<<62 {
			return n
		}
	}
	return 0
}
