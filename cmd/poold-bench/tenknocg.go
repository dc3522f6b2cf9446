package main

import (
	"fmt"
	"os/exec"
	"time"
)

// -tenk-no-cgroups: the tenk section's poold where it cannot make
// cgroups, as in a Docker container whose cgroup filesystem is mounted
// read-only (the default). poold runs in a mount namespace of its own in
// which every cgroup mount is remounted read-only, so its start says
// "containment: process groups only ... read-only file system" and it
// contains each worker by process group (arbiter/leftgroup.go). The
// floor is unchanged.

// noCgroupsScript remounts each cgroup filesystem read-only in the
// (private) mount namespace it runs in, then execs its arguments.
const noCgroupsScript = `set -e
for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts); do
	mount -o remount,bind,ro "$m" "$m"
done
exec "$@"`

// launchPooldNoCgroups starts poold on conf as launchPoold does, in a
// mount namespace of its own with the cgroup filesystems read-only.
func (b *bench) launchPooldNoCgroups(dir, conf string, port, metricsPort int) (*instance, time.Time, error) {
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("-tenk-no-cgroups needs unshare(1) (util-linux): %w", err)
	}
	wrap := []string{unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", noCgroupsScript, "sh"}
	return b.launchPooldWith(dir, conf, port, metricsPort, wrap)
}
