package arbiter

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Every command that changes something is logged with who sent it, so
// that poold's log answers "who restarted web at 04:31?" the way
// circusd's "web stopped" lines and systemd's journal do. Read-only
// commands (status, stats, the console's polling) are not: they would
// drown the log.

type callerKey struct{}

// WithCaller returns ctx carrying who sends the command, for the log
// line of each command that changes something: "uid 1000 gid 1000 pid
// 4242 (poolctl)" or "tcp 127.0.0.1:53122" for a control client, "API
// token deploy.token from 10.0.0.5:41000" for the HTTP API, "web console
// from ..." for the console. A command without a caller (poold's own:
// SIGHUP's reload, an upgrade) is logged where it is done instead.
func WithCaller(ctx context.Context, who string) context.Context {
	return WithCallerFunc(ctx, func() string { return who })
}

// WithCallerFunc is WithCaller with who found only when a log line needs
// it (at most once): reading a control client's program name from /proc
// is not for every status request.
func WithCallerFunc(ctx context.Context, who func() string) context.Context {
	return context.WithValue(ctx, callerKey{}, sync.OnceValue(who))
}

// CallerFrom is the caller WithCaller gave ctx, "" without one.
func CallerFrom(ctx context.Context) string {
	if who := callerOf(ctx); who != nil {
		return who()
	}
	return ""
}

func callerOf(ctx context.Context) func() string {
	who, _ := ctx.Value(callerKey{}).(func() string)
	return who
}

// logTaken says that the loop took m, a command that changes something,
// and who sent it: on the loop, once the command is sure to run (one
// refused not run during an upgrade's hand-over, or dropped by a caller
// that gave up, is not logged as taken).
func (a *Arbiter) logTaken(m *cmdMsg) {
	if m.who == nil || ReadOnly(m.req.Command) {
		return
	}
	a.log.Info("command received", append([]any{"command", m.req.Command}, commandFields(m.req.Properties, m.who())...)...)
}

// logOutcome says that a logged command failed, and why. The reason is
// left out when the command carried values that are not logged: a reason
// may quote them (set's env).
func (a *Arbiter) logOutcome(who func() string, req Request, r Reply) {
	if who == nil || ReadOnly(req.Command) || r == nil || r["status"] != "error" {
		return
	}
	if notRun, _ := r[NotRun].(bool); notRun {
		return // not taken, not logged as taken
	}
	reason := clipTo(fmt.Sprint(r["reason"]), 300)
	if carriesValues(req.Properties) {
		reason = "(not logged: it may quote the values sent)"
	}
	a.log.Info("command failed", append([]any{"command", req.Command}, commandFields(req.Properties, who(), "reason", reason)...)...)
}

// logGoesOn says that a logged command's caller stopped waiting for its
// answer (its connection closed, its time ran out; an upgrade's first
// connection as poolctl polls on another) while poold goes on with it:
// not a failure, its outcome is logged as it ends.
func (a *Arbiter) logGoesOn(who func() string, req Request, why error) {
	if who == nil || ReadOnly(req.Command) {
		return
	}
	msg := "command goes on; its caller stopped waiting for the answer"
	if req.Command == "upgrade" {
		// poolctl's wait for an upgrade goes on, on another connection
		// (upgrade_status): this one's end is no news (r64 overlap trial).
		msg = "upgrade goes on; the request that asked for it ended (poolctl asks upgrade_status for the outcome on another connection)"
	}
	a.log.Info(msg, append([]any{"command", req.Command}, commandFields(req.Properties, who(), "why", why.Error())...)...)
}

// carriesValues tells whether props has a value the log leaves out.
func carriesValues(props map[string]any) bool {
	for k, v := range props {
		switch v.(type) {
		case float64, bool, nil:
		case string:
			if !loggedString(k) {
				return true
			}
		default:
			return true
		}
	}
	return false
}

// loggedString tells the properties whose string values are logged: the
// watcher's name and a signal.
func loggedString(k string) bool { return k == "name" || k == "signal" || k == "signum" }

// commandFields are the log fields of a command's properties, with who
// last: the watcher's name, numbers, booleans and a signal as given (nb,
// pid, signal, waiting), and only the names of the rest, whose values
// may be secrets (set's env, add's args) or long.
func commandFields(props map[string]any, who string, more ...any) []any {
	var out []any
	if name, ok := props["name"].(string); ok {
		out = append(out, "watcher", clip(name))
	}
	var named []string
	for _, k := range sortedKeys(props) {
		if k == "name" {
			continue
		}
		v := props[k]
		_, str := v.(string)
		switch v := v.(type) {
		case float64, bool, string:
			if len(out) < 2*10 && (!str || loggedString(k)) {
				if str {
					v = clip(v.(string))
				}
				out = append(out, clip(k), v)
				continue
			}
			named = append(named, k)
		case map[string]any: // set's options: their names
			named = append(named, clip(k)+"("+strings.Join(firstNames(sortedKeys(v)), ",")+")")
		default:
			named = append(named, k)
		}
	}
	if len(named) > 0 {
		out = append(out, "with", strings.Join(firstNames(named), " "))
	}
	out = append(out, more...)
	return append(out, "by", who)
}

// firstNames keeps the first 20 of names, each clipped, and says how
// many more there were.
func firstNames(names []string) []string {
	out := make([]string, 0, min(len(names), 21))
	for i, n := range names {
		if i == 20 {
			return append(out, fmt.Sprintf("and %d more", len(names)-20))
		}
		out = append(out, clip(n))
	}
	return out
}

// clip keeps a name from a client short in the log.
func clip(s string) string { return clipTo(s, 64) }

// clipTo cuts s to about n bytes.
func clipTo(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n-3], "") + "..."
	}
	return s
}

// logCastOutcome logs a cast that failed (logOutcome), as Do does for a
// request: its sender reads no reply, so the log is the only trace of a
// write not done. On the loop, once dispatch ran it: now if it is
// answered, else once it is (a waited cast), unless poold stops first.
func (a *Arbiter) logCastOutcome(m *cmdMsg) {
	log := func(ans answer) {
		if ans.finish == nil { // a read-only command's: not logged anyway
			a.logOutcome(m.who, m.req, ans.reply)
		}
	}
	select {
	case ans := <-m.reply:
		log(ans)
		return
	default:
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		select {
		case ans := <-m.reply:
			log(ans)
		case <-a.stopped:
		}
	}()
}
