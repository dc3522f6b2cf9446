package worker

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/workertest"
)

// takeInChild runs the test binary as a worker passed socks named
// fdnames (LISTEN_FDNAMES), taking the sockets names in turn, and returns
// its line (listenChild). With pid set, LISTEN_PID is it rather than the
// worker's own.
func takeInChild(t *testing.T, fdnames, names, pid string, socks ...*os.File) string {
	t.Helper()
	script := `LISTEN_PID=$$ exec "$0"`
	if pid != "" {
		script = `LISTEN_PID=` + pid + ` exec "$0"`
	}
	cmd := exec.Command("/bin/sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=listen", "WORKER_TEST_NAMES="+names,
		"LISTEN_FDS="+strconv.Itoa(len(socks)), "LISTEN_FDNAMES="+fdnames)
	cmd.ExtraFiles = socks
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("worker taking %q: %v", names, err)
	}
	return strings.TrimSpace(string(out))
}

// TestListenerTakesTheNamedSocket: a worker passed two sockets takes
// each by the name poold passes (LISTEN_FDNAMES, the [sockets.NAME]),
// in any order, "" being the first, and leaves no LISTEN_* to a child.
func TestListenerTakesTheNamedSocket(t *testing.T) {
	la, a := workertest.ListenerFile(t)
	lb, b := workertest.ListenerFile(t)
	got := takeInChild(t, "web:admin", "admin,web", "", a, b)
	want := "admin=" + lb.Addr().String() + " web=" + la.Addr().String() + " LISTEN_FDS= inheritable="
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := takeInChild(t, "web:admin", "", "", a, b), "="+la.Addr().String()+" "; !strings.Contains(got, want) {
		t.Errorf(`Listener(""): got %q, want fd 3's %q`, got, want)
	}
}

// TestListenerLeavesNoSocketToChildren: a passed socket the worker does
// not take is not inherited by what the worker runs (a child holding it
// keeps its port's queue alive after the worker ends): every passed fd is
// made close-on-exec at the first Listener, as go-systemd's activation
// did (r64 review2).
func TestListenerLeavesNoSocketToChildren(t *testing.T) {
	_, a := workertest.ListenerFile(t)
	_, b := workertest.ListenerFile(t)
	if got := takeInChild(t, "web:admin", "web", "", a, b); !strings.HasSuffix(got, " inheritable=") {
		t.Errorf("after taking web only: %q, want no fd left inheritable (admin is fd 4)", got)
	}
}

// TestListenerSaysWhatIsWrong: each mistake a worker or its config can
// make gets an error that names it and what to do.
func TestListenerSaysWhatIsWrong(t *testing.T) {
	_, a := workertest.ListenerFile(t)
	for _, tc := range []struct {
		name, names, pid, want string
	}{
		{"unknown name", "api", "", `error: worker: no socket named "api" was passed (LISTEN_FDNAMES: web); add it to the watcher's sockets list`},
		{"taken twice", "web,web", "", `error: worker: socket "web" (fd 3) was taken already; take each socket once and share the listener`},
		{"another pid's", "web", "1", `error: worker: the sockets in LISTEN_FDS were passed to pid "1", not to this process`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := takeInChild(t, "web", tc.names, tc.pid, a); !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want %q in it", got, tc.want)
			}
		})
	}
}

// TestListenerWithoutPassedSockets: a worker started by hand gets
// ErrNotPassed, on which it may listen on an address of its own.
func TestListenerWithoutPassedSockets(t *testing.T) {
	t.Setenv("LISTEN_FDS", "")
	_, err := Listener("web")
	if !errors.Is(err, ErrNotPassed) {
		t.Fatalf("Listener with no LISTEN_FDS: %v, want ErrNotPassed", err)
	}
	if !strings.Contains(err.Error(), "start it under poold") {
		t.Errorf("error %q does not say what to do", err)
	}
}
