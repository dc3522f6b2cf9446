// Package supervisorini translates a supervisord configuration
// ([program:NAME], [fcgi-program:NAME] and what surrounds them) into a
// poold configuration, noting each option that has no poold equivalent or
// means something different. `poold convert supervisord.conf` writes the
// result as TOML.
//
// Concurrency: plain functions; Translate reads files and the given
// environment and keeps nothing.
package supervisorini

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/poold/poold/configs/translate"
)

// Detect reports whether data looks like a supervisord file: its first
// section is [supervisord], [program:NAME], [fcgi-program:NAME],
// [group:NAME], [include], [unix_http_server], [inet_http_server] or
// [supervisorctl].
func Detect(data []byte) bool {
	s := translate.FirstSection(data)
	switch s {
	case "supervisord", "include", "unix_http_server", "inet_http_server", "supervisorctl":
		return true
	}
	for _, p := range []string{"program:", "fcgi-program:", "group:", "eventlistener:", "rpcinterface:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

type translator struct {
	doc     *translate.Doc
	ini     *translate.INI
	path    string
	environ map[string]string
	here    string
	env     []string          // [supervisord] environment, for every program
	umask   string            // [supervisord] umask, for every program without one
	groups  map[string]string // program name -> its [group:NAME]
	refused []string          // what supervisord would refuse too, one line each
	frozen  []frozenUse       // expansions that took this machine's value (expand.go)
}

// Translate reads the supervisord file at path (and its [include] files)
// and translates it. environ stands for supervisord's environment
// (%(ENV_X)s is expanded from it).
func Translate(path string, environ []string) (*translate.Doc, error) {
	ini, err := translate.ReadSupervisordINI(nil, path)
	if err != nil {
		return nil, fmt.Errorf("supervisorini: %w", err)
	}
	abs, _ := filepath.Abs(path)
	t := &translator{doc: &translate.Doc{Source: path, Keys: pooldKeys, Words: confWords}, ini: ini, path: path, here: filepath.Dir(abs), environ: map[string]string{}}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := t.environ[k]; !dup {
			t.environ[k] = v
		}
	}
	t.doc.Header = []string{
		fmt.Sprintf("poold configuration converted from the supervisord file %s by `poold convert`.", path),
		"Lines starting with \"NOT MAPPED\" name options poold has no equivalent for;",
		"\"note\" lines name options that map with a different meaning. Review them.",
	}
	if err := t.includes(); err != nil {
		return nil, err
	}
	ini.ApplyDefaults()
	t.readGroups()
	arb := t.doc.Section("arbiter")
	// errors about [arbiter] keys name [supervisord] (set there if present)
	arb.From = &translate.INISection{Name: "supervisord", File: path}
	arb.Comment("supervisorctl is replaced by poolctl (or circusctl) on this control endpoint")
	// [supervisord] first: its environment and umask apply to every
	// program, wherever the section stands in the file.
	if s := ini.Section("supervisord"); s != nil {
		t.supervisord(s)
	}
	for _, s := range ini.Sections {
		switch {
		case s.Name == "supervisord", s.Name == "include":
		case strings.HasPrefix(s.Name, "program:"):
			t.program(s, strings.TrimPrefix(s.Name, "program:"), false)
		case strings.HasPrefix(s.Name, "fcgi-program:"):
			t.program(s, strings.TrimPrefix(s.Name, "fcgi-program:"), true)
		case strings.HasPrefix(s.Name, "group:"):
			t.info(arb, s, "programs", "poold has no groups: start, stop and reload each watcher by name (or all at once); the group's priority is each of its programs' priority")
		case s.Name == "unix_http_server" || s.Name == "inet_http_server" || s.Name == "supervisorctl" || strings.HasPrefix(s.Name, "rpcinterface:"):
			t.info(arb, s, "", "not needed: poolctl and circusctl talk to poold's control endpoint ([arbiter] endpoint); the web console is [web]")
		case strings.HasPrefix(s.Name, "eventlistener:"):
			t.warn(arb, s, "", "supervisord event listeners have no poold equivalent; poold publishes events on [arbiter] pubsub_endpoint (poolctl events)")
		default:
			t.warn(arb, s, "", "unknown section, ignored")
		}
	}
	t.repeats() // after the sections: a watcher keeps its place in the file's order
	if len(t.refused) > 0 {
		return nil, errors.New(strings.Join(t.refused, "\n"))
	}
	t.doc.SortSections()
	return t.doc, nil
}

func (t *translator) note(level translate.Level, out *translate.Section, s *translate.INISection, key, msg string) {
	n := translate.Note{Level: level, File: s.File, Line: s.Line, Section: s.Name, Key: key, Msg: msg}
	for _, o := range s.Options {
		if o.Key == key {
			n.File, n.Line = o.File, o.Line
		}
	}
	t.doc.Note(out, n)
}

func (t *translator) warn(out *translate.Section, s *translate.INISection, key, msg string) {
	t.note(translate.Warn, out, s, key, msg)
}

func (t *translator) info(out *translate.Section, s *translate.INISection, key, msg string) {
	t.note(translate.Info, out, s, key, msg)
}

// refuse records what supervisord refuses to start with (the first such
// thing is Translate's error), naming file, line, section and key.
func (t *translator) refuse(s *translate.INISection, key, msg string) {
	n := translate.Note{File: s.File, Line: s.Line, Section: s.Name, Key: key, Msg: msg}
	for _, o := range s.Options {
		if o.Key == key {
			n.File, n.Line = o.File, o.Line
		}
	}
	// every refusal at once, as --check reports a config's problems;
	// an option read twice (expanded for two purposes) is told once
	if line := fmt.Sprintf("supervisorini: %s", n); !slices.Contains(t.refused, line) {
		t.refused = append(t.refused, line)
	}
}

// supervisord maps the [supervisord] section.
func (t *translator) supervisord(s *translate.INISection) {
	arb := t.doc.Section("arbiter")
	arb.From = s
	for _, o := range s.Options {
		v := t.expand(s, o.Key, o.Value, scope{})
		switch o.Key {
		case "loglevel":
			lvl := strings.ToLower(strings.TrimSpace(v))
			switch lvl {
			case "critical":
				lvl = "error"
			case "blather":
				lvl = "trace"
			}
			arb.Set("log_level", lvl)
		case "nodaemon":
			t.info(arb, s, o.Key, "poold always runs in the foreground; let the service manager run it")
		case "environment":
			env, err := parseEnvironment(v)
			if err != nil {
				t.refuse(s, o.Key, err.Error())
				continue
			}
			t.env = env
			t.info(arb, s, o.Key, "applied to every program")
		case "max_processes":
			arb.Set("max_processes", toInt(v))
			t.info(arb, s, o.Key, maxProcessesNote)
		case "umask":
			t.umask = strings.TrimSpace(v)
			t.info(arb, s, o.Key, "the umask of every program that sets none, as supervisord sets its own (when it daemonizes) for its programs to inherit")
		default:
			msg := unknownKey(o.Key, "[supervisord]", supervisordKeys)
			if msg == "" {
				msg = supervisordNoEquivalent(o.Key)
			}
			t.warn(arb, s, o.Key, msg)
		}
	}
	t.noteFrozen(arb, s)
}

// oneNamePerProcess refuses numprocs above 1 with a process_name that
// does not tell the processes apart, as supervisord does: each would get
// the same SUPERVISOR_PROCESS_NAME.
func (t *translator) oneNamePerProcess(s *translate.INISection, numprocs string) {
	if n, err := strconv.Atoi(numprocs); err != nil || n <= 1 {
		return
	}
	pname, _ := s.Get("process_name")
	if strings.Contains(pname, "%(process_num)") {
		return
	}
	key := "process_name"
	if pname == "" {
		key = "numprocs" // process_name is unset: its default, %(program_name)s
	}
	t.refuse(s, key, fmt.Sprintf("numprocs = %s needs %%(process_num) in process_name, or every process gets the same name (supervisord refuses it too): add process_name = %%(program_name)s_%%(process_num)d", numprocs))
}

// program maps one [program:NAME] or [fcgi-program:NAME].
func (t *translator) program(s *translate.INISection, name string, fcgi bool) {
	out := t.doc.Section("watchers", name)
	out.From = s
	numStart := 0
	if v, ok := s.Get("numprocs_start"); ok {
		numStart, _ = strconv.Atoi(strings.TrimSpace(v))
	}
	out.Set("copy_env", true)
	out.Comment("copy_env: supervisord's programs inherit its environment")
	group := name
	if g, ok := t.groups[name]; ok {
		group = g
	}
	sc := scope{program: name, group: group, numprocs: "1"}
	if v, ok := s.Get("numprocs"); ok {
		sc.numprocs = strings.TrimSpace(v)
	}
	sc.env = t.programEnv(s, sc)
	exp := func(key, v string) string {
		if key == "environment" {
			return t.expand(s, key, v, scope{program: sc.program, group: sc.group, numprocs: sc.numprocs})
		}
		return t.expand(s, key, v, sc)
	}
	t.oneNamePerProcess(s, exp("numprocs", sc.numprocs))
	env := t.supervisorEnv(out, s, exp, group)
	env = mergeEnv(env, t.env)
	t.restartPolicy(out, s, exp)
	if _, ok := s.Get("stopasgroup"); !ok {
		out.Comment("stop_children: supervisord's default stopasgroup = false (poold's is true): the stop signal goes to the program alone")
		out.Set("stop_children", false)
	}
	if _, ok := s.Get("stopwaitsecs"); !ok {
		out.Comment("graceful_timeout: supervisord's default stopwaitsecs of 10 s (poold's is 30 s)")
		out.Set("graceful_timeout", "10s")
	}
	var logs progLogs
	for _, o := range s.Options {
		t.paddingDropped(out, s, o)
		t.numberingShifted(out, s, o, numStart)
		if isLogOption(o.Key) {
			logs.add(o.Key, exp(o.Key, o.Value))
			continue
		}
		t.programOption(out, s, name, o, exp(o.Key, o.Value), numStart, &env)
	}
	t.logs(out, s, &logs)
	t.groupPriority(out, s, name)
	t.startDefaults(out, s)
	t.replaceOrder(out, s, exp("numprocs", sc.numprocs))
	t.noteFrozen(out, s)
	if _, ok := s.Get("umask"); !ok && t.umask != "" {
		out.Set("umask", t.umask)
	}
	if fcgi {
		if _, ok := s.Get("socket"); !ok {
			t.warn(out, s, "socket", "an fcgi-program needs a socket")
		}
	}
	if len(env) > 0 {
		out.Set("env", env)
	}
}

// programOption maps one option o (value v, expanded) of a program.
func (t *translator) programOption(out *translate.Section, s *translate.INISection, name string, o translate.INIOption, v string, numStart int, env *[]string) {
	switch o.Key {
	case "command":
		out.Set("cmd", v)
		if strings.Contains(o.Value, "%(process_num)") && numStart == 1 {
			t.info(out, s, o.Key, "%(process_num) became $(pool.wid), which counts from 1, as numprocs_start = 1 does")
		}
	case "numprocs":
		out.Set("numprocesses", toInt(v))
	case "numprocs_start":
	case "process_name":
		t.info(out, s, o.Key, "poold names workers by watcher and wid ($(pool.wid)); process_name only sets SUPERVISOR_PROCESS_NAME")
	case "directory":
		out.Set("working_dir", v)
	case "user":
		out.Set("uid", v)
	case "umask":
		out.Set("umask", v)
	case "priority":
		if _, grouped := t.groups[name]; !grouped { // else groupPriority
			t.priority(out, s, v)
		}
	case "max_processes":
		out.Set("max_processes", toInt(v))
		t.info(out, s, o.Key, maxProcessesNote)
	case "autostart":
		out.Set("autostart", toBool(v))
	case "autorestart", "exitcodes":
		// restartPolicy reads both together.
	case "startsecs":
		t.startsecs(out, s, v)
	case "startretries":
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			t.refuse(s, o.Key, fmt.Sprintf("%q: want a whole number of retries, as supervisord does", strings.TrimSpace(v)))
			return
		}
		if n < 0 { // supervisord takes it: FATAL after the first failed start
			n = 0
		}
		if startsecsZero(s) {
			return // no start fails: startDefaults says so
		}
		out.Set("flapping_attempts", n+1)
		out.Set("flapping_max_retry", int64(0))
		t.info(out, s, o.Key, fmt.Sprintf("mapped to flapping_attempts = %d (the first start and %d retries) with flapping_max_retry = 0: that many failed starts in a row and the slot gives up (FATAL in supervisord) until started again", n+1, n))
	case "stopsignal":
		out.Set("stop_signal", v)
	case "stopwaitsecs":
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n < 0 {
			out.Set("graceful_timeout", "0s") // supervisord takes it: SIGKILL at once
			return
		}
		out.Set("graceful_timeout", toSeconds(v))
	case "stopasgroup":
		out.Set("stop_children", toBool(v))
	case "killasgroup":
		t.info(out, s, o.Key, "poold always SIGKILLs the worker's whole process group (its cgroup with cgroups) at graceful_timeout, as killasgroup = true does")
	case "environment":
		e, err := parseEnvironment(v)
		if err != nil {
			t.refuse(s, o.Key, err.Error())
			return
		}
		*env = mergeEnv(*env, e)
	case "socket":
		t.socket(out, s, name, v)
	case "socket_owner", "socket_mode", "socket_backlog":
		t.socketOption(s, name, o.Key, v)
	default:
		if msg := unknownKey(o.Key, "[program:NAME]", programKeys); msg != "" {
			t.warn(out, s, o.Key, msg)
			return
		}
		if strings.HasPrefix(o.Key, "stdout_") || strings.HasPrefix(o.Key, "stderr_") {
			t.warn(out, s, o.Key, "no poold equivalent: poold maps *_logfile, *_logfile_maxbytes and *_logfile_backups (stdout_log, stderr_log, log_max_size, log_keep)")
			return
		}
		t.warn(out, s, o.Key, "no poold equivalent for this [program:NAME] option")
	}
}

// socket maps an fcgi-program's socket (tcp://HOST:PORT or unix:///PATH).
func (t *translator) socket(out *translate.Section, s *translate.INISection, name, v string) {
	sock := t.doc.Section("sockets", name)
	switch {
	case strings.HasPrefix(v, "tcp://"):
		host, port, ok := strings.Cut(strings.TrimPrefix(v, "tcp://"), ":")
		if !ok {
			t.warn(out, s, "socket", fmt.Sprintf("%q: want tcp://HOST:PORT", v))
			return
		}
		sock.Set("host", host)
		sock.Set("port", toInt(port))
	case strings.HasPrefix(v, "unix://"):
		sock.Set("path", strings.TrimPrefix(v, "unix://"))
	default:
		t.warn(out, s, "socket", fmt.Sprintf("%q: want tcp://HOST:PORT or unix:///PATH", v))
		return
	}
	out.Set("sockets", []string{name})
	t.warn(out, s, "socket", "changed meaning: poold passes the socket as fd 3 (with LISTEN_FDS=1), not as stdin (fd 0) as supervisord does for FastCGI; start the program so it serves on fd 3")
}

func (t *translator) socketOption(s *translate.INISection, name, key, v string) {
	sock := t.doc.Section("sockets", name)
	switch key {
	case "socket_mode":
		sock.Set("mode", strings.TrimSpace(v))
	case "socket_backlog":
		sock.Set("backlog", toInt(v))
	case "socket_owner": // user or user:group, as supervisord's chown
		owner, group, _ := strings.Cut(strings.TrimSpace(v), ":")
		sock.Set("owner", owner)
		if group != "" {
			sock.Set("group", group)
		}
	}
}

func toInt(v string) any {
	if i, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
		return i
	}
	return v
}

func toSeconds(v string) any {
	if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 {
		return strconv.FormatFloat(f, 'f', -1, 64) + "s"
	}
	return v
}

// toBool reads supervisord's booleans (true/false, yes/no, on/off, 1/0).
func toBool(v string) any {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "yes", "true", "on", "1":
		return true
	case "no", "false", "off", "0":
		return false
	}
	return v
}

// maxProcessesNote is the note on max_processes, which supervisord
// ignores and poold reads.
const maxProcessesNote = "a poold extension (supervisord ignores it): the ceiling of numprocs in [program:NAME] (default 1024), of all programs' together in [supervisord] (default 8192)"

// confWords tells poold's config advice in supervisord's option names.
var confWords = strings.NewReplacer(
	"set working_dir to an existing directory", "set directory to an existing directory",
	"set working_dir to a directory", "set directory to a directory",
	"set PATH in env)", "set PATH in environment)",
	"(cmd is split into words like a shell;", "(command is split into words like a shell;",
	`set the program to run, e.g. cmd = "/usr/bin/gunicorn"`, "set the program to run, e.g. command=/usr/bin/gunicorn")

// pooldKeys names, for config errors, the supervisord option a poold key
// came from.
var pooldKeys = map[string]string{
	"cmd": "command", "numprocesses": "numprocs", "working_dir": "directory",
	"uid": "user", "graceful_timeout": "stopwaitsecs", "stop_signal": "stopsignal", "stop_children": "stopasgroup",
	"respawn": "autorestart", "flapping_attempts": "startretries", "ready_delay": "startsecs",
	"backoff_reset": "startsecs", "backoff_max": "startsecs", "flapping_window": "startsecs", "no_respawn_exit_codes": "exitcodes",
	"log_level": "loglevel",
}

// priority maps a supervisord priority (lower starts first and stops
// last, default 999) to poold's (higher starts first and stops last,
// default 0): 999-p keeps the order of every mix of set and unset ones.
func (t *translator) priority(out *translate.Section, s *translate.INISection, v string) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		out.Set("priority", v) // poold's error names it
		return
	}
	out.Set("priority", int64(999-n))
	t.info(out, s, "priority", fmt.Sprintf("%d became %d (999 minus it): supervisord starts low priorities first and its default is 999, poold starts high ones first and its default is 0, so the order against programs without a priority stays the same", n, 999-n))
}

// paddingDropped warns when option o formats %(process_num) with a width
// or flags (%(process_num)02d): $(pool.wid) has no padding.
func (t *translator) paddingDropped(out *translate.Section, s *translate.INISection, o translate.INIOption) {
	for _, m := range exprRE.FindAllStringSubmatch(o.Value, -1) {
		if m[1] == "process_num" && m[2] != "" {
			var one any = 1
			if m[3] == "s" {
				one = "1"
			}
			t.warn(out, s, o.Key, fmt.Sprintf("%s: the format %q is dropped: poold's $(pool.wid) has no padding, so a worker gets 1 where supervisord gives %q; write %%(process_num)d (or keep the padding out of what needs it)", m[0], m[2], fmt.Sprintf("%"+m[2]+m[3], one)))
			return
		}
	}
}
