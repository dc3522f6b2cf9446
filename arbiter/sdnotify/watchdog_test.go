package sdnotify

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Across an in-place upgrade systemd must get a WATCHDOG=1 within
// WatchdogSec: the old image sends one with its RELOADING=1, and the new
// image (same pid) its first one as soon as its loop answers, not half a
// WatchdogSec after it started. Before, the gap could reach WatchdogSec
// plus the exec, and systemd killed poold with every worker.
func TestWatchdogAcrossAnUpgrade(t *testing.T) {
	path, c := listen(t)
	New(Options{Socket: path, Watchdog: time.Hour}).Reloading()
	if m := read(t, c); !slices.Contains(strings.Split(m, "\n"), "WATCHDOG=1") {
		t.Fatalf("the old image's last message %q, want WATCHDOG=1 with RELOADING=1", m)
	}
	New(Options{Socket: path}).Reloading()
	if m := read(t, c); strings.Contains(m, "WATCHDOG") {
		t.Fatalf("RELOADING=1 without a watchdog: %q, want no WATCHDOG=1", m)
	}
	stop := run(t, New(Options{Socket: path, Watchdog: time.Hour}), &fake{s: snap(1, 1), pingOK: true})
	until(t, c, "WATCHDOG=1")
	stop()
}
