package configs

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Process attributes of a watcher's workers, set in the worker before its
// program runs, while it still has poold's privileges (as Runit's chpst and
// systemd's Nice=, OOMScoreAdjust= and RootDirectory= do):
//
//	nice           the worker's niceness, -20 (favoured) .. 19; "" inherits poold's
//	oom_score_adj  -1000 (never OOM-killed) .. 1000 (killed first); "" inherits
//	chroot         an existing directory that becomes the worker's "/": cmd,
//	               working_dir (default "/") and PATH are taken inside it
const (
	MinNice, MaxNice               = -20, 19
	MinOOMScoreAdj, MaxOOMScoreAdj = -1000, 1000
)

// processFields are the keys of process attributes; they join the other
// keys of a [watchers.NAME] section (and options of add and set) below.
var processFields = []field[Watcher]{
	optionalIntField("nice", func(w *Watcher) **int { return &w.Nice }),
	optionalIntField("oom_score_adj", func(w *Watcher) **int { return &w.OOMScoreAdj }),
	stringField("chroot", func(w *Watcher) *string { return &w.Chroot }),
}

func init() { watcherFields = append(watcherFields, processFields...) }

// optionalIntField accepts an integer, or "" (or null) for "not set".
// Its range is checked by validateProcess, for files and options alike.
func optionalIntField[T any](key string, p func(*T) **int) field[T] {
	return field[T]{key: key,
		decode: func(d *decoder, k string, raw any, dst *T) {
			switch x := raw.(type) {
			case nil:
				*p(dst) = nil
				return
			case string:
				if x == "" {
					*p(dst) = nil
					return
				}
				if i, err := strconv.Atoi(x); err == nil {
					*p(dst) = &i
					return
				}
			case envValue:
				if x.text == "" {
					*p(dst) = nil
					return
				}
			}
			if i, ok := d.integer(k, raw); ok {
				n := int(i)
				*p(dst) = &n
			}
		},
		wire: func(src *T) any {
			if v := *p(src); v != nil {
				return *v
			}
			return ""
		},
	}
}

// validateProcess checks nice, oom_score_adj and chroot. k turns a key
// into its full path.
func validateProcess(ps *problems, k func(string) string, w *Watcher) {
	switch v := w.Nice; {
	case v == nil:
	case *v < MinNice || *v > MaxNice:
		ps.add(k("nice"), "must be between %d and %d (the niceness, as nice(1) and systemd's Nice=), got %d", MinNice, MaxNice, *v)
	case niceProblem(*v) != "":
		ps.add(k("nice"), "%s", niceProblem(*v))
	}
	switch v := w.OOMScoreAdj; {
	case v == nil:
	case *v < MinOOMScoreAdj || *v > MaxOOMScoreAdj:
		ps.add(k("oom_score_adj"), "must be between %d and %d, got %d", MinOOMScoreAdj, MaxOOMScoreAdj, *v)
	case *v < ownOOMScoreAdj() && !capable(capSysResource):
		ps.add(k("oom_score_adj"), "%d is below poold's own (%d), which needs CAP_SYS_RESOURCE, and poold lacks it; use %d or more, or give poold that capability",
			*v, ownOOMScoreAdj(), ownOOMScoreAdj())
	}
	if w.Chroot == "" {
		return
	}
	fi, err := os.Stat(w.Chroot)
	switch {
	case !filepath.IsAbs(w.Chroot):
		ps.add(k("chroot"), "%q must be an absolute path to a directory", w.Chroot)
	case err != nil:
		ps.add(k("chroot"), "%s: %v (give an existing directory)", w.Chroot, pathErr(err))
	case !fi.IsDir():
		ps.add(k("chroot"), "%s is not a directory", w.Chroot)
	case !capable(capSysChroot):
		ps.add(k("chroot"), "needs CAP_SYS_CHROOT (chroot(2)), which poold lacks; remove it, or run poold as root or with that capability (systemd: AmbientCapabilities=CAP_SYS_CHROOT)")
	}
}

// HostPath is where path, as the worker sees it, is on poold's side: under
// Chroot when one is set.
func (w Watcher) HostPath(path string) string {
	if w.Chroot == "" {
		return path
	}
	return filepath.Join(w.Chroot, path)
}

// initGroups is the supplementary group list of user u running with
// primary group gid, as initgroups(3) makes it: gid, then every group of
// the group database that lists u as a member. The user's own primary
// group of the password database is not added when gid replaces it (the
// gid key). A user without a name (a bare uid) gets gid alone: never
// poold's groups.
func initGroups(u Account, gid uint32, wait bool) ([]uint32, error) {
	out := []uint32{gid}
	if u.Name == "" {
		return out, nil
	}
	gs, err := accounts.Load().groups(u, wait) // each gid once
	if err != nil {
		return nil, err
	}
	out = slices.Grow(out, len(gs))
	for _, g := range gs {
		if g != gid {
			out = append(out, g)
		}
	}
	return out, nil
}

// capSysResource is CAP_SYS_RESOURCE's bit (linux/capability.h).
const capSysResource = 24

// hasCapability reports whether poold has capability bit c in its
// effective set (/proc/self/status CapEff); true when that cannot be read.
func hasCapability(c uint) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err != nil || mask&(1<<c) != 0
		}
	}
	return true
}

// ownOOMScoreAdj is poold's own oom_score_adj (0 when unreadable).
func ownOOMScoreAdj() int {
	b, _ := os.ReadFile("/proc/self/oom_score_adj")
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
