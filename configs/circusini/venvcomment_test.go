package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// poold convert of a watcher with a virtualenv writes PATH and PYTHONPATH
// that no [env] section set. Its comments must say where each value came
// from (the virtualenv, and the PATH `poold convert` ran with, which the
// TOML file now holds for good), not that an empty value was "expanded
// from the environment poold was started with".
func TestConvertVirtualenvCommentsSayWherePATHComesFrom(t *testing.T) {
	dir := t.TempDir()
	venv := filepath.Join(dir, "venv")
	for _, d := range []string{"bin", "lib/python3.11/site-packages"} {
		if err := os.MkdirAll(filepath.Join(venv, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ini := filepath.Join(dir, "circus.ini")
	os.WriteFile(ini, []byte("[watcher:web]\ncmd = gunicorn app:app\ncopy_env = true\nvirtualenv = "+venv+"\n\n[env:web]\nHOME_DIR = $HOME\n"), 0o644)
	doc, err := Translate(ini, []string{"PATH=/opt/convert/bin:/usr/bin", "HOME=/home/u"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	doc.WriteTOML(&b)
	out := b.String()
	if strings.Contains(out, `"" expanded`) {
		t.Errorf("convert output explains a virtualenv's PATH or PYTHONPATH as an empty value expanded from poold's environment:\n%s", out)
	}
	for _, want := range []string{
		`# env HOME_DIR: "$HOME" expanded from the environment poold convert ran in`,
		"PATH: " + venv + "/bin, then the PATH poold convert ran with",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("convert output lacks %q:\n%s", want, out)
		}
	}
}
