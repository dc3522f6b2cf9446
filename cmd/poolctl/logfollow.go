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

// followLogs asks for the lines after last every followEvery, like
// journalctl -f. poold gone (an upgrade re-executes it, a restart) is
// dialled again for up to resubscribeFor; a ring that started over (its
// epoch changed, or its last line numbered below ours: a new process) is
// read from its start, so nothing it holds is skipped; a watcher removed
// is waited for, and read from its start once added again. *client is
// the connection in use.
func (a *app) followLogs(ctx context.Context, client *caller, props map[string]any, last, epoch uint64) error {
	t := time.NewTicker(followEvery)
	defer t.Stop()
	var lost time.Time // when the connection was lost; zero while it works
	removed := false   // the watcher is gone; waiting for it to be added again
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
		next, err := last, error(nil)
		if removed {
			if err = a.addedAgain(ctx, *client, props["name"]); err == nil {
				removed, last = false, 0 // a new ring, whose numbers may pass ours already
			}
		}
		if err == nil {
			props["since"], props["lines"] = last, maxFollowLines
			next, _, err = a.logsOnce(ctx, *client, props, &epoch)
		}
		var ce connError
		switch {
		case isNotFound(err, props["name"]):
			if !removed {
				fmt.Fprintf(a.stderr, "poolctl: watcher %s was removed; waiting for it to be added again (Ctrl-C to stop)\n", props["name"])
			}
			removed = true
			continue
		case err != nil && errors.As(err, &ce) && ctx.Err() == nil:
			if lost.IsZero() {
				lost = time.Now()
				fmt.Fprintf(a.stderr, "poolctl: lost poold (%v); reconnecting, following from line #%d\n", err, last)
			} else if time.Since(lost) > resubscribeFor {
				return err
			}
			continue
		case errors.Is(err, errStartOver) || (err == nil && next < last):
			fmt.Fprintf(a.stderr, "poolctl: poold's lines of %s start over (poold was upgraded or restarted); following from its first\n", props["name"])
			props["since"] = uint64(0)
			if next, _, err = a.logsOnce(ctx, *client, props, &epoch); err != nil {
				return quietOnCancel(ctx, err)
			}
		case err == nil && !lost.IsZero():
			// Said, so that the "lost poold" line does not stand alone
			// (an upgrade in place hands the lines over: none is missed).
			fmt.Fprintf(a.stderr, "poolctl: poold answers again after %v; its lines go on from #%d\n", time.Since(lost).Round(100*time.Millisecond), last)
		case err != nil:
			return quietOnCancel(ctx, err)
		}
		lost, last = time.Time{}, next
	}
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

// addedAgain: nil once a watcher named name exists again, which poolctl
// says; poold's "not found" while it does not.
func (a *app) addedAgain(ctx context.Context, client caller, name any) error {
	if _, err := a.ask(ctx, client, "numprocesses", map[string]any{"name": name}); err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "poolctl: watcher %s was added again; following its lines from the first\n", name)
	return nil
}

// isNotFound: err is poold's answer that watcher name does not exist.
func isNotFound(err error, name any) bool {
	var re replyError
	return errors.As(err, &re) && re.errno == 3 && (strings.HasPrefix(re.reason, fmt.Sprintf("program %s not found", name)) ||
		strings.HasPrefix(re.reason, fmt.Sprintf("program %q not found", fmt.Sprint(name)))) // quoted: a name with a control character
}
