package watcher

// tally counts the live workers by kind as they change, so that a
// reconcile step (one per event, about 300 of them while 10,000 workers
// start) and Settled need not walk every worker. Every change to what
// kindOf reads goes through the methods below: a worker's arrival and
// end, its State, Recycle and failure, and the spec generation.
type tally struct {
	kinds    [kindGone + 1]int // live workers of each kind
	readyCur int               // of kindCur, those ready
}

// count adds (d = 1) or removes (d = -1) p as it is now.
func (w *Watcher) count(p *Process, d int) {
	k := w.kindOf(p)
	w.tally.kinds[k] += d
	if k == kindCur && p.State == ProcReady {
		w.tally.readyCur += d
	}
}

// recount counts every worker again, after the spec generation changed
// (which turns every worker old, or current again, at once).
func (w *Watcher) recount() {
	w.tally = tally{}
	for _, p := range w.procs {
		w.count(p, 1)
	}
}

// setState moves p to state s.
func (w *Watcher) setState(p *Process, s string) {
	w.count(p, -1)
	p.State = s
	w.count(p, 1)
}

// markRecycled makes p old: the rolling path replaces it.
func (w *Watcher) markRecycled(p *Process) {
	w.count(p, -1)
	p.Recycle = true
	w.count(p, 1)
}

// setFailure records why p is being stopped for failing its readiness
// (code ReasonReadiness), every health check it had (ReasonUnhealthy) or
// a resource limit soon after its start (ReasonLimit):
// it keeps its seat until it exits (kindHeld), and its exit is an early
// death of its slot.
func (w *Watcher) setFailure(p *Process, code, why string) {
	w.count(p, -1)
	p.failure, p.failCode = why, code
	w.count(p, 1)
}

// allReadyCur reports whether every live worker is ready and of the spec
// in force.
func (w *Watcher) allReadyCur() bool { return w.tally.readyCur == len(w.procs) }
