package arbiter

import (
	"context"
	"fmt"
	"strings"
)

// Every command that changes something is logged with who sent it, so
// that poold's log answers "who restarted web at 04:31?" the way
// circusd's "web stopped" lines and systemd's journal do. Read-only
// commands (status, stats, the console's polling) are not: they would
// drown the log.

type callerKey struct{}

// WithCaller returns ctx carrying who sends the command, for the log
// line Do writes for each command that changes something: "uid 1000
// pid 4242" or "tcp 127.0.0.1:53122" for a control client, "API token
// deploy.token from 10.0.0.5:41000" for the HTTP API, "console from
// ..." for the web console. A command without a caller (poold's own:
// SIGHUP's reload, an upgrade) is logged where it is done instead.
func WithCaller(ctx context.Context, who string) context.Context {
	return context.WithValue(ctx, callerKey{}, who)
}

// CallerFrom is the caller WithCaller gave ctx, "" without one.
func CallerFrom(ctx context.Context) string {
	who, _ := ctx.Value(callerKey{}).(string)
	return who
}

// logCommand says that who asked for req, unless req changes nothing
// or nobody outside poold asked.
func (a *Arbiter) logCommand(who string, req Request) {
	if who == "" || ReadOnly(req.Command) {
		return
	}
	a.log.Info("command received", append([]any{"command", req.Command}, commandFields(req.Properties, who)...)...)
}

// logOutcome says that a logged command failed, and why.
func (a *Arbiter) logOutcome(who string, req Request, r Reply) {
	if who == "" || ReadOnly(req.Command) || r == nil || r["status"] != "error" {
		return
	}
	a.log.Info("command failed", append([]any{"command", req.Command}, commandFields(req.Properties, who, "reason", r["reason"])...)...)
}

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
			if len(out) < 2*10 && (!str || k == "signal") {
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
func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:61], "") + "..."
	}
	return s
}
