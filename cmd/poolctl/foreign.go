package main

import (
	"github.com/spf13/cobra"
)

// supervisorctlHints names, for each supervisorctl command poolctl has no
// command of that name for, what does its job here. Cobra's closest-name
// suggestion sent a supervisorctl user typing `reread` to `reload`, which
// replaces every worker, and `pid` to `add`.
var supervisorctlHints = map[string]string{
	"reread":   "`poolctl reloadconfig` re-reads poold's config file and applies the differences (reread and update in one step)",
	"update":   "`poolctl reloadconfig` re-reads poold's config file and applies the differences (reread and update in one step)",
	"avail":    "`poolctl list` lists the watchers, `poolctl status` says how each is",
	"tail":     "`poolctl logs NAME` prints a watcher's recent output and `poolctl logs NAME -f` follows it (--wid N: one worker's)",
	"fg":       "`poolctl logs NAME -f` follows a watcher's output; poold attaches no terminal to a worker",
	"maintail": "poold's own log is its stderr, where its service manager keeps it (journalctl -u poold under systemd); `poolctl events` follows what happens",
	"pid":      "`poolctl list NAME` prints a watcher's pids, `poolctl globaloptions` poold's own pid",
	"clear":    "poold has no log to clear: a watcher's log file rotates by log_max_size and log_keep, and `poolctl reopen NAME` reopens it after logrotate",
	"shutdown": "`poolctl quit` stops every watcher and makes poold exit",
	"remove":   "`poolctl rm NAME` stops and removes a watcher",
}

// supervisorctlCommands adds a hidden command for each supervisorctl
// name in supervisorctlHints: it is a usage error that says what to run.
func supervisorctlCommands(root *cobra.Command) {
	for name, hint := range supervisorctlHints {
		root.AddCommand(&cobra.Command{
			Use:                name,
			Hidden:             true,
			DisableFlagParsing: true,
			Args:               cobra.ArbitraryArgs,
			RunE: func(*cobra.Command, []string) error {
				return usagef("%s is a supervisorctl command; poolctl has none by that name: %s", name, hint)
			},
		})
	}
}
