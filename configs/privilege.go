package configs

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// What poold may do on this machine without root, asked where a config
// would otherwise pass its checks and then fail at every spawn or at the
// bind: a nice below poold's own, a chroot, a port below the unprivileged
// ones. Package variables, so that tests can play a poold without the
// capability (or with it) whoever runs them.
var (
	// capable reports whether poold has capability bit c in its
	// effective set.
	capable = hasCapability
	// niceFacts is poold's own nice and its RLIMIT_NICE soft limit.
	niceFacts = hostNice
	// portStart is net.ipv4.ip_unprivileged_port_start.
	portStart = UnprivilegedPortStart
)

// Capability bits (linux/capability.h).
const (
	capNetBindService = 10
	capSysChroot      = 18
	capSysNice        = 23
)

// hostNice is poold's own nice and its RLIMIT_NICE (0 when unreadable,
// which lets it go no lower than its own).
func hostNice() (own int, rlimit uint64) {
	if p, err := unix.Getpriority(unix.PRIO_PROCESS, os.Getpid()); err == nil {
		own = 20 - p // the raw syscall's 40..1 for nice -20..19
	}
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NICE, &rl); err == nil {
		rlimit = rl.Cur
	}
	return own, rlimit
}

// niceProblem says why poold could not give a worker nice n, "" when it
// can. Raising a nice is always allowed; lowering it below poold's own
// needs CAP_SYS_NICE, or an RLIMIT_NICE that reaches it (the kernel lets
// a process go down to 20 - RLIMIT_NICE).
func niceProblem(n int) string {
	own, rlimit := niceFacts()
	floor := own
	if byLimit := 20 - int(min(rlimit, 40)); byLimit < floor {
		floor = byLimit
	}
	if n >= floor || capable(capSysNice) {
		return ""
	}
	return fmt.Sprintf("%d is below poold's own nice (%d), which needs CAP_SYS_NICE or an RLIMIT_NICE of %d or more (poold's is %d), and poold has neither; "+
		"use %d or more, or give poold that capability (systemd: AmbientCapabilities=CAP_SYS_NICE) or that limit (systemd: LimitNICE=%d; a shell: ulimit -e %d)",
		n, own, 20-n, rlimit, floor, 20-n, 20-n)
}

// UnprivilegedPortStart is the lowest port a process without
// CAP_NET_BIND_SERVICE may bind (net.ipv4.ip_unprivileged_port_start,
// which binds IPv6 too); 1024, the kernel's default, when it cannot be
// read.
func UnprivilegedPortStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		return 1024
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1024
	}
	return n
}

// PortProblem says why poold could not bind port, "" when it can as far
// as privilege goes: a port below net.ipv4.ip_unprivileged_port_start
// needs CAP_NET_BIND_SERVICE (root has it).
func PortProblem(port int) string {
	start := portStart()
	if port <= 0 || port >= start || capable(capNetBindService) {
		return ""
	}
	return fmt.Sprintf("%d is below %d, the first port a process without CAP_NET_BIND_SERVICE may bind (sysctl net.ipv4.ip_unprivileged_port_start), and poold lacks it; "+
		"choose a port of %d or more, or give poold that capability (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE; setcap cap_net_bind_service+ep on its binary)",
		port, start, start)
}
