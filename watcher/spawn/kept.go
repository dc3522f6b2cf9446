package spawn

import "os/exec"

// Commands poold reaps itself. An os/exec command that poold starts in a
// process group of its own (an exec health probe, a command hook) is, once
// it has ended and until its Wait reaps it, a zombie child of poold
// outside poold's process group: to the orphan reaper, which cannot tell
// it from a worker's orphan, one to reap. It would take the command's
// exit, and its Wait would fail with "no child processes" (a hook that
// succeeded reported as failed, a healthy worker as unhealthy). So such a
// command is started through StartKept, which registers its pid under
// the lock the orphan reaper checks each pid under, as a worker's is.

// kept are the pids of the commands started through StartKept and not
// reaped yet; guarded by reaper.mu.
var kept = map[int]bool{}

// StartKept starts c, which its caller reaps with c.Wait, so that no
// orphan reaper takes its exit; call done once c.Wait has returned.
func StartKept(c *exec.Cmd) (done func(), err error) {
	reaper.mu.Lock() // the child may end before Start returns
	err = c.Start()
	var pid int
	if err == nil {
		pid = c.Process.Pid
		kept[pid] = true
	}
	reaper.mu.Unlock()
	if err != nil {
		return func() {}, err
	}
	return func() {
		reaper.mu.Lock()
		delete(kept, pid)
		reaper.mu.Unlock()
	}, nil
}
