package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitNotRunning is `status --exit-code`'s status when a watcher that
// should run does not. supervisorctl's status uses 3 (LSB's "not
// running"), but poolctl's 3 has always meant "poold unreachable" for
// every command, and scripts tell the two apart: 4 is the first free one.
const exitNotRunning = 4

// notRunningError is `status --exit-code` finding watchers that should
// run and do not: exit 4.
type notRunningError struct{ msg string }

func (e notRunningError) Error() string { return e.msg }

// statusFlags adds status's own flags.
func statusFlags(fs *pflag.FlagSet) {
	fs.Bool("exit-code", false, fmt.Sprintf("exit %d when a watcher that should run does not (failed, flapping, starting, or fewer workers ready than it runs), as supervisorctl's status exits non-zero; a watcher stopped on purpose or a one-shot that did its work is fine", exitNotRunning))
}

// verdict judges a reply once it is printed; an error changes the exit
// status. name is the watcher the command named, "" for none.
type verdict func(ctx context.Context, a *app, client caller, name string, r reply) error

// statusVerdict is the judge of `status --exit-code`, nil without it.
func statusVerdict(c *cobra.Command) verdict {
	if on, _ := c.Flags().GetBool("exit-code"); !on {
		return nil
	}
	return func(ctx context.Context, a *app, client caller, name string, r reply) error {
		slotsOf := func(name string) ([]any, error) {
			cl := call{command: "status", what: "status " + name, props: map[string]any{"name": name}}
			_, one, err := a.roundTrip(ctx, client, cl, a.timeoutFor(noWait))
			if err != nil {
				return nil, err
			}
			if st, _ := one["status"].(string); st == "error" {
				return nil, nil // gone meanwhile: judged on the first reply
			}
			slots, _ := one["slots"].([]any)
			return slots, nil
		}
		bad, err := notRunning(r, name, slotsOf)
		if err != nil || len(bad) == 0 {
			return err
		}
		return notRunningError{fmt.Sprintf("status --exit-code: %d watcher(s) should run and do not: %s; 'poolctl status NAME' says why",
			len(bad), strings.Join(bad, ", "))}
	}
}

// notRunning lists, "NAME (why)", the watchers of a status reply (of
// every watcher, or of the one called name) that should run and do not: failed or
// flapping, starting, or active with fewer workers ready than it runs.
// stopped and stopping are a stop asked for (or a one-shot whose work is
// done, or an autostart = false watcher not started), not a failure.
// When an active watcher has fewer ready workers than it runs, slotsOf
// gives its slots: one whose worker ended as configured (respawn off, a
// no_respawn_exit_codes status) stays empty on purpose.
func notRunning(r reply, name string, slotsOf func(name string) ([]any, error)) ([]string, error) {
	words, all := stateWords(r)
	sizes, _ := r["sizes"].(map[string]any)
	if !all {
		words = map[string]any{name: stateWord(r)}
		sizes = map[string]any{name: r["size"]}
		slots := r["slots"]
		slotsOf = func(string) ([]any, error) { s, _ := slots.([]any); return s, nil }
	}
	var bad []string
	for _, name := range sortedKeys(words) {
		word, _ := words[name].(string)
		why, err := watcherShort(word, sizes[name], func() ([]any, error) { return slotsOf(name) })
		if err != nil {
			return nil, err
		}
		if why != "" {
			bad = append(bad, strings.TrimSpace(name+" ("+why+")"))
		}
	}
	return bad, nil
}

// watcherShort says why a watcher in state word, of size row size, does
// not run as it should, "" when it does.
func watcherShort(word string, size any, slots func() ([]any, error)) (string, error) {
	switch word {
	case "stopped", "stopping":
		return "", nil
	case "active":
	default: // failed, flapping, starting, and any word a newer poold adds
		if cell := readyCell(size, word); cell != "-" {
			return fmt.Sprintf("%s, %s ready", word, cell), nil
		}
		return word, nil
	}
	m, _ := size.(map[string]any)
	ready, ok := m["ready"].(float64)
	cur, ok2 := m["current"].(float64)
	if !ok || !ok2 || ready >= cur || m["elastic"] == true {
		// A poold too old to count ready workers; or all ready; or an
		// elastic pool, which poold calls active once its min_workers are.
		return "", nil
	}
	list, err := slots()
	if err != nil {
		return "", err
	}
	done := 0
	var empty []string
	for _, s := range list {
		row, _ := s.(map[string]any)
		switch st, _ := row["state"].(string); {
		case st == "exited" && row["failed"] != true:
			done++ // ended as configured: stays empty on purpose
		case !normalSlots[st]:
			empty = append(empty, fmt.Sprintf("wid %s %s", render(row["wid"]), st))
		}
	}
	if ready+float64(done) >= cur {
		return "", nil
	}
	why := fmt.Sprintf("active, %d/%d ready", int(ready), int(cur)-done)
	if len(empty) > 0 {
		why += ": " + strings.Join(empty, ", ")
	}
	return why, nil
}
