package main

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPrintsGreeting: the example configs set GREETING in env, but the
// worker never showed it, so a newcomer could not see env at work. Its
// first line now carries it.
func TestPrintsGreeting(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "EXAMPLEWORKER_TEST_RUN=1", "EXAMPLEWORKER_TEST_ARGS=--listen 127.0.0.1:0 --wid 3", "GREETING=Hello from web")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, done := make(chan string, 1), make(chan struct{})
	t.Cleanup(func() { <-done }) // runs last: the reader ends as the worker's stdout closes
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	go func() {
		defer close(done)
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "exampleworker pid ") || !strings.HasSuffix(s, ": Hello from web\n") || !strings.Contains(s, " wid 3 serving on 127.0.0.1:") {
			t.Errorf("first line %q, want it to end with the greeting", s)
		}
	case <-time.After(30 * time.Second): // a hang, not a timing
		t.Fatal("no line from the worker in 30s")
	}
}
