package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// errStartOver: the ring answering is another process's (its epoch
// changed), whose line numbers started over; nothing was printed.
var errStartOver = errors.New("poold's log ring started over")

// logFollower is what -f follows: one watcher (oneFollower) or every
// watcher (allFollower).
type logFollower interface {
	// round asks for and prints the lines written since the last round;
	// a connError when poold did not answer. startedOver: a ring started
	// over, which round said.
	round(ctx context.Context, client caller) (startedOver bool, err error)
	// resume says where the lines go on from, for the lines about a lost
	// connection: "line #42" and "its lines go on from #42".
	resume() (from, goesOn string)
}

// followLogs runs a round of f every followEvery, like journalctl -f,
// until ctx is cancelled (success). poold gone (an upgrade re-executes
// it, a restart) is dialled again for up to resubscribeFor. *client is
// the connection in use.
func (a *app) followLogs(ctx context.Context, client *caller, f logFollower) error {
	t := time.NewTicker(followEvery)
	defer t.Stop()
	var lost time.Time // when the connection was lost; zero while it works
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !lost.IsZero() {
			if ok, err := a.redial(client, lost); !ok {
				if err != nil {
					return quietOnCancel(ctx, err)
				}
				continue
			}
		}
		from, goesOn := f.resume()
		startedOver, err := f.round(ctx, *client)
		var ce connError
		switch {
		case err != nil && errors.As(err, &ce) && ctx.Err() == nil:
			if lost.IsZero() {
				lost = time.Now()
				fmt.Fprintf(a.stderr, "poolctl: lost poold (%v); reconnecting, following from %s\n", err, from)
			} else if time.Since(lost) > resubscribeFor {
				return err
			}
			continue
		case err != nil:
			return quietOnCancel(ctx, err)
		case !lost.IsZero() && !startedOver:
			// Said, so that the "lost poold" line does not stand alone
			// (an upgrade in place hands the lines over: none is missed).
			fmt.Fprintf(a.stderr, "poolctl: poold answers again after %v; %s\n", time.Since(lost).Round(100*time.Millisecond), goesOn)
		}
		lost = time.Time{}
	}
}

// logCursor is where a reader is in one watcher's ring.
type logCursor struct {
	props   map[string]any // name; wid and stream when asked for
	last    uint64         // the number of the last line read
	epoch   uint64         // the ring's process; 0 before its first answer
	removed bool           // the watcher is gone
	missed  uint64         // the lines the last batch missed (the ring had dropped them)
}

// logTurn is what one poll of a cursor met besides lines.
type logTurn int

const (
	turnNone       logTurn = iota
	turnRemoved            // the watcher is found gone
	turnAddedAgain         // a removed watcher exists again: read from its first line
	turnStartOver          // the ring started over (its epoch changed, or its last line numbered below ours: a new process): read from its first line
)

// poll asks for the lines of c's watcher after c.last and moves c past
// them. A ring that started over is read from its start, so nothing it
// holds is skipped; a removed watcher is asked after, and read from its
// start once added again. The turn is returned also with an error.
func (a *app) poll(ctx context.Context, client caller, c *logCursor) ([]logRecord, logTurn, error) {
	name, turn := c.props["name"], turnNone
	if c.removed {
		if _, err := a.ask(ctx, client, "numprocesses", map[string]any{"name": name}); err != nil {
			if isNotFound(err, name) {
				err = nil
			}
			return nil, turnNone, err
		}
		c.removed, c.last, turn = false, 0, turnAddedAgain // a new ring, whose numbers may pass ours already
	}
	c.props["since"], c.props["lines"] = c.last, maxFollowLines
	recs, next, err := a.fetchLogs(ctx, client, c)
	switch {
	case isNotFound(err, name):
		c.removed = true
		return nil, turnRemoved, nil
	case errors.Is(err, errStartOver) || (err == nil && next < c.last):
		turn, c.props["since"] = turnStartOver, uint64(0)
		if recs, next, err = a.fetchLogs(ctx, client, c); err != nil {
			return nil, turn, err
		}
	case err != nil:
		return nil, turn, err
	}
	c.last = next
	return recs, turn, nil
}

// oneFollower follows watcher NAME: through its removal, waiting for it
// to be added again.
type oneFollower struct {
	a *app
	c *logCursor
}

func (f oneFollower) round(ctx context.Context, client caller) (bool, error) {
	recs, turn, err := f.a.poll(ctx, client, f.c)
	name := f.c.props["name"]
	switch turn {
	case turnRemoved:
		fmt.Fprintf(f.a.stderr, "poolctl: watcher %s was removed; waiting for it to be added again (Ctrl-C to stop)\n", name)
	case turnAddedAgain:
		fmt.Fprintf(f.a.stderr, "poolctl: watcher %s was added again; following its lines from the first\n", name)
	case turnStartOver:
		fmt.Fprintf(f.a.stderr, "poolctl: poold's lines of %s start over (poold was upgraded or restarted); following from its first\n", name)
	}
	if err != nil {
		return false, err
	}
	f.a.sayMissed(f.c)
	recs, err = f.a.withEvents(ctx, client, f.a.cutSince(recs, name))
	if perr := f.a.printLogs(recs); perr != nil {
		return false, runError{perr}
	}
	return turn == turnStartOver, err
}

func (f oneFollower) resume() (string, string) {
	return fmt.Sprintf("line #%d", f.c.last), fmt.Sprintf("its lines go on from #%d", f.c.last)
}

// redial replaces *client with a new connection to poold, lost since
// lost: false while none answers, with an error once resubscribeFor has
// passed.
func (a *app) redial(client *caller, lost time.Time) (bool, error) {
	c, err := a.dial()
	if err != nil {
		if time.Since(lost) > resubscribeFor {
			return false, err
		}
		return false, nil
	}
	(*client).Close()
	*client = c
	return true, nil
}

// isNotFound: err is poold's answer that watcher name does not exist.
func isNotFound(err error, name any) bool {
	var re replyError
	return errors.As(err, &re) && re.errno == 3 && (strings.HasPrefix(re.reason, fmt.Sprintf("program %s not found", name)) ||
		strings.HasPrefix(re.reason, fmt.Sprintf("program %q not found", fmt.Sprint(name)))) // quoted: a name with a control character
}
