package supervisorini

import (
	"fmt"
	"slices"

	"github.com/poold/poold/configs/translate"
)

// programKeys are the options supervisord 4 reads in a [program:NAME]
// (also [fcgi-program:NAME]: its socket options), and poold's
// max_processes: a key not among them is a typo, not an option poold
// lacks.
var programKeys = []string{
	"command", "process_name", "numprocs", "numprocs_start", "priority", "autostart",
	"startsecs", "startretries", "autorestart", "exitcodes", "stopsignal", "stopwaitsecs",
	"stopasgroup", "killasgroup", "user", "redirect_stderr",
	"stdout_logfile", "stdout_logfile_maxbytes", "stdout_logfile_backups", "stdout_capture_maxbytes",
	"stdout_events_enabled", "stdout_syslog",
	"stderr_logfile", "stderr_logfile_maxbytes", "stderr_logfile_backups", "stderr_capture_maxbytes",
	"stderr_events_enabled", "stderr_syslog",
	"environment", "directory", "umask", "serverurl",
	"socket", "socket_owner", "socket_mode", "socket_backlog",
	"max_processes",
}

// supervisordKeys are the options supervisord 4 reads in [supervisord],
// and poold's max_processes.
var supervisordKeys = []string{
	"logfile", "logfile_maxbytes", "logfile_backups", "loglevel", "pidfile", "umask",
	"nodaemon", "silent", "minfds", "minprocs", "nocleanup", "childlogdir", "user",
	"directory", "strip_ansi", "environment", "identifier", "max_processes",
}

// unknownKey is the note on an option of section (its [NAME] form:
// [program:NAME]) that supervisord does not read either, with the
// closest known key (translate.Closest: configs.Closest, the rule of poold's other
// formats); "" when key is one of known.
func unknownKey(key, section string, known []string) string {
	if slices.Contains(known, key) {
		return ""
	}
	msg := fmt.Sprintf("unknown supervisord option in %s, ignored (supervisord ignores it too)", section)
	if c := translate.Closest(key, known); c != "" {
		msg += fmt.Sprintf("; did you mean %q?", c)
	}
	return msg
}

// supervisordNoEquivalent words a known [supervisord] option poold has
// no equivalent for, saying what to do instead where poold has a way.
func supervisordNoEquivalent(key string) string {
	switch key {
	case "logfile", "logfile_maxbytes", "logfile_backups":
		return "no poold equivalent: poold writes its own log to stderr, where its service manager keeps it (journalctl -u poold under systemd); redirect stderr to keep it in a file (poold FILE 2>>/var/log/poold.log) and rotate that with logrotate"
	case "pidfile":
		return "no poold equivalent: poold writes no pid file; its pid is systemd's MAINPID (systemctl show -p MainPID poold) or `poolctl globaloptions pid`"
	}
	return "no poold equivalent for this [supervisord] option"
}
