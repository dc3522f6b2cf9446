package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// What a waited reloadconfig (or reload) did to each watcher: poold-only
// reply fields, present in the ok reply and in the errno 6 error reply.
// Listed from the weakest to the strongest claim, so that a watcher named
// under two keys shows the stronger one; rolled_back (an object name ->
// reason) beats them all.
var outcomeKeys = []string{"unchanged", "updated", "added", "removed"}

// hasOutcome reports whether r says what became of each watcher. Circus's
// replies, and poold's before it reported this, do not.
func hasOutcome(r reply) bool {
	for _, k := range outcomeKeys {
		if _, ok := r[k]; ok {
			return true
		}
	}
	_, ok := r["rolled_back"]
	return ok
}

// formatOutcome prints "NAME: what happened" per watcher, sorted by name:
// added, removed, updated, unchanged, "added, not started: reason",
// "added, then watcher ... ran and failed: how" or "... ran and ended:
// how" (a one-shot), "cut short: reason" (a stop or rm ended its rolling
// reload) or "rolled back: reason"; then, for a watcher that runs keys set
// at run time which the file gives otherwise (kept), "; kept from run
// time, not in the file: max_cpu=40 (poolctl status NAME)".
func formatOutcome(w io.Writer, r reply) error {
	fate := map[string]string{}
	for _, k := range outcomeKeys {
		names, _ := r[k].([]any)
		for _, n := range names {
			fate[render(n)] = k
		}
	}
	// In this order: a later field's wording wins for a watcher in two.
	for _, f := range fateFields {
		m, _ := r[f.key].(map[string]any)
		for n, why := range m {
			prefix := f.prefix
			if fate[n] == "updated" && (f.key == "failed" || f.key == "ended") {
				prefix = "updated, then " // a changed one-shot a reload ran again
			}
			fate[n] = prefix + render(why)
		}
	}
	kept, _ := r["kept"].(map[string]any)
	for n, keys := range kept {
		list, _ := keys.([]any)
		if f, ok := fate[n]; ok && len(list) > 0 {
			fate[n] = fmt.Sprintf("%s; kept from run time, not in the file: %s (poolctl status %s)", f, joinRendered(list), n)
		}
	}
	if err := printFates(w, "", fate); err != nil {
		return err
	}
	if err := formatSocketOutcome(w, r); err != nil {
		return err
	}
	applied, _ := r["settings"].([]any)
	for _, s := range applied {
		if _, err := fmt.Fprintf(w, "setting %s: changed, applied\n", render(s)); err != nil {
			return err
		}
	}
	for _, s := range restartNeeded(r) {
		if _, err := fmt.Fprintf(w, "setting %s: changed, not applied: needs a restart of poold\n", s); err != nil {
			return err
		}
	}
	return nil
}

// joinRendered is a list of the reply, rendered, joined with ", ".
func joinRendered(list []any) string {
	out := make([]string, 0, len(list))
	for _, v := range list {
		out = append(out, render(v))
	}
	return strings.Join(out, ", ")
}

// restartNeeded is the reply's restart_needed: the changed settings
// ("web.address", "arbiter.endpoint") that keep their old value until
// poold restarts.
func restartNeeded(r reply) []string {
	var out []string
	names, _ := r["restart_needed"].([]any)
	for _, n := range names {
		out = append(out, render(n))
	}
	return out
}

// restartWarnings are the stderr lines for settings a reload left at
// their old value, none when there are none. The reload itself succeeded
// (as systemctl reload does when it warns of a unit file changed on
// disk), so they do not change the exit status: poold keeps comparing
// with the values it runs with, so every later reloadconfig names the
// same settings until the restart, and an exit 1 would fail them all.
// An upgrade in place keeps [arbiter]'s (its endpoints are handed over as
// they are) but binds [web]'s listeners where the file says: each group
// says what applies it.
func restartWarnings(r reply) []string {
	var kept, upgraded []string
	for _, s := range restartNeeded(r) {
		if strings.HasPrefix(s, "web.") {
			upgraded = append(upgraded, s)
		} else {
			kept = append(kept, s)
		}
	}
	var out []string
	if len(kept) > 0 {
		out = append(out, fmt.Sprintf("warning: %s changed in the config but %s until poold restarts (poolctl upgrade keeps it too); restart poold to apply it",
			strings.Join(kept, ", "), keepVerb(kept)))
	}
	if len(upgraded) > 0 {
		out = append(out, fmt.Sprintf("warning: %s changed in the config but %s until poold restarts or is upgraded in place; run poolctl upgrade, or restart poold, to apply it",
			strings.Join(upgraded, ", "), keepVerb(upgraded)))
	}
	return out
}

func keepVerb(keys []string) string {
	if len(keys) > 1 {
		return "keep their old value"
	}
	return "keeps its old value"
}

// configWarnings are the reply's warnings, each "warning: " and the
// line: what the config poold read let pass but the user should hear of
// (an override variable of a watcher the file does not define, a
// deprecated key). poold adds the key only when there are some.
func configWarnings(r reply) []string {
	var out []string
	lines, _ := r["warnings"].([]any)
	for _, l := range lines {
		out = append(out, "warning: "+render(l))
	}
	if n := int(num(r["warnings_known"])); n > 0 {
		// poold tells again only what the file did not warn of before.
		out = append(out, fmt.Sprintf("%d warning(s) of the last load still apply, not repeated ('poold --check FILE' lists every one)", n))
	}
	return out
}

// scaleWarnings warn of a decr that went past the pool's size: poold
// stops at 0 workers, as circusd does, and then says what size the pool
// had (previous), unless it had none (an older poold sends 0 then); and
// of an incr or decr that an elastic pool's bounds held back: poold then
// says the bound (max or min) and its key (limit).
func scaleWarnings(command, name string, r reply) []string {
	if w := boundWarning(command, name, r); w != "" {
		return []string{w}
	}
	out := unservedWarnings(command, name, r)
	prev, ok := r["previous"].(float64)
	if command != "decr" || !ok || prev < 1 || num(r["numprocesses"]) != 0 {
		return out
	}
	return append([]string{fmt.Sprintf("warning: decr asked for more than the pool's %s, so it now has 0: every worker of it stops; poolctl incr %s N starts some again", workers(prev), nameOr(name))}, out...)
}

// unservedWarnings warn of each socket a decr, a set of numprocesses or
// a stop left with no worker to accept on it (the reply's
// unserved_sockets): its connections wait in the backlog, and a client
// sees no error until its own timeout.
func unservedWarnings(command, name string, r reply) []string {
	socks, _ := r["unserved_sockets"].([]any)
	var fix string
	switch command {
	case "decr", "set":
		fix = fmt.Sprintf("until one starts (poolctl incr %s N)", nameOr(name))
	case "stop":
		fix = "until it starts again (poolctl start " + nameOr(name) + ")"
		if name == "" {
			fix = "until a watcher that uses it starts (poolctl start)"
		}
	default:
		return nil
	}
	of := ""
	if name != "" {
		of = " of " + name
	}
	var out []string
	for _, s := range socks {
		out = append(out, fmt.Sprintf("warning: socket %s is now served by no worker%s: connections wait in its backlog %s", render(s), of, fix))
	}
	return out
}

// boundWarning is the warning of an incr stopped at the pool's max, or a
// decr at its min; "" for any other reply.
func boundWarning(command, name string, r reply) string {
	key, _ := r["limit"].(string)
	prev, ok := r["previous"].(float64)
	if key == "" || !ok {
		return ""
	}
	n := num(r["numprocesses"])
	word, bound, verb, fix := "max", r["max"], "grow", "raise"
	if command == "decr" {
		word, bound, verb, fix = "min", r["min"], "shrink", "lower"
	}
	b, ok := bound.(float64)
	if !ok {
		return ""
	}
	how := fmt.Sprintf("(poolctl set %s %s N)", nameOr(name), key)
	if n == prev {
		return fmt.Sprintf("warning: %s changed nothing: the pool is already at its %s of %s (%s); %s %s to %s it %s",
			command, word, workers(b), key, fix, key, verb, how)
	}
	return fmt.Sprintf("warning: %s stopped at the pool's %s of %s (%s), short of what was asked; %s %s to %s it further %s",
		command, word, workers(b), key, fix, key, verb, how)
}

// nameOr is name, or NAME where the command named no watcher.
func nameOr(name string) string {
	if name == "" {
		return "NAME"
	}
	return name
}

// workers is "1 worker", "N workers".
func workers(n float64) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", int(n))
}

// printFates prints "PREFIXNAME: FATE" lines, by name.
func printFates(w io.Writer, prefix string, fate map[string]string) error {
	for _, n := range slices.Sorted(maps.Keys(fate)) {
		if _, err := fmt.Fprintf(w, "%s%s: %s\n", prefix, n, fate[n]); err != nil {
			return err
		}
	}
	return nil
}

// formatSocketOutcome prints "socket NAME: added" (removed, updated,
// "renamed to NEW") for each socket a reload changed, by name.
func formatSocketOutcome(w io.Writer, r reply) error {
	socks, _ := r["sockets"].(map[string]any)
	fate := map[string]string{}
	for _, k := range []string{"added", "removed", "updated"} {
		names, _ := socks[k].([]any)
		for _, n := range names {
			fate[render(n)] = k
		}
	}
	renamed, _ := socks["renamed"].(map[string]any)
	for from, to := range renamed {
		fate[from] = "renamed to " + render(to)
	}
	return printFates(w, "socket ", fate)
}

// formatReload prints the outcome per watcher when poold reports it, else
// what formatLifecycle prints ("ok", or the started/stopped/kept pids).
func formatReload(w io.Writer, r reply) error {
	if hasOutcome(r) {
		return formatOutcome(w, r)
	}
	return formatLifecycle(w, r)
}

// fateFields are the reply's per-watcher reasons and how each is worded.
var fateFields = []struct{ key, prefix string }{
	{"not_started", "added, not started: "},
	{"failed", "added, then "},
	{"ended", "added, then "},
	{"cut_short", "cut short: "},
	{"rolled_back", "rolled back: "},
}
