// Package cgroup contains poold's workers in cgroup v2: one cgroup per
// worker, created before the fork and entered by the clone itself
// (CLONE_INTO_CGROUP), so nothing the worker starts, however it forks or
// calls setsid, can leave it. A stop that ends with cgroup.kill leaves
// nothing, and "empty" is the kernel's word (cgroup.events: populated 0),
// not the exit of the direct child.
//
// Layout: poold makes one directory below its own cgroup (the tree, named
// after its config file) and, in it, one cgroup per worker. The tree is
// locked with flock while poold runs: a new poold on the same config finds
// the lock free when the previous one died, and kills and removes what
// that one left before it starts a worker of its own.
//
// Where cgroup v2 is not mounted or poold may not write to it, Open fails
// and poold keeps to process groups, saying so.
//
// Concurrency: a Tree and its Groups may be used from any goroutine; a
// Group's WaitEmpty runs on its caller's goroutine, parked in the
// netpoller on an inotify fd.
package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNoV2 is returned when cgroup v2 is not mounted, or poold's cgroup is
// not below its mount.
var ErrNoV2 = errors.New("cgroup v2 is not mounted")

// Own finds poold's own cgroup v2 directory and where cgroup2 is mounted:
// /sys/fs/cgroup on a pure v2 host, /sys/fs/cgroup/unified on a hybrid
// one, wherever /proc/self/mountinfo says elsewhere. A poold in SelfLeaf
// is in the cgroup above it.
func Own() (dir, mnt string, err error) {
	cg, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", "", fmt.Errorf("%w: read /proc/self/cgroup: %v", ErrNoV2, err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("%w: read /proc/self/mountinfo: %v", ErrNoV2, err)
	}
	dir, mnt, ok := V2Dir(string(cg), string(mi))
	if !ok {
		return "", "", fmt.Errorf("%w (no cgroup2 line in /proc/self/mountinfo that holds poold's cgroup)", ErrNoV2)
	}
	return aboveLeaf(dir, mnt), mnt, nil
}

// aboveLeaf is the cgroup above dir when dir is a SelfLeaf (where an
// earlier poold, or this one before an upgrade's exec, moved itself), else
// dir.
func aboveLeaf(dir, mnt string) string {
	if filepath.Base(dir) == SelfLeaf && filepath.Clean(dir) != filepath.Clean(mnt) {
		return filepath.Dir(dir)
	}
	return dir
}

// V2Dir finds, from the text of /proc/PID/cgroup and /proc/self/mountinfo,
// the cgroup v2 directory of that process and the mount point of cgroup2.
func V2Dir(cgroup, mountinfo string) (dir, mnt string, ok bool) {
	path, found := "", false
	for _, line := range strings.Split(cgroup, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path, found = p, true
		}
	}
	if !found {
		return "", "", false
	}
	for _, m := range Mounts(mountinfo) {
		if m.FSType == "cgroup2" {
			return Under(m.Point, m.Root, path)
		}
	}
	return "", "", false
}

// Mount is one line of /proc/self/mountinfo, as far as cgroups care.
type Mount struct {
	Root, Point string // the directory of the filesystem mounted, and where
	FSType      string
	Super       string // super options: the controllers of a v1 hierarchy
}

// Mounts parses the text of /proc/self/mountinfo.
func Mounts(mountinfo string) []Mount {
	var out []Mount
	for _, line := range strings.Split(mountinfo, "\n") {
		pre, post, found := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !found || len(f) < 5 || len(g) < 3 {
			continue
		}
		out = append(out, Mount{Root: Unescape(f[3]), Point: Unescape(f[4]), FSType: g[0], Super: g[2]})
	}
	return out
}

// Under maps cgroup path p to a directory of the hierarchy whose root
// directory, mounted at point, is the cgroup root.
func Under(point, root, p string) (dir, mnt string, ok bool) {
	rel, found := strings.CutPrefix(p, root)
	if !found || (rel != "" && root != "/" && rel[0] != '/') {
		return "", "", false // the cgroup is not below this mount
	}
	return filepath.Join(point, rel), filepath.Clean(point), true
}

// Unescape undoes mountinfo's octal escapes (\040 for a space).
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
