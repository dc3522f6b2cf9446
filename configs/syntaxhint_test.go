package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyntaxHints: INI and YAML habits in a poold file got the parser's
// words, "incomplete number" for a path left unquoted, "expected
// character ]" for [program:web] (r64 newcomer F3). Each now says what
// to write, at the same file:line:col; an error not recognised keeps the
// parser's words.
func TestSyntaxHints(t *testing.T) {
	for _, c := range []struct{ name, text, want string }{
		{"path.toml", "[watchers.a]\ncmd = /usr/bin/x\n",
			`path.toml:2:7: syntax error: the value of cmd is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): cmd = "/usr/bin/x"`},
		{"word.toml", "[watchers.a]\ncmd = gunicorn --bind 127.0.0.1:8000 # the app\n",
			`word.toml:2:7: syntax error: the value of cmd is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): cmd = "gunicorn --bind 127.0.0.1:8000" # the app`},
		{"flag.toml", "[watchers.a]\ncmd = \"x\"\nargs = --foo\n", `flag.toml:3:8: syntax error: the value of args is not quoted, and args takes a list; TOML needs quotes around each string: args = ["--foo"]`},
		// A key that takes a list gets the list (r65 review L1), an
		// address its quotes (L2).
		{"env.toml", "[watchers.a]\ncmd = \"x\"\nenv = PORT=8000\n", `env.toml:3:7: syntax error: the value of env is not quoted, and env takes a list; TOML needs quotes around each string: env = ["PORT=8000"]`},
		{"envs.toml", "[watchers.a]\ncmd = \"x\"\nenv = PORT=8000 DEBUG=1 # two\n", `envs.toml:3:7: syntax error: the value of env is not quoted, and env takes a list; TOML needs quotes around each string: env = ["PORT=8000", "DEBUG=1"] # two`},
		{"args.toml", "[watchers.a]\ncmd = \"x\"\nargs = --bind 127.0.0.1:8000 -w 2\n", `args.toml:3:8: syntax error: the value of args is not quoted, and args takes a list; TOML needs quotes around each string: args = ["--bind", "127.0.0.1:8000", "-w", "2"]`},
		{"deps.toml", "[watchers.a]\ncmd = \"x\"\ndepends_on = db, cache\n", `deps.toml:3:14: syntax error: the value of depends_on is not quoted, and depends_on takes a list; TOML needs quotes around each string: depends_on = ["db", "cache"]`},
		{"host.toml", "[sockets.web]\nhost = 127.0.0.1\nport = 8000\n", `host.toml:2:13: syntax error: the value of host is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): host = "127.0.0.1"`},
		{"host6.toml", "[sockets.web]\nhost = ::1\nport = 8000\n", `host6.toml:2:8: syntax error: the value of host is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): host = "::1"`},
		{"backslash.toml", "[watchers.a]\ncmd = x\\y\n", `backslash.toml:2:7: syntax error: the value of cmd is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): cmd = 'x\y'`},
		{"duration.toml", "[watchers.a]\ncmd = \"x\"\ngraceful_timeout = 30s\n", `duration.toml:3:22: syntax error: the value of graceful_timeout is not quoted; TOML needs quotes around a string (a path, a command, a duration, an address): graceful_timeout = "30s"`},
		{"python.toml", "[watchers.a]\ncmd = \"x\"\nautostart = True\n", "python.toml:3:13: syntax error: TOML's booleans are lower case: autostart = true"},
		{"ini.toml", "[watchers.a]\ncmd = \"x\"\nautostart = yes\n", `ini.toml:3:13: syntax error: TOML's booleans are true and false: autostart = true (or, if a string is meant, quote it: autostart = "yes")`},
		{"sv.toml", "[program:goapi]\ncommand = /bin/true\n",
			"sv.toml:1:9: syntax error: [program:goapi] is a supervisord section, and this file is TOML (by its name): name the file .ini or .conf, which poold reads as a supervisord or Circus file, or write [watchers.goapi] (once the file is renamed, poold convert FILE.ini > poold.toml writes all of it as TOML)"},
		{"circus.toml", "[ watcher:web ]\ncmd = x\n", "circus.toml:1:10: syntax error: [ watcher:web ] is a Circus section, and this file is TOML (by its name): name the file .ini or .conf, which poold reads as a supervisord or Circus file, or write [watchers.web]"},
		{"socket.toml", "[socket:web]\nport = 8000\n", "socket.toml:1:8: syntax error: [socket:web] is a Circus section, and this file is TOML (by its name): name the file .ini or .conf, which poold reads as a supervisord or Circus file, or write [sockets.web]"},
		{"tab.yaml", "watchers:\n  a:\n\tcmd: x\n", "tab.yaml:3: syntax error: line 3 is indented with a tab; YAML indents with spaces only: replace the tab with spaces"},
		{"tablater.yaml", "watchers:\n  a:\n    cmd: x\n\targs: [a]\n", "tablater.yaml:4: syntax error: line 4 is indented with a tab; YAML indents with spaces only: replace the tab with spaces"},
		// Not recognised: the parser's words.
		{"equals.toml", "[watchers.a]\nnumprocesses = = 3\n", "equals.toml:2:16: syntax error: toml: incomplete number"},
		{"numbers.toml", "[watchers.a]\nnumprocesses = 3 4\n", "numbers.toml:2:18: syntax error: toml: expected newline"},
		{"version.toml", "[watchers.a]\nnumprocesses = 1.2.3\n", "version.toml:2:19: syntax error: toml: float can have at most one decimal point"},
		{"colon.toml", "[watchers.a]\ncmd: /bin/x\n", "colon.toml:2:4: syntax error: toml: expected character ="},
		{"yaml.yaml", "watchers:\n  a:\n    cmd: x: y\n", "yaml.yaml:3: syntax error: mapping values are not allowed in this context"},
	} {
		path := filepath.Join(t.TempDir(), c.name)
		if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%s: got %v\nwant one line with %q", c.name, err, c.want)
		}
	}
}

// TestSyntaxHintsGiveALineThatLoads: the line a hint gives is one the
// next load takes. The hint for env = PORT=8000 was env = "PORT=8000",
// which the next load refused as no list (r65 review L1), and host =
// 127.0.0.1 got no hint (L2).
func TestSyntaxHintsGiveALineThatLoads(t *testing.T) {
	for _, c := range []struct{ text, bad string }{
		{"[watchers.a]\ncmd = \"x\"\n%s\n", "env = PORT=8000"},
		{"[watchers.a]\ncmd = \"x\"\n%s\n", "env = PORT=8000 DEBUG=1"},
		{"[watchers.a]\ncmd = \"x\"\n%s\n", "args = --bind 127.0.0.1:8000 -w 2"},
		{"[watchers.a]\ncmd = \"x\"\n%s\n[watchers.db]\ncmd = \"y\"\n", "depends_on = db"},
		{"[sockets.web]\n%s\nport = 8000\n", "host = 127.0.0.1"},
		{"[watchers.a]\ncmd = \"x\"\n%s\n", "graceful_timeout = 30s"},
	} {
		path := filepath.Join(t.TempDir(), "a.toml")
		if err := os.WriteFile(path, []byte(fmt.Sprintf(c.text, c.bad)), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(path)
		if err == nil {
			t.Fatalf("%s: loaded", c.bad)
		}
		msg := err.Error()
		i := strings.LastIndex(msg, ": ")
		if !strings.Contains(msg, "is not quoted") || i < 0 {
			t.Errorf("%s: no hint: %v", c.bad, err)
			continue
		}
		fixed := msg[i+2:]
		if err := os.WriteFile(path, []byte(fmt.Sprintf(c.text, fixed)), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(path); err != nil {
			t.Errorf("%s: the hint's line %s does not load: %v", c.bad, fixed, err)
		}
	}
}
