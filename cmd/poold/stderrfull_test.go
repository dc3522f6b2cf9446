package main

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// poold's stderr redirected to a file on a full disk: every log line is
// dropped, and dstats said log_stderr=ok, so an operator who looked
// there was told the log was fine. It now says failing, and ok again once
// the disk has room and a line is written.
func TestStderrOnAFullDiskIsReportedFailing(t *testing.T) {
	dir := smallTmpfs(t, 64<<10)
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 4096)
	for err == nil {
		_, err = filler.Write(block)
	}
	filler.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
	}
	stderr, err := os.OpenFile(filepath.Join(dir, "poold.err"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	p := startPooldStderr(t, sleepyConfig, stderr)
	c := dialControl(t, p)
	waitPids(t, c, "sleepy", 2)
	var info map[string]any
	if !proctest.Poll(hang, func() bool {
		info = dstatsInfo(t, c)
		return info["log_stderr"] == "failing"
	}) {
		t.Fatalf("dstats with stderr on a full disk: log_stderr=%v log_dropped=%v, want failing", info["log_stderr"], info["log_dropped"])
	}
	if err := os.Remove(filepath.Join(dir, "filler")); err != nil {
		t.Fatal(err)
	}
	callWithin(t, c, "incr", map[string]any{"name": "sleepy"}) // lines to write: the spawn, the new worker's hello
	if !proctest.Poll(hang, func() bool {
		info = dstatsInfo(t, c)
		return info["log_stderr"] == "ok"
	}) {
		t.Fatalf("dstats once the disk had room: log_stderr=%v, want ok", info["log_stderr"])
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited with %d", code)
	}
}
