package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A virtualenv path that does not exist (a typo, a deploy not yet
// unpacked) is named as such, with what it means for cmd and what to do,
// not as a virtualenv that merely lacks site-packages.
func TestVirtualenvMissing(t *testing.T) {
	dir := t.TempDir()
	venv := filepath.Join(dir, "nope", "venv")
	ini := filepath.Join(dir, "circus.ini")
	os.WriteFile(ini, []byte("[watcher:web]\ncmd = gunicorn app:app\ncopy_env = true\nvirtualenv = "+venv+"\n"), 0o644)
	doc, err := Translate(ini, []string{"PATH=/usr/bin:/bin"})
	if err != nil {
		t.Fatal(err)
	}
	warns := doc.Warnings()
	if len(warns) != 1 {
		t.Fatalf("want one warning, got %v", warns)
	}
	n := warns[0]
	for _, want := range []string{venv + " is not a directory", "poold's PATH", "correct the path", "python3 -m venv " + venv} {
		if !strings.Contains(n.Msg, want) {
			t.Errorf("warning %q lacks %q", n.Msg, want)
		}
	}
	if n.Key != "virtualenv" || n.Line != 4 {
		t.Errorf("warning names key %q line %d, want virtualenv line 4", n.Key, n.Line)
	}
	if _, err := doc.Config(true); err == nil {
		t.Errorf("--strict accepted a virtualenv that does not exist")
	}
}
