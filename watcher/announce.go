package watcher

import (
	"time"

	"github.com/poold/poold/events"
)

// announcements are Circus's start and reload events held back until what
// they announce is done, so that they come in circusd's order: spawn ...
// start; spawn ... kill ... reload.
type announcements struct {
	start  bool      // publish start once the first workers are spawned
	reload bool      // then reload (a reload of a stopped watcher)
	began  time.Time // when that reload was asked for
}

// announceStarted publishes a held start (and reload) once no spawn of the
// start is waiting for another turn of the loop or for warmup_delay.
func (w *Watcher) announceStarted() {
	a := w.announce
	if !a.start || w.more != 0 || w.warmup != 0 || (w.status != Active && w.status != Starting) {
		return
	}
	w.announce = announcements{}
	w.host.Publish(w.spec.Name, events.KindStart, nil)
	if a.reload {
		w.publishReload(a.began)
	}
}

// publishReload publishes Circus's reload event, with poold's "began".
func (w *Watcher) publishReload(began time.Time) {
	w.host.Publish(w.spec.Name, events.KindReload, map[string]any{"began": float64(began.UnixNano()) / 1e9})
}
