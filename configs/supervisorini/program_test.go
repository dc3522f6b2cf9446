package supervisorini

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// translated writes conf to a supervisord.conf and translates it.
func translated(t *testing.T, conf string) (*translate.Doc, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return doc, path
}

// translateConf translates conf and loads the result.
func translateConf(t *testing.T, conf string) (*translate.Doc, *configs.Config, string) {
	t.Helper()
	doc, path := translated(t, conf)
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	return doc, cfg, path
}

// configError translates conf and checks that the config error contains
// want, in which PATH stands for the file's path.
func configError(t *testing.T, conf, want string) {
	t.Helper()
	doc, path := translated(t, conf)
	_, err := doc.Config(false)
	if want = strings.ReplaceAll(want, "PATH", path); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// TestPriorityKeepsSupervisordOrder: supervisord starts the lowest
// priority first (default 999) and stops in reverse; poold starts the
// highest first (default 0) and stops in reverse. Real supervisord 4
// started this mix as d, a, b, e, c; the translation must too.
func TestPriorityKeepsSupervisordOrder(t *testing.T) {
	conf := "[supervisord]\n"
	for _, p := range []struct{ name, prio string }{{"a", "10"}, {"b", ""}, {"c", "2000"}, {"d", "-5"}, {"e", "1500"}} {
		conf += "[program:" + p.name + "]\ncommand = /bin/sleep 100\n"
		if p.prio != "" {
			conf += "priority = " + p.prio + "\n"
		}
	}
	_, cfg, _ := translateConf(t, conf)
	ws := slices.Clone(cfg.Watchers)
	slices.SortStableFunc(ws, func(x, y configs.Watcher) int { return y.Priority - x.Priority }) // poold: higher first
	var order []string
	for _, w := range ws {
		order = append(order, w.Name)
	}
	if want := []string{"d", "a", "b", "e", "c"}; !reflect.DeepEqual(order, want) {
		t.Errorf("poold start order %v, supervisord's %v", order, want)
	}
	configError(t, "[program:w]\ncommand = /bin/sleep 100\npriority = high\n",
		`PATH:3: [program:w] priority: must be an integer, got string "high"`)
}

// TestProcessNumPaddingWarns: $(pool.wid) cannot pad, so
// %(process_num)02d is a warning naming file, line, section and key.
func TestProcessNumPaddingWarns(t *testing.T) {
	doc, cfg, path := translateConf(t, "[program:web]\ncommand = /bin/echo %(process_num)02d\nnumprocs = 2\nnumprocs_start = 1\nprocess_name = %(program_name)s_%(process_num)d\n")
	if cfg.Watchers[0].Cmd != "/bin/echo $(pool.wid)" {
		t.Errorf("cmd %q", cfg.Watchers[0].Cmd)
	}
	var got []string
	for _, n := range doc.Warnings() {
		got = append(got, n.String())
	}
	want := path + `:2: [program:web] command: %(process_num)02d: the format "02" is dropped`
	if len(got) != 1 || !strings.HasPrefix(got[0], want) {
		t.Errorf("warnings %q, want one starting %q", got, want)
	}
}

// TestSupervisorEnvironment: each program gets SUPERVISOR_ENABLED,
// SUPERVISOR_PROCESS_NAME (process_name, per worker) and
// SUPERVISOR_GROUP_NAME ([group:NAME] or the program's name), under
// [supervisord] environment and the program's own, as supervisord does.
func TestSupervisorEnvironment(t *testing.T) {
	_, cfg, _ := translateConf(t, "[supervisord]\nenvironment = SHARED=1\n[group:g]\nprograms = web\n"+
		"[program:web]\ncommand = /bin/echo %(group_name)s\nnumprocs = 2\nprocess_name = %(program_name)s_%(process_num)d\nenvironment = SUPERVISOR_ENABLED=yes,OWN=2\n"+
		"[program:one]\ncommand = /bin/true\n")
	ws := map[string]configs.Watcher{}
	for _, w := range cfg.Watchers {
		ws[w.Name] = w
	}
	if want := []string{"SUPERVISOR_ENABLED=yes", "SUPERVISOR_PROCESS_NAME=web_$(pool.wid)", "SUPERVISOR_GROUP_NAME=g", "SHARED=1", "OWN=2"}; !reflect.DeepEqual(ws["web"].Env, want) {
		t.Errorf("web env %q, want %q", ws["web"].Env, want)
	}
	if ws["web"].Cmd != "/bin/echo g" {
		t.Errorf("web cmd %q: %%(group_name)s is the group's", ws["web"].Cmd)
	}
	if want := []string{"SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=one", "SUPERVISOR_GROUP_NAME=one", "SHARED=1"}; !reflect.DeepEqual(ws["one"].Env, want) {
		t.Errorf("one env %q, want %q", ws["one"].Env, want)
	}
}

// TestMaxProcessesExtension: numprocs over 1,024 can be allowed where the
// error says, [program:NAME] max_processes (supervisord ignores it), and
// the error names supervisord's keys.
func TestMaxProcessesExtension(t *testing.T) {
	_, cfg, _ := translateConf(t, "[supervisord]\nmax_processes = 9000\n[program:w]\ncommand = /bin/sleep 100\nnumprocs = 2000\nmax_processes = 4000\nprocess_name = w%(process_num)d\n")
	if w := cfg.Watchers[0]; w.NumProcesses != 2000 || w.MaxProcesses != 4000 || cfg.Arbiter.MaxProcesses != 9000 {
		t.Errorf("numprocesses %d, max_processes %d, arbiter %d", w.NumProcesses, w.MaxProcesses, cfg.Arbiter.MaxProcesses)
	}
	configError(t, "[program:w]\ncommand = /bin/sleep 100\nnumprocs = 2000\nprocess_name = w%(process_num)d\n",
		"PATH:3: [program:w] numprocs: 2000 is over max_processes 1024; raise [program:w] max_processes")
}

// TestNumprocsNeedsProcessNum: supervisord refuses numprocs above 1
// unless process_name holds %(process_num); the translation took it, and
// every worker got the same SUPERVISOR_PROCESS_NAME.
func TestNumprocsNeedsProcessNum(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{"numprocs = 2\n", ":3: [program:w] numprocs: numprocs = 2 needs %(process_num) in process_name"},
		{"numprocs = 2\nprocess_name = w\n", ":4: [program:w] process_name: numprocs = 2 needs %(process_num) in process_name"},
	} {
		path := confFile(t, "[program:w]\ncommand = /bin/sleep 100\n"+tc.opts)
		if _, err := Translate(path, nil); err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q: got %v, want %q", tc.opts, err, tc.want)
		}
	}
}

// TestStopAsGroupAsSupervisord: supervisord sends stopsignal to the
// program alone unless stopasgroup = true; the translator dropped the key
// with a note and poold signalled the whole process group, so a gunicorn
// master's workers had SIGTERM twice, from poold and from their master.
func TestStopAsGroupAsSupervisord(t *testing.T) {
	_, cfg, _ := translateConf(t, "[program:plain]\ncommand = /bin/sleep 100\n[program:group]\ncommand = /bin/sleep 100\nstopasgroup = true\n[program:off]\ncommand = /bin/sleep 100\nstopasgroup = false\nkillasgroup = true\n")
	want := map[string]bool{"plain": false, "group": true, "off": false}
	for _, w := range cfg.Watchers {
		if w.StopChildren != want[w.Name] {
			t.Errorf("program %s: stop_children %t, want %t as supervisord's stopasgroup", w.Name, w.StopChildren, want[w.Name])
		}
	}
	configError(t, "[program:w]\ncommand = /bin/sleep 100\nstopasgroup = maybe\n",
		`PATH:3: [program:w] stopasgroup: must be true or false, got string "maybe"`)
}

// TestSocketOwnerAsSupervisord: socket_owner (user or user:group) was a
// warning, "chown is not mapped"; it sets the socket's owner and group.
func TestSocketOwnerAsSupervisord(t *testing.T) {
	_, cfg, _ := translateConf(t, "[fcgi-program:app]\ncommand = /bin/sleep 100\nsocket = unix:///tmp/poold-owner-test.sock\nsocket_owner = nobody:0\n")
	if len(cfg.Sockets) != 1 || cfg.Sockets[0].Owner != "nobody" || cfg.Sockets[0].Group != "0" {
		t.Errorf("sockets %+v, want owner nobody and group 0", cfg.Sockets)
	}
}
