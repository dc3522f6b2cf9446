package circusini

import (
	"strings"
	"testing"

	"github.com/poold/poold/configs/translate"
)

// TestMisspeltOptionsSuggest: a misspelt circus.ini option or section is
// still only a warning, as Circus takes it (or ignores it) without a
// word, but the warning says which one it looks like, as poold's own
// formats do. A newcomer trial's numprocess = 4 ran one worker, with a
// warning that did not say what was meant. Options Circus knows keep
// their notes, and a name near none gets no guess.
func TestMisspeltOptionsSuggest(t *testing.T) {
	const head = "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n"
	const web = "[watcher:web]\ncmd = /bin/sleep 100\n"
	tests := []struct {
		name, ini string
		key       string // the option the warning is about; "" for a section
		want      string // (part of) the warning, PATH for the file
	}{
		{"watcher option", head + web + "numprocess = 4\n", "numprocess",
			`PATH:6: [watcher:web] numprocess: unknown [watcher:NAME] option; did you mean "numprocesses"? Circus passes it to the watcher, poold has no equivalent`},
		{"watcher option, longer", head + web + "max_retries = 3\n", "max_retries",
			`PATH:6: [watcher:web] max_retries: unknown [watcher:NAME] option; did you mean "max_retry"?`},
		{"stream family", head + web + "stdout_steam.class = FileStream\n", "stdout_steam.class",
			`PATH:6: [watcher:web] stdout_steam.class: unknown [watcher:NAME] option; did you mean "stdout_stream.class"?`},
		{"rlimit family", head + web + "rlimits_nofile = 1024\n", "rlimits_nofile",
			`PATH:6: [watcher:web] rlimits_nofile: unknown [watcher:NAME] option; did you mean "rlimit_nofile"?`},
		{"flapping option", head + web + "flapping.attempt = 3\n", "flapping.attempt",
			`PATH:6: [watcher:web] flapping.attempt: no poold equivalent for this flapping option; did you mean "flapping.attempts"?`},
		{"near nothing", head + web + "colour = blue\n", "colour",
			`PATH:6: [watcher:web] colour: unknown [watcher:NAME] option; Circus passes it to the watcher, poold has no equivalent`},
		{"Circus's own, unmapped", head + web + "use_papa = true\n", "use_papa",
			`PATH:6: [watcher:web] use_papa: unknown [watcher:NAME] option; Circus passes it to the watcher, poold has no equivalent`},
		{"socket option", head + "[socket:s]\nport = 8000\nbakclog = 10\n" + web, "bakclog",
			`PATH:6: [socket:s] bakclog: unknown [socket:NAME] option (Circus ignores it too); did you mean "backlog"?`},
		{"socket option Circus knows", head + "[socket:s]\nport = 8000\nproto = tcp\n" + web, "proto",
			`PATH:6: [socket:s] proto: no poold equivalent for this [socket:NAME] option`},
		{"circus option", "[circus]\nendpoint = tcp://127.0.0.1:5555\npidfle = /run/circus.pid\n\n" + web, "pidfle",
			`PATH:3: [circus] pidfle: unknown [circus] option (Circus ignores it too); did you mean "pidfile"?`},
		{"plugin option", head + web + "[plugin:flap]\nuse = circus.plugins.flapping.Flapping\nwindw = 10\n", "windw",
			`PATH:8: [plugin:flap] windw: no poold equivalent for this flapping option; did you mean "window"?`},
		{"section kind plural", head + web + "[watchers:api]\ncmd = /bin/sleep 1\n", "",
			`PATH:6: [watchers:api]: unknown section, ignored (Circus ignores it too); did you mean [watcher:api]? Circus sections are`},
		{"section without a colon", head + web + "[watcher api]\ncmd = /bin/sleep 1\n", "",
			`[watcher api]: unknown section, ignored (Circus ignores it too); did you mean [watcher:api]?`},
		{"section without a name", head + web + "[watcher]\ncmd = /bin/sleep 1\n", "",
			`[watcher]: unknown section, ignored (Circus ignores it too); did you mean [watcher:NAME]?`},
		{"section misspelt", "[circs]\nendpoint = tcp://127.0.0.1:5555\n\n" + web, "",
			`PATH:1: [circs]: unknown section, ignored (Circus ignores it too); did you mean [circus]?`},
		{"section near nothing", head + web + "[extras]\nx = 1\n", "",
			`[extras]: unknown section, ignored (Circus ignores it too); Circus sections are`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, doc := translateINI(t, tt.ini)
			want := strings.ReplaceAll(tt.want, "PATH", path)
			var got []string
			for _, n := range doc.Notes {
				if n.Key == tt.key && n.Level == translate.Warn {
					got = append(got, n.String())
				}
			}
			if len(got) != 1 || !strings.Contains(got[0], want) {
				t.Errorf("warnings of key %q:\n%s\nwant one containing\n%s", tt.key, strings.Join(got, "\n"), want)
			}
			if _, err := doc.Config(false); err != nil {
				t.Errorf("the file is refused (a warning should not be): %v", err)
			}
		})
	}
}

// TestWatcherOptionsKnown: every option the suggestions offer for a
// [watcher:NAME] is one the translator takes, so a suggestion never
// leads to another "unknown" warning.
func TestWatcherOptionsKnown(t *testing.T) {
	for _, k := range watcherOptions {
		_, doc := translateINI(t, "[watcher:w]\ncmd = /bin/sleep 1\n"+k+" = 1\n")
		for _, n := range doc.Notes {
			if strings.Contains(n.Msg, "unknown [watcher:NAME] option") {
				t.Errorf("%s: %s", k, n)
			}
		}
	}
}
