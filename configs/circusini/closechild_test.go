package circusini

import (
	"testing"

	"github.com/poold/poold/configs"
)

// TestCloseChildOutputIsDiscarded: circusd gives a watcher with
// close_child_stdout (or _stderr) = true /dev/null there, so its output
// is nowhere, even with a stream file configured. The translator warned
// that poold "cannot discard it" and the output filled poold's log,
// although stdout_log = "none" discards it.
func TestCloseChildOutputIsDiscarded(t *testing.T) {
	dir := t.TempDir()
	cfg, _ := strictINI(t, "[watcher:quiet]\ncmd = /bin/sleep 100\nclose_child_stdout = true\nclose_child_stderr = True\n"+
		"stdout_stream.class = FileStream\nstdout_stream.filename = "+dir+"/out.log\n\n"+
		"[watcher:noerr]\ncmd = /bin/sleep 100\nclose_child_stderr = true\n\n"+
		"[watcher:plain]\ncmd = /bin/sleep 100\nclose_child_stdout = false\n")
	want := map[string][2]string{
		"quiet": {configs.LogToNone, configs.LogToNone},
		"noerr": {configs.LogToStderr, configs.LogToNone},
		"plain": {configs.LogToStderr, configs.LogToStderr},
	}
	for _, w := range cfg.Watchers {
		if got := [2]string{w.Logs.Stdout, w.Logs.Stderr}; got != want[w.Name] {
			t.Errorf("watcher %s: stdout_log, stderr_log = %q, want %q", w.Name, got, want[w.Name])
		}
	}
}
