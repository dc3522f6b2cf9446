package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// configError writes ini to a file, translates it and checks that the
// config error contains want, in which PATH stands for the file's path.
func configError(t *testing.T, ini, want string) {
	t.Helper()
	path, doc := translateINI(t, ini)
	_, err := doc.Config(false)
	if want = strings.ReplaceAll(want, "PATH", path); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}

// translateINI writes ini to a file and translates it, with no
// environment.
func translateINI(t *testing.T, ini string) (string, *translate.Doc) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "circus.ini")
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return path, doc
}

// strictINI translates ini as translateINI does and makes poold's
// configuration of it as `poold convert --strict` would: no warning.
func strictINI(t *testing.T, ini string) (*configs.Config, *translate.Doc) {
	t.Helper()
	_, doc := translateINI(t, ini)
	cfg, err := doc.Config(true)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, doc
}

// TestErrorsNameTheIniSection: a value poold refuses is reported as the
// ini's [watcher:NAME] key at its line, not as poold's
// watchers.NAME.KEY, which the user never wrote.
func TestErrorsNameTheIniSection(t *testing.T) {
	configError(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[watcher:w]\ncmd = /bin/sleep\nargs = 100\nnumprocesses = abc\n",
		`PATH:7: [watcher:w] numprocesses: must be an integer, got string "abc"`)
}

// TestSocketAdviceInIniWords: a $(circus.sockets.X) with no such socket
// quotes the reference as written and advises circus.ini's [socket:NAME],
// not poold's $(pool.sockets.X) and [sockets.NAME].
func TestSocketAdviceInIniWords(t *testing.T) {
	configError(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[watcher:web]\ncmd = /bin/sleep $(circus.sockets.web)\nuse_sockets = True\n",
		`PATH:5: [watcher:web] cmd: refers to unknown socket "web" through $(circus.sockets.web); no sockets are defined; add a [socket:NAME] section`)
}

// TestNamesDifferingInCase: Circus lower-cases watcher and socket names,
// so [watcher:web] and [watcher:WEB] are one watcher; poold refuses the
// pair, naming both sections, rather than keep one of them silently.
func TestNamesDifferingInCase(t *testing.T) {
	configError(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[watcher:web]\ncmd = /bin/sleep 1\n\n[watcher:WEB]\ncmd = /bin/sleep 2\n",
		`PATH:4: [watcher:web]: has the same name as [watcher:WEB] (line 7) but for case`)
	configError(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[socket:Api]\nport = 8000\n\n[socket:api]\nport = 8001\n",
		`PATH:4: [socket:Api]: has the same name as [socket:api] (line 7) but for case`)
}

// TestNamesCase: a socket keeps Circus's lower-cased name; a watcher
// keeps its name as written, as circusd's status and stats give it (its
// list and event topics lower-case it, and so do poold's).
func TestNamesCase(t *testing.T) {
	_, doc := translateINI(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[socket:Web]\nport = 8000\n\n[watcher:MixedCase]\ncmd = /bin/sleep $(circus.sockets.Web)\nuse_sockets = True\n")
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	if w, s := cfg.Watchers[0].Name, cfg.Sockets[0].Name; w != "MixedCase" || s != "web" {
		t.Errorf("watcher %q, socket %q; want MixedCase and web", w, s)
	}
}

// TestNameCircusAcceptsPooldNot: circusd runs [watcher:My App]; poold's
// names are narrower, so the error says what to rename the section to.
func TestNameCircusAcceptsPooldNot(t *testing.T) {
	configError(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[watcher:My App]\ncmd = /bin/sleep 1\n",
		`PATH:4: [watcher:My App]: bad name "my app": names are 1 to 64 ASCII letters (a-z, A-Z), digits, '_', '.' and '-' (Circus accepts it, poold does not); rename the section, e.g. [watcher:my_app], and what refers to it`)
}

// TestIncludeMatchingNothing: an include glob that matches no file is
// a warning at the include line, named include (it used to be called
// include_dir, at the section's line, whenever the glob ended in *.ini);
// include_dir keeps its own name and line.
func TestIncludeMatchingNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "circus.ini")
	ini := "[circus]\nendpoint = tcp://127.0.0.1:22130\npubsub_endpoint = tcp://127.0.0.1:22131\nstats_endpoint = tcp://127.0.0.1:22132\n\ninclude = none/*.ini\ninclude_dir = nodir\n[watcher:a]\ncmd = sleep 10\n"
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range doc.Warnings() {
		got = append(got, n.String())
	}
	want := []string{
		path + ":6: [circus] include: " + dir + "/none/*.ini matches no file",
		path + ":7: [circus] include_dir: " + dir + "/nodir/*.ini matches no file",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings %q; want %d", got, len(want))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("warning %q; want it to start %q", got[i], want[i])
		}
	}
}

// TestSocketOptionsPooldCannotHonour: a socket option that changes where
// or how the socket listens says what poold does instead and what to
// write. "interface: no poold equivalent" hid that the socket listened on
// every interface; "SOCK_DGRAM ... left out" that it became a TCP socket.
func TestSocketOptionsPooldCannotHonour(t *testing.T) {
	path, doc := translateINI(t, "[circus]\nendpoint = tcp://127.0.0.1:5555\n\n[socket:admin]\nhost = 0.0.0.0\nport = 8001\ninterface = eth1\n\n[socket:metrics]\nhost = 127.0.0.1\nport = 8125\ntype = SOCK_DGRAM\n")
	var got []string
	for _, n := range doc.Notes {
		got = append(got, n.String())
	}
	for _, want := range []string{
		path + ":7: [socket:admin] interface: poold cannot bind a socket to a device (SO_BINDTODEVICE): it listens on 0.0.0.0 on every interface, not only eth1; set host to an address of eth1 instead",
		path + ":12: [socket:metrics] type: SOCK_DGRAM: poold binds stream sockets only: this socket becomes a listening TCP (or unix stream) socket",
		"let the worker bind its own SOCK_DGRAM socket, and remove this section and the watchers' $(circus.sockets.metrics)",
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("notes lack %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
