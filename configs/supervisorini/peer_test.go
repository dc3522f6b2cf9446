package supervisorini

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// supervisordDump is what supervisord 4 makes of a file: it realizes
// its options (supervisor.options.ServerOptions, the code supervisord
// runs at start) and prints each program's fields named in argv[2].
const supervisordDump = `import json, sys
from supervisor.options import ServerOptions
o = ServerOptions()
o.realize(args=["-c", sys.argv[1]])
out = {}
for g in o.process_group_configs:
    for p in g.process_configs:
        out[p.name] = {k: str(getattr(p, k)) for k in sys.argv[2].split(",")}
print(json.dumps(out))
`

// supervisordReads returns, per program, the fields of the file at path
// as supervisord reads them. supervisord is a peer: without it the test
// is skipped, except under CI (.ci/run installs it).
func supervisordReads(t *testing.T, path string, fields ...string) map[string]map[string]string {
	t.Helper()
	proctest.Tool(t, "supervisord", "supervisor")
	proctest.PythonModules(t, "/usr/bin/python3", "supervisor.options", "supervisor")
	out, err := exec.Command("/usr/bin/python3", "-c", supervisordDump, path, strings.Join(fields, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("supervisord reading %s: %v\n%s", path, err, out)
	}
	var got map[string]map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "@DIR@", dir)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Defects (r53b review, findings 1 to 4): poold read '#' comments into
// values, %(here)s in an included file as the main file's directory,
// kept the first of a repeated option or section where supervisord
// keeps the last, and took Command= for another option than command=.
// Each program's command, directory, autorestart and stdout_logfile are
// compared with what supervisord itself makes of the same files.
func TestReadsFilesAsSupervisord(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"main.conf": `[supervisord]
logfile=@DIR@/supervisord.log  # its own log
pidfile=@DIR@/supervisord.pid
[include]
files=conf.d/*.conf
[program:main]
command=/bin/sleep 100 # keep alive
directory=%(here)s
stdout_logfile=%(here)s/main.log  # the log
startsecs=2 # two seconds
`,
		"conf.d/app.conf": `[program:app]
Command=/bin/sleep 101
Directory=%(here)s
AutoRestart=false
stdout_logfile=%(here)s/app.log ; the log
command=/bin/sleep 102
[program:again]
command=/bin/sleep 103
[program:again]
command=/bin/sleep 104
`,
		"conf.d/zz.conf": `[program:main]
directory=%(here)s
`,
	})
	main := filepath.Join(dir, "main.conf")
	want := supervisordReads(t, main, "command", "directory", "autorestart", "stdout_logfile", "startsecs")
	doc, err := Translate(main, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Watchers) != len(want) {
		t.Fatalf("%d watchers, supervisord has %d programs: %v", len(cfg.Watchers), len(want), want)
	}
	for _, w := range cfg.Watchers {
		sup, ok := want[w.Name]
		if !ok {
			t.Errorf("watcher %s: supervisord has no such program (%v)", w.Name, want)
			continue
		}
		respawn := sup["autorestart"] != "False"
		logfile, wdir := sup["stdout_logfile"], sup["directory"]
		if strings.Contains(logfile, "Automatic") {
			logfile = "stderr" // AUTO: poold's own log (see the README)
		}
		if wdir == "None" {
			wdir = ""
		}
		if w.Cmd != sup["command"] || w.WorkingDir != wdir || w.Respawn != respawn || w.Logs.Stdout != logfile {
			t.Errorf("watcher %s: cmd %q, working_dir %q, respawn %v, stdout_log %q; supervisord: %v",
				w.Name, w.Cmd, w.WorkingDir, w.Respawn, w.Logs.Stdout, sup)
		}
		if sup["startsecs"] == "2" && w.ReadyDelay.String() != "2s" {
			t.Errorf("watcher %s: ready_delay %s, supervisord's startsecs %s", w.Name, w.ReadyDelay, sup["startsecs"])
		}
	}
	// Each repeat is a warning naming both places.
	var repeats []string
	for _, n := range doc.Warnings() {
		if strings.Contains(n.Msg, "first at") {
			repeats = append(repeats, n.String())
		}
	}
	wantRepeats := []string{
		dir + "/conf.d/app.conf:6: [program:app] command: set again (first at " + dir + "/conf.d/app.conf:2)",
		dir + "/conf.d/app.conf:9: [program:again]: section given again (first at " + dir + "/conf.d/app.conf:7)",
		dir + "/conf.d/app.conf:10: [program:again] command: set again (first at " + dir + "/conf.d/app.conf:8)",
		dir + "/conf.d/zz.conf:1: [program:main]: section given again (first at " + dir + "/main.conf:6)",
		dir + "/conf.d/zz.conf:2: [program:main] directory: set again (first at " + dir + "/main.conf:8)",
	}
	if len(repeats) != len(wantRepeats) {
		t.Fatalf("repeat warnings:\n%s\nwant:\n%s", strings.Join(repeats, "\n"), strings.Join(wantRepeats, "\n"))
	}
	for i, w := range wantRepeats {
		if !strings.HasPrefix(repeats[i], w) {
			t.Errorf("warning %q, want it to start %q", repeats[i], w)
		}
	}
}

// supervisordGroups is each program's group priority as supervisord
// realizes the file: the level it starts and stops the program at.
const supervisordGroups = `import json, sys
from supervisor.options import ServerOptions
o = ServerOptions()
o.realize(args=["-c", sys.argv[1]])
print(json.dumps({p.name: g.priority for g in o.process_group_configs for p in g.process_configs}))
`

// Defect (r53b review, finding 8): [group:NAME] priority was ignored
// without a word, and a grouped program took its own priority, where
// supervisord starts and stops the group as a whole at the group's
// (default 999). Each watcher's priority is 999 minus the group
// priority supervisord itself gives the program; a program whose own
// priority is lost is a warning.
func TestGroupPriorityAsSupervisord(t *testing.T) {
	dir := writeFiles(t, map[string]string{"s.conf": `[supervisord]
logfile=@DIR@/supervisord.log
pidfile=@DIR@/supervisord.pid
[program:app]
command=/bin/sleep 100
priority=5
[program:late]
command=/bin/sleep 101
priority=3
[group:g]
programs=late
priority=0
[program:kid]
command=/bin/sleep 102
priority=5
[program:stub]
command=/bin/sleep 103
[group:grp]
programs=kid,stub
`})
	path := filepath.Join(dir, "s.conf")
	proctest.Tool(t, "supervisord", "supervisor")
	out, err := exec.Command("/usr/bin/python3", "-c", supervisordGroups, path).CombinedOutput()
	if err != nil {
		t.Fatalf("supervisord: %v\n%s", err, out)
	}
	var want map[string]int
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	doc, err := Translate(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range cfg.Watchers {
		if w.Priority != 999-want[w.Name] {
			t.Errorf("watcher %s: priority %d, want %d (supervisord's group priority %d)", w.Name, w.Priority, 999-want[w.Name], want[w.Name])
		}
	}
	var warned []string
	for _, n := range doc.Warnings() {
		if n.Key == "priority" {
			warned = append(warned, n.Section)
		}
	}
	slices.Sort(warned) // late is alone in its group: nothing lost
	if !slices.Equal(warned, []string{"program:kid", "program:stub"}) {
		t.Errorf("priority warnings on %v, want [program:kid program:stub]", warned)
	}
}
