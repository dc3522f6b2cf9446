package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/poold/poold/arbiter/controller/ctlclient"
	"github.com/poold/poold/arbiter/wire"
)

// upgradePoll is how often `poolctl upgrade` asks the new image whether it
// has taken over; upgradeWait bounds the whole wait.
// upgradeGone is how long poold's endpoint may refuse connections, in a
// row, before poolctl says poold died in the upgrade. The new image takes
// the control endpoint over by fd, so a live upgrade is never refused (0
// refused connects in TestUpgradeOfABinaryThatDiesSaysSo); refused is a
// closed listening socket: poold's pid is gone.
const (
	upgradePoll = 50 * time.Millisecond
	upgradeWait = 2 * time.Minute
	upgradeGone = 3 * time.Second
)

// upgradeHang is how long poold's endpoint may take connections without
// completing a ZMTP handshake on any before poolctl says the new image
// hangs: a new binary stuck before it loads the state keeps the endpoint
// (its fd) open, and nothing accepts on it. The old image handshakes all
// through the pre-flight, even while its loop waits (for the workers' log
// writes on a slow disk: no reply then, for as long as the disk takes),
// and the new one takes over within a second or two, even under load.
// upgradeSilent is how long poold may take requests and answer none
// before poolctl says so: a new image that hangs after it took over the
// endpoints looks so, and so does an old one still waiting for a very
// slow disk; poolctl cannot tell which, and says both. Variables for the
// tests.
var (
	upgradeHang   = 20 * time.Second
	upgradeSilent = 60 * time.Second
)

const upgradeHelp = `Upgrade poold in place: it runs the binary it was started from, read
again from disk, with the same pid, so every worker stays its child and
every listening socket stays open. The new binary is checked first
(--check on the config, and a handshake that it reads the running
state); any failure changes nothing. If the new image cannot load the
state, the old binary comes back with it (a rollback). If it dies before
that, poold's pid is gone with its workers: poolctl says so once poold's
endpoint has refused connections for 3s; start poold again. If it hangs
before that, poolctl says so once poold's endpoint has accepted no
connection for 20s, or has answered no request it took for 60s (the
local endpoint only: over --url it waits).

poolctl waits for the outcome and prints the old and the new version;
it exits 1 when the upgrade was refused or rolled back. SIGUSR2 to poold
does the same without waiting.

--status only prints the last upgrade's outcome (poold's upgrade_status):
what ran before and after, when it began and when the new image took
over, or that this poold has not been upgraded.`

func (a *app) upgradeCommand() *cobra.Command {
	c := &cobra.Command{
		Use:     "upgrade",
		GroupID: "control",
		Short:   "Re-execute poold from its (new) binary in place: same pid, workers and sockets untouched",
		Long:    upgradeHelp,
		Args:    checkArgs(cmdSpec{name: "upgrade"}),
		RunE: func(c *cobra.Command, _ []string) error {
			if st, _ := c.Flags().GetBool("status"); st {
				return a.showUpgradeStatus(c.Context())
			}
			return a.upgrade(c.Context())
		},
	}
	c.Flags().Bool("status", false, "only print the last upgrade's outcome (upgrade_status)")
	return c
}

// showUpgradeStatus prints poold's upgrade_status: raw with --json, else
// one line (formatUpgradeStatus).
func (a *app) showUpgradeStatus(ctx context.Context) error {
	return a.do(ctx, call{command: "upgrade_status", what: "upgrade_status", props: map[string]any{}})
}

// formatUpgradeStatus says what the last upgrade did, with its times in
// local time. A poold never upgraded reports an outcome with id 0 and
// Go's zero time for "began": that is "no upgrade", not a date.
func formatUpgradeStatus(w io.Writer, r reply) error {
	u, _ := r["upgrade"].(map[string]any)
	began, _ := parseTime(u["began"])
	if num(u["id"]) == 0 || began.IsZero() {
		_, err := fmt.Fprintln(w, "no upgrade since this poold started")
		return err
	}
	at := began.Local().Format(time.RFC3339)
	old, nu, pid, reason := u["old_version"], u["new_version"], num(u["pid"]), u["reason"]
	var err error
	switch u["state"] {
	case "upgrading":
		_, err = fmt.Fprintf(w, "upgrading since %s: poold %v (pid %v)%s\n", at, old, pid, suffix(": ", reason))
	case "upgraded":
		took := ""
		if t, ok := parseTime(u["took_over"]); ok && !t.IsZero() {
			took = ", done in " + fmtDuration(t.Sub(began).Round(time.Millisecond))
			// From a build that says when its hand-over began: the
			// take-over alone, and the wait to settle with the pre-flight.
			if h, ok := parseTime(u["hand_over"]); ok && !h.IsZero() {
				took += fmt.Sprintf(" (settle and pre-flight %s, take-over %s)",
					fmtDuration(h.Sub(began).Round(time.Millisecond)), fmtDuration(t.Sub(h).Round(time.Millisecond)))
			}
		}
		_, err = fmt.Fprintf(w, "upgraded at %s: poold %v -> %v (pid %v)%s\n", at, old, nu, pid, took)
	case "rolled_back":
		_, err = fmt.Fprintf(w, "rolled back at %s: poold %v runs again (pid %v)%s\n", at, nu, pid, suffix(": ", reason))
	default:
		_, err = fmt.Fprintf(w, "%v at %s, nothing changed: poold %v runs (pid %v)%s\n", u["state"], at, old, pid, suffix(": ", reason))
	}
	return err
}

// parseTime reads an RFC 3339 time from a reply.
func parseTime(v any) (time.Time, bool) {
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// suffix is sep+v, or "" for an absent or empty v.
func suffix(sep string, v any) string {
	if s, _ := v.(string); s != "" {
		return sep + s
	}
	return ""
}

// upgradeStatus asks poold for its last upgrade outcome.
func (a *app) upgradeStatus(ctx context.Context) (map[string]any, error) {
	client, err := a.dial()
	if err != nil {
		return nil, err
	}
	defer client.Close()
	_, r, err := a.roundTrip(ctx, client, call{command: "upgrade_status", what: "upgrade_status", props: map[string]any{}}, a.timeoutFor(noWait))
	if err != nil {
		return nil, err
	}
	if st, _ := r["status"].(string); st == "error" {
		reason, _ := r["reason"].(string)
		return nil, replyError{reason: reason, errno: int(num(r["errno"]))}
	}
	out, _ := r["upgrade"].(map[string]any)
	return out, nil
}

// upgrade asks for the upgrade and polls the new image for its outcome:
// the old image's reply may be lost in the exec.
func (a *app) upgrade(ctx context.Context) error {
	before, err := a.upgradeStatus(ctx)
	if err != nil {
		return err
	}
	lastID := num(before["id"])
	client, err := a.dial()
	if err != nil {
		return err
	}
	_, r, err := a.roundTrip(ctx, client, call{command: "upgrade", what: "upgrade", props: map[string]any{}}, a.timeoutFor(noWait))
	client.Close()
	pid := int(num(before["pid"])) // 0 from a poold never upgraded
	execing := false               // the pre-flight passed: the exec follows
	if u, ok := r["upgrade"].(map[string]any); err == nil && ok && num(u["pid"]) > 0 {
		pid = int(num(u["pid"]))
		execing = u["state"] == "upgrading"
	}
	if err == nil {
		if st, _ := r["status"].(string); st == "error" {
			reason, _ := r["reason"].(string)
			rerr := replyError{reason: reason, errno: int(num(r["errno"]))}
			id, ok := a.upgradeInFlight(ctx, rerr)
			if !ok {
				return rerr
			}
			lastID = id - 1 // its outcome is this one's
		}
	}
	return a.waitUpgrade(ctx, lastID, pid, execing)
}

// waitUpgrade polls poold until the upgrade after lastID has an outcome,
// and says what went wrong when poold refuses connections (it died in the
// exec), stops answering them (the new image hangs before it takes over)
// or never reports an outcome. execing: poold said its pre-flight passed.
func (a *app) waitUpgrade(ctx context.Context, lastID float64, pid int, execing bool) error {
	deadline := time.Now().Add(upgradeWait)
	t := time.NewTicker(upgradePoll)
	defer t.Stop()
	answeredAt := time.Now()   // when poold last answered
	took := answeredAt         // when poold last answered or took a request
	var refusedSince time.Time // the first of the refusals in a row
	said := false              // the wait's reason is on stderr
	for {
		out, err := a.upgradeStatus(ctx)
		if err == nil && num(out["id"]) > lastID && out["state"] != "upgrading" {
			return a.printUpgrade(out)
		}
		if why, _ := out["reason"].(string); err == nil && why != "" && !said && out["state"] == "upgrading" && stderrNotes(a.stderr) {
			// Held behind a waited reload, a rollout, a hook: say what
			// for, once, rather than wait in silence.
			said = true
			fmt.Fprintf(a.stderr, "poolctl: the upgrade waits: %s; it goes on by itself once that is done (poolctl upgrade --status tells where it stands)\n", why)
		}
		if answered(err) {
			answeredAt = time.Now()
		}
		if alive(err) {
			took = time.Now()
		}
		if err == nil && num(out["pid"]) > 0 {
			pid = int(num(out["pid"]))
		}
		switch {
		case !refused(err):
			refusedSince = time.Time{}
		case refusedSince.IsZero():
			refusedSince = time.Now()
		case time.Since(refusedSince) >= upgradeGone:
			return connError{fmt.Sprintf("poold exited during the upgrade (%s): %s has refused connections for %s (%v); its workers are gone with it; check its log and start it again", goneWhen(execing), a.endpoint, upgradeGone, err), err}
		}
		if !a.remote() && refusedSince.IsZero() && time.Since(took) >= upgradeHang {
			return hangError(a.endpoint, pid, err)
		}
		if !a.remote() && time.Since(answeredAt) >= upgradeSilent {
			return silentError(a.endpoint, pid, err)
		}
		if time.Now().After(deadline) {
			return connError{fmt.Sprintf("poold at %s did not report the upgrade's outcome within %s (last error: %v); check its log", a.endpoint, upgradeWait, err), err}
		}
		select {
		case <-ctx.Done():
			return interruptedError{"interrupted while waiting for the upgrade (it goes on in poold)"}
		case <-t.C:
		}
	}
}

// stderrNotes reports whether poolctl upgrade tells on w why it waits:
// only on a terminal, so that a script's stderr gets only the outcome
// and errors. A variable for tests.
var stderrNotes = isTerminal

// silentError says that poold, pid, took requests at endpoint and
// answered none for upgradeSilent, err the last error, and what to do.
func silentError(endpoint string, pid int, err error) error {
	who, kill := killAdvice(pid)
	return connError{fmt.Sprintf("%s has taken requests at %s and answered none for %s during the upgrade (last error: %v): "+
		"either the new binary hangs after taking over the endpoints, or the old one still hands over, waiting for its workers' "+
		"log writes on a very slow disk; check its log and the disk: if nothing moves, stop it (%s: its workers end with it) "+
		"and start poold again with the old binary", who, endpoint, upgradeSilent, err, kill), err}
}

// hangError says that poold, pid, let connections to endpoint wait and
// accepted none for upgradeHang, err the last error, and what to do.
func hangError(endpoint string, pid int, err error) error {
	who, kill := killAdvice(pid)
	return connError{fmt.Sprintf("%s has accepted no connection at %s for %s during the upgrade (last error: %v): "+
		"the new binary most likely hangs before taking over; its workers still run and serve, but nothing manages them "+
		"(no restart, reload or stop); check its log, then stop it (%s: its workers end with it) "+
		"and start poold again with the old binary", who, endpoint, upgradeHang, err, kill), err}
}

// killAdvice names poold, pid if known (0: not), and how to kill it.
func killAdvice(pid int) (who, kill string) {
	if pid > 0 {
		return fmt.Sprintf("poold (pid %d)", pid), fmt.Sprintf("kill -9 %d", pid)
	}
	return "poold", "kill -9 its pid"
}

// upgradeInFlight says, for an upgrade refused with rerr, whether that
// is because another one (SIGUSR2, another poolctl) is in flight, and its
// id: the binary it runs is the one this upgrade would have run, so
// poolctl waits for that outcome instead of failing a deploy script
// whose upgrade is about to succeed.
func (a *app) upgradeInFlight(ctx context.Context, rerr replyError) (float64, bool) {
	if rerr.errno != wire.ErrnoFailed {
		return 0, false
	}
	now, err := a.upgradeStatus(ctx)
	if err != nil || now["state"] != "upgrading" {
		return 0, false
	}
	fmt.Fprintf(a.stderr, "poolctl: an upgrade was already in flight (began %v); waiting for its outcome\n", now["began"])
	return num(now["id"]), true
}

// answered reports whether an upgrade_status that ended with err got a
// reply from poold, an error reply too.
func answered(err error) bool {
	var rerr replyError
	return err == nil || errors.As(err, &rerr)
}

// alive reports whether an upgrade_status that ended with err reached a
// running poold: it answered, or it completed the handshake and took the
// request (a timeout: its loop is busy), which a binary hung before it
// loaded the state cannot do. Only ZeroMQ tells that: over --url an
// HTTP request waits in the listener's backlog either way.
func alive(err error) bool { return answered(err) || errors.Is(err, ctlclient.ErrTimeout) }

// refused says that nobody listens on poold's endpoint any more: its
// socket file is gone or stale, or a TCP connect is refused.
func refused(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist)
}

func (a *app) printUpgrade(out map[string]any) error {
	if a.json {
		raw, _ := json.Marshal(map[string]any{"status": "ok", "upgrade": out})
		fmt.Fprintf(a.stdout, "%s\n", raw)
	}
	// The config's warnings, as the image that took over read the file.
	warnings, _ := out["warnings"].([]any)
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "poolctl: warning: %v\n", w)
	}
	old, nu, reason := out["old_version"], out["new_version"], out["reason"]
	switch out["state"] {
	case "upgraded":
		if !a.json {
			fmt.Fprintf(a.stdout, "upgraded: poold %v -> %v (pid %v)\n", old, nu, num(out["pid"]))
		}
		return nil
	case "rolled_back":
		return replyError{reason: fmt.Sprintf("upgrade rolled back: poold %v runs again (pid %v): %v", nu, num(out["pid"]), reason)}
	}
	return replyError{reason: fmt.Sprintf("upgrade refused, nothing changed: poold %v runs: %v", old, reason)}
}

// goneWhen says when poold exited during an upgrade, as far as poolctl
// knows: after the pre-flight passed (in the exec, or as the new image
// started), or at a moment it cannot tell (it had no answer to upgrade).
func goneWhen(execing bool) string {
	if execing {
		return "after its pre-flight passed: in the exec or as the new image started; its log says why"
	}
	return "before or while the new image started; its log says why"
}
