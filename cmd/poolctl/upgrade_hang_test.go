package main

import (
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUpgradeOfABinaryThatHangsSaysSo: when the new binary passed the
// pre-flight and then hung in its start, `poolctl upgrade` printed
// nothing for 2 minutes and then said only that poold "did not report
// the upgrade's outcome". It now says, once poold has accepted no connection
// for upgradeHang, that the new binary hangs, that its workers still run
// unmanaged, and what to do.
func TestUpgradeOfABinaryThatHangsSaysSo(t *testing.T) {
	saved := upgradeHang
	upgradeHang = 3 * time.Second
	t.Cleanup(func() { upgradeHang = saved })

	p := startPooldWith(t, pooldConf{})
	exe := filepath.Join(p.dir, "poold")
	copyFile(t, filepath.Join(binaries(t), "poold"), exe)
	p.stop(t)
	p.launch(t, exe, p.cmd.Args[1])
	workers := p.pids(t)

	// Hangs before it loads anything: it keeps poold's pid, its workers
	// and its endpoints' fds, and answers nothing.
	installNewBinary(t, exe, `echo "wrapper: hanging instead of taking over: $*" >&2; exec sleep 600`)
	r := poolctl(t, "--endpoint", p.control, "upgrade")
	pid := strconv.Itoa(p.cmd.Process.Pid)
	if r.code != 3 || !strings.Contains(r.stderr, "the new binary most likely hangs before taking over") ||
		!strings.Contains(r.stderr, "kill -9 "+pid) || !strings.Contains(r.stderr, "start poold again with the old binary") {
		t.Fatalf("upgrade to a binary that hangs in its start took %v: %v\nwant exit 3, the hang and what to do (kill -9 %s); poold's log:\n%s", r.took, r, pid, p.log())
	}
	t.Logf("poolctl said the new binary hangs after %v", r.took)
	if !strings.Contains(p.log(), "wrapper: hanging") {
		t.Fatalf("the wrapper did not run; log:\n%s", p.log())
	}
	for _, w := range workers {
		if err := syscall.Kill(w, 0); err != nil {
			t.Errorf("poolctl says the workers still run, but worker %d: %v", w, err)
		}
	}
}
