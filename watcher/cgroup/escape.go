package cgroup

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Left says where pid, a worker started in g, now is when it has left g
// (a process running as root may write its pid into any cgroup.procs):
// the lines of /proc/PID/cgroup of the hierarchies whose directory of g
// it is no longer in, such as "0::/" or "4:memory:/". "" while it is in
// g (or in a cgroup it made below g's), and when pid is gone. One read
// of /proc/PID/cgroup; the directories of g are told apart by their
// names, unique to each worker.
func (g *Group) Left(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	want := map[string]bool{}
	for _, d := range append([]string{g.Dir}, g.v1...) {
		want[filepath.Base(d)] = true
	}
	var v2, v1 []string
	inV1 := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		in := false // in g's directory, or one the worker made below it
		for _, name := range strings.Split(parts[2], "/") {
			in = in || want[name]
		}
		switch {
		case parts[1] == "" && parts[0] == "0":
			if !in {
				v2 = append(v2, line)
			}
		case in:
			inV1++
		case limitController(parts[1]):
			v1 = append(v1, line)
		}
	}
	var out []string
	if g.Dir != "" {
		out = append(out, v2...)
	}
	if inV1 < len(g.v1) {
		out = append(out, v1...)
	}
	return strings.Join(out, ", ")
}

// limitController says whether a v1 hierarchy's controller list holds
// one that limits use.
func limitController(list string) bool {
	for _, c := range []string{"memory", "pids", "cpu"} {
		if hasWord(list, c) {
			return true
		}
	}
	return false
}
