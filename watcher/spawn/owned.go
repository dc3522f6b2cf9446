package spawn

import "os/exec"

// StartOwned starts cmd, a child its caller reaps itself (cmd.Wait) even
// though it runs in a process group of its own (an upgrade's pre-flight):
// registered with the workers under the same lock as its fork, it is
// never taken for an orphan, so the orphan reaper cannot reap it first.
// Call release once cmd.Wait has returned.
func StartOwned(cmd *exec.Cmd) (release func(), err error) {
	reaper.mu.Lock()
	defer reaper.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return func() {}, err
	}
	pid := cmd.Process.Pid
	reaper.workers[pid] = true
	return func() {
		reaper.mu.Lock()
		delete(reaper.workers, pid)
		reaper.mu.Unlock()
	}, nil
}
