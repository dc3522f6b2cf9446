package supervisorini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs/translate"
)

// A misspelt [program:x] key (stopwaitsec) read "no poold equivalent for
// this [program:NAME] option": the operator took it for a supervisord
// option poold lacks, and the program kept the 10 s default (r67
// supervisord trial F5). supervisord's own keys keep that wording; others
// are unknown, with the closest key.
func TestProgramTypoIsUnknownWithSuggestion(t *testing.T) {
	_, notes, _, _ := translateProgram(t, "stopwaitsec = 5\nstdout_syslog = true\nserverurl = AUTO\nfrobnicate = 1\n")
	for _, c := range []struct{ key, want string }{
		{"stopwaitsec", `unknown supervisord option in [program:NAME], ignored (supervisord ignores it too); did you mean "stopwaitsecs"?`},
		{"frobnicate", "unknown supervisord option in [program:NAME], ignored (supervisord ignores it too)"},
		{"stdout_syslog", "no poold equivalent"},
		{"serverurl", "no poold equivalent for this [program:NAME] option"},
	} {
		if !hasNote(notes, translate.Warn, c.key, c.want) {
			t.Errorf("%s: want a warning %q; notes: %v", c.key, c.want, notes)
		}
	}
	for _, n := range notes {
		if n.Key == "frobnicate" && strings.Contains(n.Msg, "did you mean") {
			t.Errorf("frobnicate is near no key, got %q", n.Msg)
		}
	}
}

// [supervisord]: a typo is unknown with the closest key; logfile and
// pidfile say where poold's log goes and how to get its pid.
func TestSupervisordSectionKeys(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "supervisord.conf")
	text := "[supervisord]\nlogfile = /var/log/supervisord.log\npidfile = /run/supervisord.pid\nchildlgdir = /tmp\n\n[program:p]\ncommand = /bin/sleep 60\n"
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"childlgdir": `unknown supervisord option in [supervisord], ignored (supervisord ignores it too); did you mean "childlogdir"?`,
		"logfile":    "poold writes its own log to stderr, where its service manager keeps it (journalctl -u poold under systemd)",
		"pidfile":    "`poolctl globaloptions pid`",
	}
	for _, n := range doc.Notes {
		if w, ok := want[n.Key]; ok && n.Section == "supervisord" && strings.Contains(n.Msg, w) {
			delete(want, n.Key)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing warnings: %v; notes: %v", want, doc.Notes)
	}
}
