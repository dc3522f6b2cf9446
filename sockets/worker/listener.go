package worker

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ErrNotPassed is returned by Listener when no socket was passed to the
// process at all (LISTEN_FDS is unset): it was started by hand, not by
// poold (or systemd). A worker may then listen on an address of its own.
var ErrNotPassed = errors.New("no socket was passed to this process (LISTEN_FDS is unset)")

// passed is what the process inherited, read from its environment at the
// first successful call of Listener (which then unsets LISTEN_FDS,
// LISTEN_FDNAMES and LISTEN_PID, lest a child of the worker take them for
// its own, and makes every passed fd close-on-exec).
var passed struct {
	mu    sync.Mutex
	read  bool
	names []string     // names[i] is fd 3+i's, from LISTEN_FDNAMES
	taken map[int]bool // fds made into a listener already
}

// Listener returns the listening socket poold passed under name (the
// [sockets.NAME] of the watcher's sockets list, as LISTEN_FDNAMES names
// it), or the first one, fd 3, when name is "". Its fd is closed: the
// listener holds its own. Each socket can be taken once. Without any
// passed socket the error is ErrNotPassed.
func Listener(name string) (net.Listener, error) {
	passed.mu.Lock()
	defer passed.mu.Unlock()
	if !passed.read {
		names, err := readEnv()
		if err != nil {
			return nil, err
		}
		passed.names, passed.taken, passed.read = names, map[int]bool{}, true
		for _, v := range []string{"LISTEN_FDS", "LISTEN_FDNAMES", "LISTEN_PID"} {
			os.Unsetenv(v)
		}
		// Nor the fds: a socket the worker does not take would pass to
		// every program it runs, which would keep it listening, and its
		// queue filling, after the worker ended.
		for i := range names {
			syscall.CloseOnExec(3 + i)
		}
	}
	i := 0
	if name != "" {
		i = index(passed.names, name)
		if i < 0 {
			return nil, fmt.Errorf("worker: no socket named %q was passed (LISTEN_FDNAMES: %s); add it to the watcher's sockets list",
				name, strings.Join(passed.names, ", "))
		}
	}
	fd := 3 + i
	if passed.taken[fd] {
		return nil, fmt.Errorf("worker: socket %q (fd %d) was taken already; take each socket once and share the listener", passed.names[i], fd)
	}
	passed.taken[fd] = true
	f := os.NewFile(uintptr(fd), passed.names[i])
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("worker: socket %q (fd %d) is not a listening socket: %w", passed.names[i], fd, err)
	}
	return l, nil
}

// readEnv checks what systemd's socket activation protocol, which poold
// speaks, says was passed, and returns a name for each passed fd (its
// LISTEN_FDNAMES one, or "fd N" when none was given).
func readEnv() ([]string, error) {
	fds := os.Getenv("LISTEN_FDS")
	if fds == "" {
		return nil, fmt.Errorf("worker: %w: start it under poold with the socket in its watcher's sockets list", ErrNotPassed)
	}
	n, err := strconv.Atoi(fds)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("worker: LISTEN_FDS=%q, want a count of passed sockets (1 or more)", fds)
	}
	// LISTEN_PID is the pid poold started. A wrapper (a shell script) that
	// runs the server as its child rather than exec-ing it hands the
	// variables on with fds that are not the server's to take.
	if pid := os.Getenv("LISTEN_PID"); pid != strconv.Itoa(os.Getpid()) {
		return nil, fmt.Errorf("worker: the sockets in LISTEN_FDS were passed to pid %q, not to this process (pid %d); a wrapper script must exec the server", pid, os.Getpid())
	}
	names := make([]string, n)
	given := strings.Split(os.Getenv("LISTEN_FDNAMES"), ":")
	for i := range names {
		names[i] = "fd " + strconv.Itoa(3+i)
		if i < len(given) && given[i] != "" {
			names[i] = given[i]
		}
	}
	return names, nil
}

func index(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}
