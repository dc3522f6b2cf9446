package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RlimitProblem says why no worker could be given limit lim of the
// resource name ("nofile") on this machine, or "" when one can: nofile
// above the kernel's fs.nr_open (which binds root too), or any limit
// above poold's own hard limit when poold is not root (raising a hard
// limit needs CAP_SYS_RESOURCE).
func RlimitProblem(name string, lim uint64) string {
	res, ok := RlimitResource(name)
	if !ok {
		return "" // the decoder names it
	}
	if res == unix.RLIMIT_NOFILE {
		if max, err := nrOpen(); err == nil && lim > max {
			return fmt.Sprintf("%s is over the kernel's most open files per process (fs.nr_open %d); lower it, or raise fs.nr_open with sysctl", fmtLimit(lim), max)
		}
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(res, &cur); err != nil || lim <= cur.Max || capable(capSysResource) {
		return ""
	}
	return fmt.Sprintf("%s is over poold's own hard limit %s, which only CAP_SYS_RESOURCE may raise (root has it, but not a container's root by default); lower it, or start poold with a higher one (LimitNOFILE= and the like under systemd, ulimit -H in a shell, docker --ulimit)", fmtLimit(lim), fmtLimit(cur.Max))
}

func nrOpen() (uint64, error) {
	b, err := os.ReadFile("/proc/sys/fs/nr_open")
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}

func fmtLimit(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}

// checkRlimits refuses the limits of w no worker could be given, which
// would make every spawn fail (the watcher flapping, and on a set its
// healthy workers replaced by ones that never start). add and set run
// it; for a file watcher/launch runs RlimitProblem as a machine check.
func checkRlimits(ps *problems, k func(string) string, w *Watcher) {
	names := make([]string, 0, len(w.Rlimits))
	for name := range w.Rlimits {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if msg := RlimitProblem(name, w.Rlimits[name]); msg != "" {
			ps.add(k("rlimits."+name), "%s", msg)
		}
	}
}

// checkNUL refuses a NUL byte in any string option of w: no program
// argument, environment entry or path can carry one, so exec would fail
// for every worker with a bare "invalid argument".
func checkNUL(ps *problems, k func(string) string, w *Watcher) {
	for _, f := range watcherFields {
		nulIn(ps, k(f.key), f.wire(w))
	}
}

func nulIn(ps *problems, key string, v any) {
	const msg = "contains a NUL byte (\\x00), which no command line, environment entry or path can carry; remove it"
	switch x := v.(type) {
	case string:
		if strings.IndexByte(x, 0) >= 0 {
			ps.add(key, msg)
		}
	case []string:
		for i, s := range x {
			nulIn(ps, fmt.Sprintf("%s[%d]", key, i), s)
		}
	case map[string]string:
		for _, name := range sortedKeys(x) {
			nulIn(ps, joinKey(key, name), x[name])
		}
	case map[string]any:
		for _, name := range sortedKeys(x) {
			nulIn(ps, joinKey(key, name), x[name])
		}
	}
}

// SocketProblems checks what can be known of the unix sockets of a
// config (file names it in errors) before poold binds them, so that
// --check finds what would stop poold at start: a path whose directory
// is missing, is not a directory or takes no files (/proc, /sys), or a
// path taken by a file that is not a socket (poold replaces a stale
// socket file only), and a port below the unprivileged ones when the
// user running --check lacks CAP_NET_BIND_SERVICE (PortProblem), as for
// nice and oom_score_adj, and a unix socket's directory poold's user
// may not write to (--check runs as the user poold will), unless a
// socket listens at the path already: systemd's, which poold will be
// passed (socket activation) rather than bind.
func SocketProblems(file string, sockets []Socket) error {
	ps := &problems{}
	for _, s := range sockets {
		if s.Family != "unix" {
			if msg := PortProblem(s.Port); msg != "" {
				ps.add("sockets."+s.Name+".port", "%s", msg)
			}
			continue
		}
		if msg := socketPathProblem(s.Path); msg != "" {
			ps.add("sockets."+s.Name+".path", "%s", msg)
		}
	}
	return ps.err(file)
}

func socketPathProblem(path string) string {
	if strings.HasPrefix(path, "@") {
		return "" // abstract: no file, no directory
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	var fs unix.Statfs_t
	switch {
	case err != nil:
		return fmt.Sprintf("%s: directory %s does not exist; create it first, or choose another path", path, dir)
	case !fi.IsDir():
		return fmt.Sprintf("%s: %s is not a directory; choose a path in a directory", path, dir)
	case unix.Statfs(dir, &fs) == nil && (fs.Type == unix.PROC_SUPER_MAGIC || fs.Type == unix.SYSFS_MAGIC):
		return fmt.Sprintf("%s: directory %s takes no new files (a virtual file system); choose a path on an ordinary file system, such as under /run or /tmp", path, dir)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return fmt.Sprintf("%s exists and is not a socket (%s), which poold does not remove; remove it or choose another path", path, describeMode(fi.Mode()))
	}
	if listening(path) {
		// A socket unit's (systemd keeps it listening while poold is
		// stopped, in a directory of its own, often root's), which poold
		// takes instead of binding; or poold's own, which it created.
		return ""
	}
	// As bind will: with this process's effective ids (root passes).
	if err := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return fmt.Sprintf("%s: poold's user (uid %d) may not create files in directory %s (%v); fix the directory's permissions or owner, or choose another path", path, os.Geteuid(), dir, err)
	}
	return ""
}

// listening reports whether a unix socket listens at path, from
// /proc/net/unix: connecting to it instead would start the service a
// socket unit activates.
func listening(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	// "Num RefCount Protocol Flags Type St Inode Path": the path, which
	// may hold spaces, is what follows the seventh field.
	for _, line := range strings.Split(string(b), "\n") {
		rest := line
		var flags string
		for i := 0; i < 7 && rest != ""; i++ {
			rest = strings.TrimLeft(rest, " ")
			f, r, _ := strings.Cut(rest, " ")
			if i == 3 {
				flags = f
			}
			rest = r
		}
		v, err := strconv.ParseUint(flags, 16, 32)
		if err == nil && v&unixAcceptCon != 0 && (rest == abs || rest == path) {
			return true
		}
	}
	return false
}

// unixAcceptCon is __SO_ACCEPTCON in /proc/net/unix's flags: a listening
// socket.
const unixAcceptCon = 1 << 16

// describeMode names the kind of file of mode: "a regular file".
func describeMode(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file"
}
