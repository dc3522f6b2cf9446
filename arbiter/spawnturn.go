package arbiter

import "github.com/poold/poold/watcher"

// A spawn blocks the loop for its fork (the spawner thread takes one
// start at a time, a few milliseconds each). A watcher starts at most
// spawnBatch workers in one turn of the loop and asks for another turn
// (a TimerMore), but a restart of 100 watchers of 20 workers started all
// 2,000 in one turn: 100 batches in a row, and every command, status
// included, waited 5 s. So the loop's turn has a budget shared by every
// watcher, and the watchers waiting for another turn take them one
// message at a time, behind whatever the loop received meanwhile.

// turnSpawns is how many workers one turn of the loop may start, across
// watchers: two watchers' batches.
const turnSpawns = 64

// SpawnTurn counts a spawn against the loop's turn: false once the turn
// has started turnSpawns workers.
func (h host) SpawnTurn() bool {
	a := h.a
	if a.turnSpawns >= turnSpawns {
		return false
	}
	a.turnSpawns++
	return true
}

// queueMore takes a watcher's TimerMore: it joins the queue of watchers
// waiting for a turn, and one moreMsg at a time in the inbox serves it.
func (a *Arbiter) queueMore(t watcher.Timer) {
	a.moreQ = append(a.moreQ, t)
	if !a.morePosted {
		a.postMore()
	}
}

// postMore puts a moreMsg at the end of the inbox, from a goroutine: the
// loop must not block on its own inbox.
func (a *Arbiter) postMore() {
	a.morePosted = true
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		a.post(moreMsg{})
	}()
}

// moreMsg gives the watchers waiting for a turn theirs, in order, until
// the turn's budget is spent; the rest wait for the next moreMsg, after
// the messages that came in meanwhile.
type moreMsg struct{}

func (a *Arbiter) serveMore() {
	a.morePosted = false
	for len(a.moreQ) > 0 && a.turnSpawns < turnSpawns {
		t := a.moreQ[0]
		a.moreQ = a.moreQ[1:]
		if w := a.byID[t.Watcher]; w != nil {
			w.Fire(t)
		}
	}
	if len(a.moreQ) > 0 && !a.morePosted {
		a.postMore()
	}
}
