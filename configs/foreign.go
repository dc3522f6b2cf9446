// Keys of other process managers' configs: what poold calls them, so that
// a user moving a config by hand gets a pointer rather than a guess.

package configs

import (
	"fmt"
	"slices"
	"strings"
)

// foreignKey is what a key of Circus, supervisord or PM2 is in poold.
type foreignKey struct {
	pm   string // whose name it is: circus (Circus or supervisord), pm2
	key  string // poold's key; "" when poold has none
	note string // how to write it: after key, or in place of one
}

const (
	fromCircus = "circus"
	fromPM2    = "pm2"
)

// foreignKeys maps the option names a user moving a config by hand is
// likely to keep, and that are too far from poold's name for closest to
// suggest it, or near a key of another meaning (PM2's cwd is one edit
// from cmd), onto poold's key. A key here is never guessed at.
var foreignKeys = map[string]foreignKey{
	"max_retry":    {fromCircus, "flapping_max_retry", ""},
	"command":      {fromCircus, "cmd", ""},
	"directory":    {fromCircus, "working_dir", ""},
	"user":         {fromCircus, "uid", ""},
	"environment":  {fromCircus, "env", ""},
	"stopwaitsecs": {fromCircus, "graceful_timeout", ""},
	"autorestart":  {fromCircus, "respawn", ""},
	"exitcodes":    {fromCircus, "no_respawn_exit_codes", ""},
	"startretries": {fromCircus, "flapping_attempts", ""},
	"so_reuseport": {fromCircus, "reuseport", ""},
	"replace":      {fromCircus, "replace_stale", ""},
	"loglevel":     {fromCircus, "log_level", ""},

	"cwd":                       {fromPM2, "working_dir", ""},
	"instances":                 {fromPM2, "numprocesses", `; for PM2's "max" (one per CPU) set POOLD_WATCHERS_<NAME>_NUMPROCESSES=$(nproc) where poold starts`},
	"max_memory_restart":        {fromPM2, "max_rss", ""},
	"kill_timeout":              {fromPM2, "graceful_timeout", ""},
	"script":                    {fromPM2, "cmd", ` (the program; its arguments go in args)`},
	"interpreter":               {fromPM2, "cmd", `: cmd = "python3", args = ["app.py"]`},
	"out_file":                  {fromPM2, "stdout_log", ""},
	"error_file":                {fromPM2, "stderr_log", ""},
	"min_uptime":                {fromPM2, "backoff_reset", ` (the uptime after which a worker's death no longer counts as early)`},
	"max_restarts":              {fromPM2, "flapping_attempts", ` (early deaths in a row that pause the slot; flapping_max_retry pauses make it give up)`},
	"listen_timeout":            {fromPM2, "ready_timeout", ""},
	"wait_ready":                {fromPM2, "readiness", ` = "notify" (the worker sends READY=1 on $NOTIFY_SOCKET, systemd's protocol)`},
	"restart_delay":             {fromPM2, "backoff_min", ` (poold delays only the restart of a worker that died early, doubling up to backoff_max)`},
	"exp_backoff_restart_delay": {fromPM2, "backoff_min", ` (the first delay; it doubles up to backoff_max)`},
	"cron_restart":              {fromPM2, "", "run `poolctl reload NAME` from cron (a rolling restart, new workers before old); max_age recycles workers by age"},
	"watch":                     {fromPM2, "", "poold watches no files: use the server's own --reload (uvicorn, gunicorn), or run `poolctl reload NAME` from watchexec or entr"},
	"ignore_watch":              {fromPM2, "", "poold watches no files: use the server's own --reload (uvicorn, gunicorn), or run `poolctl reload NAME` from watchexec or entr"},
}

// pm2EnvNote says how poold writes PM2's env_production, env_staging...
const pm2EnvNote = "poold has no per-environment sections: override keys where poold starts (POOLD_WATCHERS_<NAME>_ENV='[\"K=V\", ...]' replaces the whole env list), or use a second file"

// lookupForeign returns what k is in poold, when it is another process
// manager's key of a section with the keys valid.
func lookupForeign(k string, valid []string) (foreignKey, bool) {
	lk := strings.ToLower(k)
	f, ok := foreignKeys[lk]
	if !ok && strings.HasPrefix(lk, "env_") && slices.Contains(valid, "env") {
		f, ok = foreignKey{fromPM2, "", pm2EnvNote}, true
	}
	return f, ok
}

// foreignMsg says what poold calls the foreign key k (its lookupForeign
// entry f), or "" when the section has no such key (cwd of a socket):
// the key is then neither explained nor guessed at.
func foreignMsg(k string, f foreignKey, valid []string) string {
	switch {
	case f.key != "" && !slices.Contains(valid, f.key):
		return ""
	case f.key == "" && !slices.Contains(valid, "cmd"): // not a watcher's table
		return ""
	case f.pm == fromCircus:
		return fmt.Sprintf("%s is Circus's or supervisord's name: poold's is %q (README \"Coming from Circus or supervisord\" says how it maps), or run the file through poold convert", k, f.key)
	case f.key == "":
		return fmt.Sprintf("%s is PM2's and has no poold key: %s (README \"Coming from PM2\")", k, f.note)
	}
	return fmt.Sprintf("%s is PM2's name: poold's is %q%s (README \"Coming from PM2\" maps the others)", k, f.key, f.note)
}

// ClosestKey is the key of valid that an unknown key k most likely
// meant: poold's name for another process manager's key, else closest's
// guess; "" when none, and never a guess for a foreign key whose
// section has no equivalent.
func ClosestKey(k string, valid []string) string {
	if f, ok := lookupForeign(k, valid); ok {
		if f.key != "" && slices.Contains(valid, f.key) {
			return f.key
		}
		return ""
	}
	return closest(k, valid)
}

// foreignOwner is whose name the foreign key f is, possessive.
func foreignOwner(f foreignKey) string {
	if f.pm == fromPM2 {
		return "PM2's"
	}
	return "Circus's or supervisord's"
}

// endsInForeignKey reports whether the POOLD_* variable name ends in
// another process manager's key (POOLD_WATCHERS_WEB_CWD): the guess by
// whole names (POOLD_WATCHERS_WEB_CMD) would then be of another meaning.
func endsInForeignKey(name string) bool {
	ln := strings.ToLower(name)
	for k := range foreignKeys {
		if strings.HasSuffix(ln, "_"+k) {
			return true
		}
	}
	return false
}
