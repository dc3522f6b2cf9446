package circusini

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// With shell = true circusd quotes every word of cmd and args before it
// hands the line to /bin/sh -c, so a pipe, a $VAR or a glob reaches the
// program as written (circusd 0.19 runs this cmd and prints it back
// whole). The translated watcher must run the same way.
func TestShellKeepsWordsLiteralAsCircusd(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.ini"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ini := filepath.Join(dir, "circus.ini")
	if err := os.WriteFile(ini, []byte(`[watcher:w]
cmd = echo x | cat; echo $HOME
args = *.ini 'two words' > out
shell = true
`), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(ini, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watchers[0]
	if w.Cmd != "/bin/sh" || len(w.Args) != 2 || w.Args[0] != "-c" {
		t.Fatalf("shell = true: cmd %q args %q, want /bin/sh -c LINE", w.Cmd, w.Args)
	}
	cmd := exec.Command(w.Cmd, w.Args...)
	cmd.Dir, cmd.Env = dir, []string{"HOME=/home/nobody"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", w.Args[1], err)
	}
	if want := "x | cat; echo $HOME *.ini two words > out\n"; string(out) != want {
		t.Errorf("sh -c %q printed %q, want %q as circusd's worker prints", w.Args[1], out, want)
	}
}
