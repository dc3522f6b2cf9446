package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configError writes ini to a file, translates it and checks that the
// config error contains want, in which PATH stands for the file's path.
func configError(t *testing.T, ini, want string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.ini")
	if err := os.WriteFile(path, []byte(ini), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = doc.Config(false)
	if want = strings.ReplaceAll(want, "PATH", path); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
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
