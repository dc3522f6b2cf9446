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
	"tail":     "`poolctl logs NAME` prints a watcher's recent output and `poolctl logs NAME -f` follows it (--wid N: one worker's; without NAME: every watcher's)",
	"fg":       "`poolctl logs NAME -f` follows a watcher's output; poold attaches no terminal to a worker",
	"maintail": "poold's own log is its stderr, where its service manager keeps it (journalctl -u poold under systemd); `poolctl events` follows what happens",
	"pid":      "`poolctl list NAME` prints a watcher's pids, `poolctl globaloptions` poold's own pid",
	"clear":    noLogToClear,
	"shutdown": "`poolctl quit` stops every watcher and makes poold exit",
	"remove":   "`poolctl rm NAME` stops and removes a watcher",
}

const noLogToClear = "poold has no log to clear: a watcher's log file rotates by log_max_size and log_keep, and `poolctl reopen NAME` reopens it after logrotate"

// pm2Hints is supervisorctlHints for PM2's commands. Cobra's guess sent
// `ps` to `rm` and `show` to `stop`.
var pm2Hints = map[string]string{
	"describe":   pm2Describe,
	"show":       pm2Describe,
	"info":       pm2Describe,
	"ls":         pm2List,
	"ps":         pm2List,
	"jlist":      "`poolctl stats --json` prints every watcher's processes as JSON, `poolctl status --json` each watcher's state",
	"prettylist": "`poolctl stats --json` prints every watcher's processes as JSON, `poolctl status --json` each watcher's state",
	"scale":      "`poolctl set NAME numprocesses N` sets a watcher's number of workers; `poolctl incr NAME [NB]` and `poolctl decr NAME [NB]` change it",
	"delete":     "`poolctl rm NAME` stops and removes a watcher (`poolctl stop NAME` only stops it)",
	"monit":      "`poolctl top` shows each watcher's and worker's CPU and memory live; so does the web console ([web] address)",
	"save":       pm2Save,
	"dump":       pm2Save,
	"resurrect":  "poold starts the watchers of its config file when it starts: a change made at run time is kept only by writing it in the file",
	"startup":    pm2Startup,
	"unstartup":  pm2Startup,
	"flush":      noLogToClear,
	"reloadLogs": "`poolctl reopen [NAME]` reopens the watchers' log files, after logrotate moved them",
}

const (
	pm2Describe = "`poolctl status NAME` says how a watcher is and why (changes made at run time, failed slots), `poolctl options NAME` lists its settings and `poolctl stats NAME` its processes"
	pm2List     = "`poolctl stats` lists every watcher's processes with CPU, memory, age and restarts; `poolctl status` says how each watcher is"
	pm2Save     = "poold keeps no dump: it runs what its config file says, so write changes made at run time (`poolctl status NAME` lists them as \"set at run time\") in the file"
	pm2Startup  = "poold is started at boot by the service manager: README \"Under systemd\" has a unit file to copy"
)

// foreignCommands adds a hidden command for each supervisorctl and PM2
// name in supervisorctlHints and pm2Hints: it is a usage error that says
// what to run, in place of cobra's closest-name guess.
func foreignCommands(root *cobra.Command) {
	for tool, hints := range map[string]map[string]string{"a supervisorctl": supervisorctlHints, "a PM2": pm2Hints} {
		for name, hint := range hints {
			root.AddCommand(&cobra.Command{
				Use:                name,
				Hidden:             true,
				DisableFlagParsing: true,
				Args:               cobra.ArbitraryArgs,
				RunE: func(*cobra.Command, []string) error {
					return usagef("%s is %s command; poolctl has none by that name: %s", name, tool, hint)
				},
			})
		}
	}
}
