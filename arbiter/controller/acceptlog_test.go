package controller_test

import (
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/watcher/proctest"
)

// A poold whose fds its workers had used up (a worker log per worker,
// RLIMIT_NOFILE 256, incr past it) left new control clients waiting
// until their timeout (54 of 60 pyzmq clients without a reply in 5 s)
// and said nothing of it. The endpoint now says once that it cannot
// accept, what ran out and what to do, and once that it accepts again.
func TestAcceptOutOfFdsLoggedOnce(t *testing.T) {
	log := &lockedBuffer{}
	s := serveAt(t, ipcEndpoint(t), newEcho().handle, nil, log, hclog.Info)
	held := useUpFds(t)
	// One fd for the client: the endpoint has none left to accept it.
	held[len(held)-1].Close()
	held = held[:len(held)-1]
	p := rawPeer(t, s, "", 0)
	proctest.Eventually(t, "the endpoint to say it cannot accept", func() bool {
		return strings.Contains(log.String(), "control endpoint cannot accept connections: poold's open-file limit (RLIMIT_NOFILE) is used up")
	})
	for _, f := range held {
		f.Close()
	}
	if err := p.Handshake("DEALER", ""); err != nil {
		t.Fatalf("handshake once fds were free: %v", err)
	}
	mustStatus(t, dial(t, s.ep), "status")
	proctest.Eventually(t, "the endpoint to say it accepts again", func() bool {
		return strings.Contains(log.String(), "control endpoint accepting connections again")
	})
	out := log.String()
	if n := strings.Count(out, "cannot accept connections"); n != 1 {
		t.Errorf("%d lines say the endpoint cannot accept, want 1:\n%s", n, out)
	}
	for _, want := range []string{"endpoint=" + s.ep, "nofile=", "LimitNOFILE="} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q:\n%s", want, out)
		}
	}
}

// useUpFds lowers this process's open-file limit to just above the fds it
// has and opens files until none is left; the limit is restored when the
// test ends, and the caller closes what it returns.
func useUpFds(t *testing.T) []*os.File {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := old
	low.Cur = uint64(len(fds) + 16)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
	var held []*os.File
	t.Cleanup(func() {
		for _, f := range held {
			f.Close()
		}
	})
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) {
				t.Fatalf("open: %v", err)
			}
			return held
		}
		held = append(held, f)
	}
}
