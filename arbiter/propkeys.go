package arbiter

import (
	"slices"
	"sort"
)

// commandProps are the properties each command reads. The control
// endpoint ignores any other, as circusd does (Circus clients send keys
// poold has no use for); the HTTPS API refuses them (web/apiprops.go),
// since there a misspelt or wrapped "name" would make a command meant
// for one watcher act on every watcher.
var commandProps = map[string][]string{
	"list":          {"name"},
	"status":        {"name"},
	"numwatchers":   nil,
	"numprocesses":  {"name"},
	"start":         {"name", "match", "waiting"},
	"stop":          {"name", "match", "waiting"},
	"restart":       {"name", "match", "waiting"},
	"reload":        {"name", "graceful", "sequential", "waiting"},
	"incr":          {"name", "nb", "waiting"},
	"decr":          {"name", "nb", "waiting"},
	"add":           {"name", "cmd", "args", "options", "start", "waiting"},
	"rm":            {"name", "nostop", "waiting"},
	"get":           {"name", "keys"},
	"set":           {"name", "options", "waiting"},
	"reset":         {"name", "keys", "waiting"}, // poold's own (reset.go)
	"options":       {"name"},
	"globaloptions": {"option"},
	"signal":        {"name", "signum", "pid", "childpid", "children", "recursive"},
	"kill":          {"name", "signum", "pid", "graceful_timeout", "waiting"},
	// extended: circusctl's; poold adds each process's open file
	// descriptors and their limit (fds, fds_limit).
	"stats":          {"name", "process", "extended"},
	"dstats":         nil,
	"listsockets":    nil,
	"reloadconfig":   {"waiting"},
	"quit":           {"waiting"},
	"events_since":   {"seq", "limit", "topics"},
	"upgrade":        {"waiting"},
	"upgrade_status": nil,
	"reopen":         {"name"},
	"logs":           {"name", "wid", "stream", "lines", "since"},
}

// Properties lists the properties command reads, sorted; nil for an
// unknown command or one that takes none.
func Properties(command string) []string {
	ps := slices.Clone(commandProps[command])
	sort.Strings(ps)
	return ps
}
