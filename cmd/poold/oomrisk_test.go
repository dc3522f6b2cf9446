package main

import (
	"strings"
	"syscall"
	"testing"
)

const plainConfig = `
[arbiter]
ENDPOINTS

[watchers.plain]
cmd = "sleep 1000"
numprocesses = 2
`

// A Burstable pod's poold starts with kubelet's oom_score_adj by QoS
// class (985: a 512Mi request on a 32Gi node). It gave its workers 1000,
// 15 points above it, and logged that the OOM killer takes a worker
// before poold; the r57b review's pod lost poold, and with it every
// worker, to the first OOM kill. Where the kernel lets it, poold now
// lowers its own value to 500, so that workers are a whole 500 above
// it, and says so; --check, which only asks the kernel, does not warn.
// (Here 985 is set without CAP_SYS_RESOURCE, so the kernel lets poold go
// back below it; kubelet's runtime sets it with that capability, which
// containers lack, and poold then warns: TestOOMRisks.)
func TestBurstablePooldLowersItsOwnOOMScore(t *testing.T) {
	dir := memoryCgroup(t, 512<<20)
	wrap := []string{"/bin/sh", "-c", `echo 985 > /proc/self/oom_score_adj && echo $$ > "$0/cgroup.procs" && exec "$@"`, dir}
	p := startPooldUnder(t, wrap, t.TempDir(), plainConfig, nil)
	c := dialControl(t, p)
	for _, pid := range waitPids(t, c, "plain", 2) {
		if got := oomScoreAdj(t, pid); got != 1000 {
			t.Errorf("plain worker %d: oom_score_adj %d, want 1000", pid, got)
		}
	}
	if got := oomScoreAdj(t, p.cmd.Process.Pid); got != 500 {
		t.Errorf("poold's oom_score_adj is %d, want 500 (lowered from 985)", got)
	}
	p.waitLog(`workers start with an oom_score_adj 500 above poold's.*poold_lowered_from=985`, 1)
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d after SIGTERM, want 0", code)
	}

	chk := startPooldUnder(t, wrap, t.TempDir(), plainConfig, nil, "--check")
	if code := chk.wait(); code != 0 {
		t.Fatalf("--check exited %d: %s", code, chk.log.String())
	}
	if out := chk.log.String(); strings.Contains(out, "warning: under a memory limit") || !strings.Contains(out, "ok (") {
		t.Errorf("--check warns where poold can lower its own value, or fails: %s", out)
	}
}
