package main

import (
	"strings"
	"syscall"
	"testing"
)

// A config rewritten in place on a full disk is cut at a page boundary;
// when the cut still parses (numprocesses = 12 read as 1), a SIGHUP
// applied it with an INFO line only (r67 diskfull F3). A reloaded file
// that does not end in a newline now gets a WARN; it is still applied
// (valid TOML is not refused).
func TestReloadWarnsOfAFileNotEndingInANewline(t *testing.T) {
	t.Parallel()
	p := startPoold(t, sleepyConfig)
	p.waitLog(`worker \d+ up`, 2)
	cut := strings.Replace(strings.TrimRight(sleepyConfig, "\n"), "graceful_timeout = \"5s\"", "graceful_timeout = \"6s\"", 1)
	writeConfig(t, p.dir, cut)
	p.signal(syscall.SIGHUP)
	p.waitLog(`config reload: the file does not end in a newline.*config=`+p.cfg, 1)
	p.waitLog(`config reloaded`, 1)
	whole := strings.Replace(sleepyConfig, "graceful_timeout = \"5s\"", "graceful_timeout = \"7s\"", 1)
	writeConfig(t, p.dir, whole)
	p.signal(syscall.SIGHUP)
	p.waitLog(`config reloaded`, 2)
	if n := strings.Count(p.log.String(), "does not end in a newline"); n != 1 {
		t.Errorf("%d warnings about a missing final newline, want 1 (the whole file has one)", n)
	}
	p.signal(syscall.SIGTERM)
	if code := p.wait(); code != 0 {
		t.Fatalf("poold exited %d", code)
	}
}
