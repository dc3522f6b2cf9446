package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/arbiter/wire"
)

// cutShort tells whether err is a connection to poold that closed after
// the command was sent and before its answer came: whether poold did it
// is unknown, and it is not sent again (askAgain covers the read-only
// commands).
func (a *app) cutShort(err error) bool {
	return !a.remote() && errors.Is(err, ctlclient.ErrConnLost)
}

// lostAnswer is the error for a command cut short (cutShort), sent at
// sent. An upgrade in place (poolctl upgrade, SIGUSR2) closes every
// control connection in its exec, cutting what the old image had taken
// and not answered; poolctl asks the new image whether one took over
// since, to say so. Either way the user learns that the command may have
// been done, and how to look before sending it again.
func (a *app) lostAnswer(ctx context.Context, cl call, sent time.Time, err error) error {
	look := "poolctl status"
	if cl.watcher != "" {
		look += " " + cl.watcher
	}
	u, uerr := a.statusAfterLoss(ctx)
	if uerr == nil && tookOverSince(u, sent) {
		return connError{fmt.Sprintf("poold at %s was upgraded in place (upgrade %v, now version %v, pid %v) while '%s' waited for its answer, which the upgrade cut: it may or may not have been done; look with %s before you send it again",
			a.endpoint, u["id"], u["new_version"], u["pid"], cl.what, look), err}
	}
	now := "poold answers again"
	if uerr != nil {
		now = "poold does not answer now"
	}
	return connError{fmt.Sprintf("connection lost to poold at %s while '%s' waited for its answer (%s): it may or may not have been done; look with %s before you send it again",
		a.endpoint, cl.what, now, look), err}
}

// tookOverSince tells whether upgrade_status's outcome u is of an image
// that took over after sent (less a little: the clocks are the same
// machine's, or a remote host's over tcp).
func tookOverSince(u map[string]any, sent time.Time) bool {
	s, _ := u["took_over"].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	return err == nil && t.After(sent.Add(-2*time.Second))
}

// statusAfterLoss asks poold's upgrade_status, dialling again while the
// endpoint is missing or refuses (a new image or a restarted poold binds
// it), for up to lossRedial.
func (a *app) statusAfterLoss(ctx context.Context) (map[string]any, error) {
	uctx, cancel := context.WithTimeout(ctx, lossRedial)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		u, err := a.upgradeStatus(uctx)
		var ce connError
		if err == nil || !errors.As(err, &ce) {
			return u, err
		}
		select {
		case <-uctx.Done():
			return nil, err
		case <-tick.C:
		}
	}
}

// notRun tells whether r is poold's refusal of a command it took and did
// not run because it was re-executing itself in an upgrade (wire.NotRun):
// any command, a write too, may then be sent again.
func (a *app) notRun(r reply) bool {
	v, _ := r[wire.NotRun].(bool)
	return v && !a.remote()
}

// notSent tells whether err is a connection found closed before the
// command was sent (ctlclient.ErrNotSent): poold did not get it, and it
// may be sent again, a write too.
func (a *app) notSent(err error) bool {
	return !a.remote() && errors.Is(err, ctlclient.ErrNotSent)
}

// notRunPause is the wait before cl is sent again after a not_run
// refusal: the old image is about to exec; the new one answers a new
// connection (the old one accepts none meanwhile).
const notRunPause = 50 * time.Millisecond

// againNotRun sends cl again, on a new connection, after poold refused
// it as not run (notRun) or it was not sent (notSent), for up to lossRedial: until an answer that is
// not that refusal. A connection lost meanwhile is asked again only for
// a read-only command; a write's is reported as cut (lostAnswer).
func (a *app) againNotRun(ctx context.Context, cl call, timeout time.Duration, decode func([]byte) (reply, error)) ([]byte, reply, error) {
	dctx, cancel := context.WithTimeout(ctx, lossRedial)
	defer cancel()
	pause := time.NewTicker(notRunPause)
	defer pause.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, nil, interruptedError{fmt.Sprintf("interrupted before '%s' was sent again (poold had not run it: it was being upgraded)", cl.what)}
		case <-pause.C:
		}
		client, err := ctlclient.DialContext(dctx, a.endpoint)
		if err != nil {
			return nil, nil, a.unreachable(err)
		}
		sent := time.Now()
		raw, r, err := a.exchange(ctx, client, cl, timeout, decode)
		client.Close()
		switch {
		case err == nil && a.notRun(r) && dctx.Err() == nil:
			continue // still the old image
		case err != nil && (a.askAgain(cl, err) || a.notSent(err)) && dctx.Err() == nil:
			continue
		case err != nil && a.cutShort(err):
			return nil, nil, a.lostAnswer(ctx, cl, sent, err)
		}
		return raw, r, err
	}
}
