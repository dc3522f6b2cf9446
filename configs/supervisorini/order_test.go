package supervisorini

import (
	"strings"
	"testing"
)

// TestChangedProgramStopsFirst: supervisord's update stops a changed
// program, then starts it; poold rolls a watcher over new before old, so
// a converted celery beat ran twice for seconds on a config reload (r60
// celery trial). A one-process program becomes a singleton, which poold
// stops first; a program of several processes, which no poold setting
// stops first, gets a note saying so.
func TestChangedProgramStopsFirst(t *testing.T) {
	doc, cfg, _ := translateConf(t, "[program:beat]\ncommand = /bin/sleep 100\n"+
		"[program:one]\ncommand = /bin/sleep 100\nnumprocs = 1\n"+
		"[program:workers]\ncommand = /bin/sleep 100\nnumprocs = 3\nprocess_name = %(program_name)s_%(process_num)d\n")
	single := map[string]bool{}
	for _, w := range cfg.Watchers {
		single[w.Name] = w.Singleton
	}
	if !single["beat"] || !single["one"] || single["workers"] {
		t.Errorf("singleton by watcher %v, want beat and one only", single)
	}
	var notes []string
	for _, n := range doc.Notes {
		if strings.Contains(n.Msg, "supervisord stops a changed program") {
			notes = append(notes, n.Section+": "+n.Msg)
		}
	}
	if len(notes) != 3 {
		t.Fatalf("notes on the replacement order: %q, want one per program", notes)
	}
	for _, want := range []string{"program:beat: ", "program:one: ", "program:workers: "} {
		if !strings.Contains(strings.Join(notes, "\n"), want) {
			t.Errorf("no note on %s: %q", want, notes)
		}
	}
	if !strings.Contains(strings.Join(notes, "\n"), "singleton = false") {
		t.Errorf("the note does not say how to get a rolling replacement: %q", notes)
	}
}
