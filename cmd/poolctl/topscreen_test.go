package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/poold/poold/watcher/proctest"
)

func TestClipFrame(t *testing.T) {
	frame := "title line\n\nweb  active\n  PID  WID\n  11   1\n  12   2\n"
	cases := []struct {
		rows, cols int
		want       string
	}{
		{0, 0, "title line\n\nweb  active\n  PID  WID\n  11   1\n  12   2"},
		{6, 0, "title line\n\nweb  active\n  PID  WID\n  11   1\n  12   2"},
		{4, 5, "title\n\nweb  \n... 3"},
		{4, 80, "title line\n\nweb  active\n... 3 more lines: enlarge the terminal"},
		{1, 3, "tit"},
	}
	for _, tc := range cases {
		if got := string(clipFrame([]byte(frame), tc.rows, tc.cols)); got != tc.want {
			t.Errorf("clipFrame(%dx%d) = %q, want %q", tc.rows, tc.cols, got, tc.want)
		}
	}
	if got := string(clipLine([]byte("  └ 4711 wörker"), 8)); got != "  └ 4711" {
		t.Errorf("clipLine cut a character: %q", got)
	}
}

// TestTopClipsFramesToTheTerminal: in a terminal smaller than a frame,
// top's lines wrapped and the frame scrolled its title away, tearing
// each redraw (r58 cli trial). Each frame now fits the terminal.
func TestTopClipsFramesToTheTerminal(t *testing.T) {
	const rows, cols = 5, 30
	p := startPoold(t)
	bin := filepath.Join(binaries(t), "poolctl")
	master, slave := openPTY(t)
	if err := unix.IoctlSetWinsize(int(slave.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--endpoint", p.control, "top", "--interval", "100ms")
	cmd.Env = append(cmd.Environ(), "TERM=xterm-256color")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		master.Close()
		<-readDone
	}()
	const clear = "\x1b[H\x1b[2J"
	// Three clears: the frame after the first is whole, and was drawn
	// after poold's two workers were up.
	if !proctest.Poll(15*time.Second, func() bool { return strings.Count(out.String(), clear) >= 3 }) {
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		t.Fatalf("no three frames of top within 15s; output %q", out.String())
	}
	master.Write([]byte("q"))
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		t.Fatal("top did not quit on q")
	}
	frame := strings.ReplaceAll(strings.Split(out.String(), clear)[2], "\r", "")
	lines := strings.Split(frame, "\n")
	if len(lines) > rows || !strings.HasPrefix(frame, "poold top") || !strings.Contains(frame, "more lines") {
		t.Errorf("frame of %d lines in a %d-row terminal, want the title first and a count of the lines left out:\n%s", len(lines), rows, frame)
	}
	for _, l := range lines {
		if utf8.RuneCountInString(l) > cols {
			t.Errorf("line of %d characters in a %d-column terminal: %q", utf8.RuneCountInString(l), cols, l)
		}
	}
}

// TestTopJSON: --json top printed the text table, which a script piping
// it to jq could not read (r58 cli trial, M2). Each frame is now one
// JSON object on its line.
func TestTopJSON(t *testing.T) {
	p := startPoold(t)
	var frames []map[string]any
	proctest.Eventually(t, "web's two workers in --json top's infos", func() bool {
		r := poolctl(t, "--endpoint", p.control, "--json", "top", "-n", "2", "--interval", "50ms")
		if r.code != 0 {
			t.Fatalf("--json top: %s", r)
		}
		frames = frames[:0]
		for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
			var f map[string]any
			if err := json.Unmarshal([]byte(line), &f); err != nil {
				t.Fatalf("a frame is not one JSON object on its line: %v\n%s", err, r)
			}
			frames = append(frames, f)
		}
		if len(frames) != 2 {
			t.Fatalf("want 2 frames, got %d:\n%s", len(frames), r)
		}
		infos, _ := frames[1]["infos"].(map[string]any)
		web, _ := infos["web"].(map[string]any)
		statuses, _ := frames[1]["statuses"].(map[string]any)
		return len(web) == 2 && statuses["web"] == "active"
	})
	statuses, _ := frames[1]["statuses"].(map[string]any)
	if frames[1]["status"] != "ok" || statuses["web"] != "active" || frames[1]["time"] == nil {
		t.Errorf("frame: %v", frames[1])
	}

	f := startFake(t, func(req map[string]any) map[string]any {
		return map[string]any{"status": "error", "reason": "boom", "errno": 1.0}
	})
	r := poolctl(t, "--endpoint", f.endpoint, "--json", "top", "-n", "1")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got["status"] != "error" || got["error"] != failReply || got["reason"] != "boom" {
		t.Errorf("a failed sample: want {status: error, error: reply, reason: boom}, got %s", r)
	}
}
