package spawn

// The queue of starts (and adoptions) for the spawner's thread.

// Begin is Start in two halves: it queues spec for the spawner's thread
// and returns, and Wait returns what Start would. Meanwhile the caller
// may prepare its next starts, which then overlap this fork: with up to
// queueDepth starts queued, neither side parks for the other on every
// start (a locked thread's hand-off, some 10-40 us each). Starts are
// served in the order they were begun. Whatever spec refers to (its
// files, its cgroup) must stay open until Wait returns.
func (s *Spawner) Begin(spec ProcSpec) *Pending {
	return s.send(request{spec: spec})
}

// queueDepth is how many starts may wait for the spawner's thread
// before Begin blocks: more than a watcher keeps in flight
// (watcher.spawnAhead, 8) plus the one it begins before finishing the
// oldest, so that the loop never parks in Begin.
const queueDepth = 16

// Pending is a start or adoption queued for the spawner's thread.
type Pending struct {
	reply chan result
	done  <-chan struct{} // closed once the spawner has stopped
	err   error           // the spawner had stopped
}

// Wait returns the started process, or why it could not start.
func (p *Pending) Wait() (*Proc, error) {
	if p.err != nil {
		return nil, p.err
	}
	var res result
	select {
	case res = <-p.reply:
	case <-p.done:
		// The spawner stopped: it replied before, or never took the
		// request up.
		select {
		case res = <-p.reply:
		default:
			return nil, ErrSpawnerStopped
		}
	}
	if res.err != nil && res.proc != nil {
		// Forked, then given up (letGo): the stub exits at once.
		_, _ = res.proc.Wait()
		return nil, res.err
	}
	if res.status != nil {
		if err := res.status.wait(res.proc); err != nil {
			return nil, err
		}
	}
	return res.proc, res.err
}

// ask has r served on the spawner's goroutine and returns its result.
func (s *Spawner) ask(r request) (*Proc, error) {
	return s.send(r).Wait()
}

// send queues r for the spawner's goroutine.
func (s *Spawner) send(r request) *Pending {
	select {
	case <-s.done: // the queue may have room, but nothing serves it
		return &Pending{err: ErrSpawnerStopped}
	default:
	}
	r.reply = make(chan result, 1)
	select {
	case s.reqs <- r:
		return &Pending{reply: r.reply, done: s.done}
	case <-s.done:
		return &Pending{err: ErrSpawnerStopped}
	}
}
