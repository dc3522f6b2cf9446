package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An unset $NAME in [env] or [env:NAMES] became empty without a word,
// while an unset $(circus.env.NAME) is warned of. It is warned of now,
// once per option, with its line; a set one, and a lower-case $name
// (which Circus does not expand), are not.
func TestUnsetDollarInEnvIsWarnedOf(t *testing.T) {
	dir := t.TempDir()
	ini := filepath.Join(dir, "circus.ini")
	text := "[watcher:web]\ncmd = /bin/true\n\n[watcher:api]\ncmd = /bin/true\n\n[env]\nX = $NOPE_NOT_SET\nH = $HOME\nL = $lower\n\n[env:web,api]\nY = a-$NOPE_TOO-$NOPE_TOO\n"
	if err := os.WriteFile(ini, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(ini, []string{"HOME=/home/u"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range doc.Warnings() {
		got = append(got, n.String())
	}
	want := []string{
		ini + ":8: [env] X: refers to $NOPE_NOT_SET, which is not set in the environment poold reads the file in, so it becomes empty (as under Circus); set NOPE_NOT_SET before poold starts, or write the value here",
		ini + ":13: [env:web,api] Y: refers to $NOPE_TOO, which is not set",
	}
	if len(got) != len(want) {
		t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("warning %q\nwant it to contain %q", got[i], w)
		}
	}
}
