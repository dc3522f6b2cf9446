package arbiter

import (
	"strings"
	"time"

	"github.com/poold/poold/events"
	"github.com/poold/poold/sockets"
	"github.com/poold/poold/watcher"
)

// A socket whose accept queue stays non-empty while its workers run is
// one nobody accepts on: workers that listen on a port of their own, or
// take another socket at fd 3 (use_sockets hands them out by name), or
// are all busy or hung. Clients then hang while status says active.
//
// The loop reads every socket's queue at its reconcile tick (checkDelay;
// a getsockopt or a sock_diag round trip each: nothing at idle). A
// non-empty one opens an episode, read every stuckLook from then on; a
// look at 0 ends it. An episode counts only while the socket's watchers
// are settled (every worker ready, none starting, no rolling reload, no
// flapping) and no elastic pool holding it can still grow: a start or a
// scale-up is expected to leave a queue for a while. Counted for
// stuckAfter, it is a WARN and an arbiter.queue_stuck event, once: the
// next one only after the queue drained to 0.
const stuckLook = time.Second

// stuckAfter is a var only for the tests, which shorten the spell they
// would otherwise wait out; the product never sets it.
var stuckAfter = 10 * time.Second

// queueEpisode is one socket's non-empty spell.
type queueEpisode struct {
	since  time.Time // first counted look (zero: not counting now)
	warned bool
}

// queueLooks is the loop's state of the looks; owned by the loop.
type queueLooks struct {
	eps   map[string]*queueEpisode // by socket name
	armed bool                     // a stuckLook timer is on its way
}

// lookQueues reads every socket's accept queue and warns of one that
// has stayed non-empty for stuckAfter; call it on the loop.
func (a *Arbiter) lookQueues(now time.Time) {
	ql := &a.queues
	if a.socks == nil || a.stopping {
		ql.eps = nil
		return
	}
	if ql.eps == nil {
		ql.eps = map[string]*queueEpisode{}
	}
	var holders map[string][]*watcher.Watcher
	seen := map[string]bool{}
	again := false
	for _, l := range a.socks.List() {
		seen[l.Name] = true
		n, limit, err := queueOf(l.FD())
		ep := ql.eps[l.Name]
		if err != nil || n == 0 {
			if ep != nil && ep.warned {
				a.log.Info("socket's accept queue drained: its connections are accepted again", "socket", l.Name, "address", l.Addr())
			}
			delete(ql.eps, l.Name)
			continue
		}
		if ep == nil {
			ep = &queueEpisode{}
			ql.eps[l.Name] = ep
		}
		if ep.warned {
			continue
		}
		if holders == nil {
			holders = a.socketHolders()
		}
		ws := holders[l.Name]
		if !judged(ws) {
			// Not counted (a stopped or starting watcher, none at all):
			// the 5 s tick looks again, no faster look is armed for it
			// (r64 review2: a queue no one was to take kept a 1 s timer
			// running for as long as it stayed).
			ep.since = time.Time{}
			continue
		}
		again = true
		switch {
		case ep.since.IsZero():
			ep.since = now
		case now.Sub(ep.since) >= stuckAfter:
			ep.warned = true
			a.warnStuck(l, n, limit, ws, now.Sub(ep.since))
		}
	}
	for name := range ql.eps {
		if !seen[name] {
			delete(ql.eps, name)
		}
	}
	if again && !ql.armed {
		ql.armed = true
		time.AfterFunc(stuckLook, func() {
			a.post(funcMsg{func() {
				a.queues.armed = false
				a.lookQueues(time.Now())
			}})
		})
	}
}

// socketHolders maps each socket name to the watchers, by name, whose
// workers inherit it and run now.
func (a *Arbiter) socketHolders() map[string][]*watcher.Watcher {
	out := map[string][]*watcher.Watcher{}
	for _, w := range a.sorted(nil) {
		if w.Running() == 0 {
			continue
		}
		for _, name := range w.Spec().SocketNames(a.cfg.Sockets) {
			out[name] = append(out[name], w)
		}
	}
	return out
}

// judged reports whether a queue on the sockets of ws means nobody
// accepts: some worker is ready, and no watcher is starting, reloading,
// flapping or an elastic pool that can still grow.
func judged(ws []*watcher.Watcher) bool {
	if len(ws) == 0 {
		return false
	}
	ready := false
	for _, w := range ws {
		sz := w.Size()
		if !w.Settled() || w.Rolling() || (w.Elastic() && sz.Current < sz.Max) {
			return false
		}
		ready = ready || sz.Ready > 0
	}
	return ready
}

func (a *Arbiter) warnStuck(l *sockets.Listener, n, limit int, ws []*watcher.Watcher, waited time.Duration) {
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.Name()
	}
	a.log.Warn("connections wait on a socket and no worker accepts them: its accept queue has stayed non-empty while its workers run; "+
		"likely its workers do not accept on it (they listen on a port of their own, or take another socket at fd 3, as use_sockets hands them out sorted by name), "+
		"or every worker is busy or hung; on a site busy beyond its workers this is real news too: add workers (poolctl incr)",
		"socket", l.Name, "address", l.Addr(), "queue", n, "queue_limit", limit,
		"for", waited.Round(time.Second).String(), "watchers", strings.Join(names, ","))
	a.bus.Publish("", events.KindQueueStuck, map[string]any{
		"socket": l.Name, "address": l.Addr(), "queue": n, "queue_limit": limit,
		"watchers": names, "waited": waited.Seconds(),
	})
}
