package spawn

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Spare threads. The pids reserve (pids.go) keeps poold's own forks off
// the last pids, but workers fill a limit too: their forks, and the
// threads of any Go, Java or gthread server. Once the limit is full, the
// next OS thread the Go runtime needs for poold (a goroutine blocked in
// a write, a burst of /proc reads) cannot be created, and the runtime
// aborts poold ("fatal error: newosproc"), every worker dying with it.
// So, as soon as poold sees a limit, and while it has room, it makes the
// runtime create spareThreads threads that then stay idle in its pool
// (Go never ends an idle thread): later demand takes those instead of
// creating new ones. They cost a pid each and a few KiB of memory.

// spareThreads is how many idle threads poold keeps once it is under a
// limit: more than poold's goroutines are ever blocked in system calls
// at once beyond its usual ones.
const spareThreads = 8

// sparesMade is set once the spare threads exist (for the process).
var sparesMade atomic.Bool

// makeSpares has the runtime create n threads and leave them idle: n
// goroutines each lock themselves to a thread of their own and wait
// until all are locked; unlocked, their threads go back to the pool.
func makeSpares(n int) {
	var locked, released, done sync.WaitGroup
	locked.Add(n)
	released.Add(1)
	done.Add(n)
	for range n {
		go func() {
			defer done.Done()
			runtime.LockOSThread()
			locked.Done()
			released.Wait()
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	released.Done()
	done.Wait()
}

// keepSpares makes the spare threads once, when room pids are still free
// under the tightest limit seen: never from the reserve, since the
// runtime aborts when it cannot create a thread.
func keepSpares(room int) {
	if sparesMade.Load() {
		return
	}
	n := min(spareThreads, room-pidsReserve)
	if n <= 0 {
		return
	}
	sparesMade.Store(true)
	makeSpares(n)
}
