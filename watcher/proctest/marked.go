package proctest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Marked lists those of pids that run with env (KEY=VALUE) in their
// environment: neither ended (a zombie shows none) nor reaped and their
// pid taken by another program. A test that marks the processes it
// starts so can tell which of them outlived what should have ended them.
func Marked(pids []int, env string) []int {
	var out []int
	for _, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(b, []byte{0}) {
			if string(kv) == env {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// heldLine begins the line by which a holding helper names its processes.
const heldLine = "held "

// Held prints the line by which a helper test run by Survivors names the
// processes it holds; the helper then blocks until it is ended.
func Held(pids []int) {
	fmt.Println(heldLine + strings.Trim(fmt.Sprint(pids), "[]"))
}

// helperBound bounds the wait for a Survivors helper to name what it
// holds. It is no pass/fail timing: a helper ends itself sooner by its own
// bounds (Eventually's hang, its -test.timeout) and its output then tells
// why; this catches only a helper that hangs past those.
const helperBound = 5 * time.Minute

// Survivors checks that what a test binary started dies with it. It runs
// this test binary again, as a child that runs only the test helper with
// key=MARK in its environment (MARK unique to this call; the processes
// the helper starts inherit it), waits for the helper's Held line, then
// ends the child by SIGQUIT, as go test ends a test binary that overran
// its -timeout. It returns the pids the helper held and those of them
// that, bound later, still run with the mark; it kills those. It fails
// the test, with the helper's output, if the helper ended (or hung past
// helperBound) without naming any.
func Survivors(t testing.TB, helper, key string, bound time.Duration) (held, left []int) {
	t.Helper()
	mark := key + "=" + fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	c := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.timeout=4m")
	c.Env = append(os.Environ(), mark)
	// Should this binary die first, the child dies too.
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.Stderr = c.Stdout
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	var said lockedLines
	lines := make(chan []int, 1)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			said.add(sc.Text())
			if rest, ok := strings.CutPrefix(sc.Text(), heldLine); ok {
				lines <- heldPids(rest)
			}
		}
	}()
	select {
	case held = <-lines:
	case <-time.After(helperBound):
	}
	_ = c.Process.Signal(syscall.SIGQUIT)
	_ = c.Wait() // closes out, which ends the reader
	for range lines {
	}
	if len(held) == 0 {
		t.Fatalf("%s named no processes (it ended, or hung %v); its output:\n%s", helper, helperBound, said.String())
	}
	alive := func() []int { return Marked(held, mark) }
	if !Poll(bound, func() bool { return len(alive()) == 0 }) {
		left = alive()
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return held, left
}

func heldPids(rest string) []int {
	var pids []int
	for _, f := range strings.Fields(rest) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	return pids
}

// lockedLines keeps the last 200 lines a helper printed, for its failure.
type lockedLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *lockedLines) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 200 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *lockedLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}
