package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/poold/poold/watcher/proctest"
	"github.com/poold/poold/watcher/workertest"
)

// childEnv makes the test binary play the example worker.
const childEnv = "EXAMPLEWORKER_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	if os.Getenv("EXAMPLEWORKER_TEST_RUN") == "1" { // greeting_test.go
		os.Args = append([]string{"exampleworker"}, strings.Fields(os.Getenv("EXAMPLEWORKER_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestDrainLosesNoRequest replaces the workers sharing one socket, one at
// a time, under a load that never retries, as poold's rolling reload
// does: every replaced worker must drain without failing a request, for
// clients that keep their connections alive (wrk's way) and for clients
// that send "Connection: close" (nginx's default towards upstreams). A
// drain by http.Server.Shutdown alone fails the first and, through
// golang/go#75591, the second.
func TestDrainLosesNoRequest(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(addr string) *workertest.KeepAlive
	}{
		{"keep-alive", func(addr string) *workertest.KeepAlive { return workertest.StartKeepAlive(addr, 16, false) }},
		{"connection close", func(addr string) *workertest.KeepAlive { return workertest.StartConnectionClose(addr, 16) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, sock := workertest.ListenerFile(t)
			addr := l.Addr().String()
			workers := []*exec.Cmd{startWorker(t, sock, 1), startWorker(t, sock, 2)}
			k := tc.start(addr)
			stopped := false
			defer func() {
				if !stopped {
					k.Stop()
				}
			}()
			answered(t, k, 200)
			for i := 3; i <= 8; i++ {
				next := startWorker(t, sock, i)
				old := workers[0]
				workers = append(workers[1:], next)
				if err := old.Process.Signal(syscall.SIGTERM); err != nil {
					t.Fatal(err)
				}
				if err := old.Wait(); err != nil {
					t.Errorf("worker %d's drain: %v", old.Process.Pid, err)
				}
				answered(t, k, 200)
			}
			r := k.Stop()
			stopped = true
			t.Logf("%s load through 6 replaced workers: %v", tc.name, r)
			// A request the client itself held back for the drain's
			// window (its goroutine stalled on a loaded machine) met a
			// connection the draining worker closed as unused or idle, by design
			// (KeepAliveResult.Late). Every other request is answered.
			if n := r.ErrorCount() - r.Late; n > 0 {
				t.Errorf("%d requests failed: %v", n, r)
			}
			if r.ErrorCount() > 0 {
				for _, e := range r.ErrorLog {
					t.Log(e)
				}
			}
		})
	}
}

// startWorker starts the example worker with sock as its passed socket
// and returns once it serves.
func startWorker(t *testing.T, sock *os.File, wid int) *exec.Cmd {
	t.Helper()
	return workertest.StartActivated(t, []string{childEnv + "=1", fmt.Sprintf("POOLD_WID=%d", wid)}, " serving on ", sock)
}

// answered waits until the load has had n more answers.
func answered(t *testing.T, k *workertest.KeepAlive, n int) {
	t.Helper()
	want := k.Snapshot().Requests + n
	proctest.Eventually(t, "more answers", func() bool { return k.Snapshot().Requests >= want })
}
