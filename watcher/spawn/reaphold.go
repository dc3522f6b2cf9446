package spawn

import (
	"os"
	"time"
)

// Reaps held. An upgrade's hand-over writes the state of every worker and
// then execs; a worker this image reaped in between would be in the state
// as alive, its exit status lost with the image (the new one finds no such
// child, and can only say its exit is unknown). HoldReaps stops the
// spawner's reaping until ReleaseReaps: a worker that ends meanwhile stays
// a zombie, which the new image reaps with its exit status, or this one
// once the hand-over failed. SIGCHLD, the exit watch's hints and the
// backstop walk wait, unread, for the release.

type reapHold struct {
	hold  bool
	reply chan struct{}
}

// HoldReaps stops the spawner's reaping; it returns once no reap is under
// way and none will start until ReleaseReaps.
func (s *Spawner) HoldReaps() { s.setReapHold(true) }

// ReleaseReaps lets the spawner reap again, what ended meanwhile first.
func (s *Spawner) ReleaseReaps() { s.setReapHold(false) }

func (s *Spawner) setReapHold(hold bool) {
	r := reapHold{hold: hold, reply: make(chan struct{})}
	select {
	case s.reapHolds <- r:
		<-r.reply
	case <-s.done:
	}
}

// sigchldUnlessHeld is the SIGCHLD channel, nil while reaps are held.
func (s *Spawner) sigchldUnlessHeld(c chan os.Signal) <-chan os.Signal {
	if s.reapsHeld {
		return nil
	}
	return c
}

// hintsUnlessHeld is the exit watch's hints, nil while reaps are held.
func (s *Spawner) hintsUnlessHeld() <-chan struct{} {
	if s.reapsHeld {
		return nil
	}
	return s.xwReady()
}

// backstopUnlessHeld is the backstop walk's timer, nil while reaps are
// held (a timer that fired meanwhile is read after the release).
func (s *Spawner) backstopUnlessHeld() <-chan time.Time {
	if s.reapsHeld {
		return nil
	}
	return s.backstopDue()
}
