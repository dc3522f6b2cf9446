package handover

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrWorkersExited is Wait's error when the worker is a master whose
// processes that held the socket (its workers) have all exited before
// any of them waited for connections, and it lives on without reaping
// them: uvicorn --workers N whose app cannot be imported keeps its
// supervisor asleep with no worker at all. Such a worker would never
// serve.
var ErrWorkersExited = errors.New("its worker processes exited before any waited for connections")

// ErrWorkerLost is Wait's error when a process of the worker's tree that
// held a socket exited before any process of it waited for connections,
// and none has waited since, by the end of Wait's ctx: gunicorn's master
// whose worker failed to boot (an app that raises at import) stops its
// other workers, waits for them up to its graceful timeout and exits,
// which can take longer than the soft bound under which a worker not
// seen waiting counts as ready. Such a worker is not counted ready at the
// soft bound: Wait goes on watching it, so its exit is seen.
var ErrWorkerLost = errors.New("a worker process of it exited before any waited for connections, and none waited since")

// holdersGrace is how long a master must stay without a process holding
// the socket, once it had some, before Wait gives up on it: a master
// that replaces a worker (gunicorn's arbiter) has a new one within
// milliseconds, and a forked worker holds the socket from its fork.
const holdersGrace = time.Second

// holders follows the descendants of a worker that held one of its
// sockets while Wait looks at it.
type holders struct {
	seen    map[int]bool   // every descendant seen holding a socket
	workers map[int]holder // those seen running their parent's program
	live    []int          // those of the last look
	since   time.Time      // when the tree was first seen without one, after seen
}

// holder is a descendant seen holding a socket while it ran the program
// its parent ran (exe).
type holder struct {
	pid, parent int
	exe         string
}

// note records the workers of one look.
func (h *holders) note(workers []holder) {
	for _, w := range workers {
		if h.workers == nil {
			h.workers = map[int]holder{}
		}
		h.workers[w.pid] = w
	}
}

// lost lists the workers seen before that the last look did not find
// (they exited, or closed the socket) and whose parent lives on running
// the program it ran then (exe tells what a pid runs): a master's
// worker that failed to boot. A helper that a shell ran before it
// exec'd the server (`sh -c 'sh setup.sh; exec app'`: a sh child of sh,
// reaped) was its parent's program too, but the parent has exec'd
// another since, and a child a shell forked, seen before it exec'd its
// program, has a parent that has exited since (the setup's shell):
// neither is a master.
func (h *holders) lost(exe func(pid int) string) []string {
	var out []string
	for _, p := range slices.Sorted(maps.Keys(h.workers)) {
		w := h.workers[p]
		if slices.Contains(h.live, p) {
			continue
		}
		if exe(w.parent) == w.exe {
			out = append(out, strconv.Itoa(p))
		}
	}
	return out
}

// check records the live holders of one look at now. Once every holder
// seen has been gone for holdersGrace it returns ErrWorkersExited
// (wrapped, naming them) if some of them are dead and unreaped
// (unreaped says so of a pid): the master does not even wait for its
// workers, let alone replace them. Holders that were all reaped say
// nothing: a shell that ran a helper before it exec'd the server (or
// pyenv's shim) reaps the helper, which held the inherited socket too.
func (h *holders) check(live []int, now time.Time, unreaped func(pid int) bool) error {
	h.live = live
	if len(live) > 0 {
		if h.seen == nil {
			h.seen = map[int]bool{}
		}
		for _, p := range live {
			h.seen[p] = true
		}
		h.since = time.Time{}
		return nil
	}
	if len(h.seen) == 0 {
		return nil // a single process, or a master whose workers have not started yet
	}
	if h.since.IsZero() {
		h.since = now
	}
	if now.Sub(h.since) < holdersGrace {
		return nil
	}
	var dead []string
	for _, p := range slices.Sorted(maps.Keys(h.seen)) {
		if unreaped(p) {
			dead = append(dead, strconv.Itoa(p))
		}
	}
	if len(dead) == 0 {
		return nil
	}
	return fmt.Errorf("%w (pids %s, dead and not reaped by it)", ErrWorkersExited, strings.Join(dead, ", "))
}
