package supervisorini

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs"
)

// TestMachineAdviceInSupervisordWords: what the machine says of a
// translated program ("--check" of a missing directory or program) is
// advice in poold's key names, "set working_dir to an existing
// directory", "set PATH in env", which a supervisord file does not have.
// It must name the options the user writes: directory, environment.
func TestMachineAdviceInSupervisordWords(t *testing.T) {
	doc, path := translated(t, "[program:r]\ncommand = myapp --serve\ndirectory = /nonexistent\n")
	ce := &configs.Error{File: path, Problems: []configs.Problem{
		{Key: "watchers.r.working_dir", Msg: "/nonexistent: no such file or directory (create it, or set working_dir to an existing directory)"},
		{Key: "watchers.r.cmd", Msg: `"myapp": not found in PATH "/usr/bin" (give the program's full path, or set PATH in env) (cmd is split into words like a shell; quote a path that contains spaces)`},
		{Key: "watchers.r.cmd", Msg: `missing: set the program to run, e.g. cmd = "/usr/bin/gunicorn"`},
	}}
	doc.InSourceTerms(ce)
	got := ce.Error()
	for _, want := range []string{"[program:r] directory: /nonexistent: no such file or directory (create it, or set directory to an existing directory)", "or set PATH in environment) (command is split into words like a shell;", "e.g. command=/usr/bin/gunicorn"} {
		if !strings.Contains(got, want) {
			t.Errorf("error lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "working_dir") || strings.Contains(got, "in env)") || strings.Contains(got, "(cmd ") || strings.Contains(got, "cmd =") {
		t.Errorf("error names poold's keys:\n%s", got)
	}
}
