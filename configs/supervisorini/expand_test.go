package supervisorini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Defect: %% stayed %% (supervisord, through Python's % operator, writes
// one %: `date +%%Y` ran as `date +%%Y`), %(numprocs)d stayed as written,
// %(ENV_X)s did not see the program's own environment=, and a name
// supervisord cannot expand (unset ENV_X, a typo) became "" or stayed as
// written where supervisord refuses the file. Values checked against
// supervisord 4.2.5.
func TestExpansionsAsSupervisord(t *testing.T) {
	path := confFile(t, `[program:a]
command=/bin/sh -c 'echo "pct=%% n=%(numprocs)02d port=%(ENV_PORT)s site=%(ENV_SITE)s"; date +%%Y'
environment=PORT=8%(numprocs)d
numprocs=1
`)
	doc, err := Translate(path, []string{"SITE=prod"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	want := `/bin/sh -c 'echo "pct=% n=01 port=81 site=prod"; date +%Y'`
	if got := cfg.Watchers[0].Cmd; got != want {
		t.Errorf("cmd %s\nwant %s", got, want)
	}
}

func TestExpansionsSupervisordRefuses(t *testing.T) {
	for _, tc := range []struct{ conf, want string }{
		{"[program:a]\ncommand=/bin/sleep %(ENV_NOPE_UNSET)s\n", `:2: [program:a] command: %(ENV_NOPE_UNSET) cannot be expanded (supervisord refuses it too): names here are ENV_<variable>, group_name, here, host_node_name, numprocs, process_num, program_name, and %% is a literal %; NOPE_UNSET is not set in poold's environment`},
		{"[program:a]\ncommand=/bin/sleep 1\nstdout_logfile=/tmp/%(prgram_name)s.log\n", `:3: [program:a] stdout_logfile: %(prgram_name) cannot be expanded`},
		{"[supervisord]\nloglevel=%(program_name)s\n[program:a]\ncommand=/bin/true\n", `:2: [supervisord] loglevel: %(program_name) cannot be expanded (supervisord refuses it too): names here are ENV_<variable>, here, host_node_name,`},
	} {
		path := confFile(t, tc.conf)
		if _, err := Translate(path, os.Environ()); err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q:\ngot  %v\nwant %s", tc.conf, err, tc.want)
		}
	}
}

// confFile writes conf to a supervisord.conf and returns its path.
func confFile(t *testing.T, conf string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Defect: with numprocs_start other than 1 (its default is 0), every
// worker got another %(process_num) than under supervisord (port 8001
// for 8000) with only a note; it is a warning (an error with --strict)
// on each option that uses it.
func TestProcessNumFromNumprocsStartWarns(t *testing.T) {
	doc, path := translated(t, "[program:web]\ncommand = /srv/app --port 800%(process_num)d\nnumprocs = 2\nprocess_name = web_%(process_num)d\nstdout_logfile = /tmp/100%%-%(process_num)d.log\n")
	var got []string
	for _, n := range doc.Warnings() {
		got = append(got, n.String())
	}
	want := []string{
		path + ":2: [program:web] command: %(process_num) became $(pool.wid), which counts from 1 where supervisord counts from numprocs_start (0 here): the first worker gets 1 where it got 0",
		path + ":4: [program:web] process_name: %(process_num) became",
		path + ":5: [program:web] stdout_logfile: %(process_num) became",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q, want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %q, want it to start %q", got[i], want[i])
		}
	}
	if _, err := doc.Config(true); err == nil || !strings.Contains(err.Error(), "numprocs_start (0 here)") {
		t.Errorf("--strict: %v, want the numbering refused", err)
	}
}

// TestFrozenValuesAreNoted: %(host_node_name)s and %(ENV_X)s became this
// machine's values in the TOML with no word about it, so a file converted
// once and shipped gave every Celery node the build host's name (r60
// celery trial). Each gets a note on its key; ENV_X's names
// $(pool.env.X), and neither repeats the value (it may be a secret).
func TestFrozenValuesAreNoted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[program:w]\ncommand = /bin/celery worker -n w%(process_num)d@%(host_node_name)s\n" +
		"environment = TOKEN=%(ENV_SECRET)s,OWN=1\ndirectory = /srv/%(ENV_SITE)s/%(ENV_OWN)s\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(path, []string{"SECRET=hunter2", "OWN=x", "SITE=a"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, n := range doc.Notes {
		if strings.Contains(n.Msg, "converted") {
			got[n.Key] += n.Msg
		}
	}
	if !strings.Contains(got["command"], "%(host_node_name)s") || !strings.Contains(got["environment"], "$(pool.env.SECRET)") ||
		!strings.Contains(got["directory"], "%(ENV_SITE)s") || strings.Contains(got["directory"], "ENV_OWN") {
		t.Errorf("notes by key %q, want command (host_node_name), environment and directory (ENV_X)", got)
	}
	for k, msg := range got {
		if strings.Contains(msg, "hunter2") {
			t.Errorf("the note on %s repeats the value: %s", k, msg)
		}
	}
}
