package launch

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/configs"
)

// checkRlimits refuses limits a worker could never be given, which would
// make every spawn of the watcher fail: above poold's own hard limit
// without root (raising a hard limit needs CAP_SYS_RESOURCE), and for
// nofile above the kernel's fs.nr_open, which binds root too.
func checkRlimits(ps *problems, spec configs.Watcher) {
	names := make([]string, 0, len(spec.Rlimits))
	for name := range spec.Rlimits {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := rlimitOK(name, spec.Rlimits[name]); err != nil {
			ps.add("rlimits."+name, err)
		}
	}
}

func rlimitOK(name string, lim uint64) error {
	res, ok := configs.RlimitResource(name)
	if !ok {
		return nil // the config check names it
	}
	if res == unix.RLIMIT_NOFILE {
		if max, err := nrOpen(); err == nil && lim > max {
			return fmt.Errorf("%s is over the kernel's most open files per process (fs.nr_open %d); lower it, or raise fs.nr_open with sysctl", fmtLimit(lim), max)
		}
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(res, &cur); err != nil || lim <= cur.Max || os.Geteuid() == 0 {
		return nil
	}
	return fmt.Errorf("%s is over poold's own hard limit %s, which only root may raise; lower it, or start poold with a higher one (LimitNOFILE= and the like under systemd, ulimit -H in a shell)", fmtLimit(lim), fmtLimit(cur.Max))
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
