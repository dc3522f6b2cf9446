package circusini

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A Circus hook poold has no equivalent for (before_signal,
// extended_stats), given as a Python callable, was answered "write it as
// a program and give its path (hooks.before_signal = /path/to/program)":
// done, the next warning said poold has no before_signal hook. The
// warning now says so at once.
func TestHookPooldLacksSaysSoForACallable(t *testing.T) {
	ini := filepath.Join(t.TempDir(), "circus.ini")
	text := "[watcher:w]\ncmd = sleep 100\nhooks.before_signal = myapp.hooks.sig\nhooks.extended_stats = myapp.hooks.stats\n"
	if err := os.WriteFile(ini, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(ini, testEnviron(t))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range doc.Warnings() {
		got = append(got, n.String())
	}
	all := strings.Join(got, "\n")
	for _, name := range []string{"before_signal", "extended_stats"} {
		if !strings.Contains(all, "hooks."+name+": poold has no "+name+" hook") {
			t.Errorf("no warning that poold has no %s hook:\n%s", name, all)
		}
		if strings.Contains(all, "(hooks."+name+" = /path/to/program") {
			t.Errorf("the warning tells to give a program for %s, which poold then refuses:\n%s", name, all)
		}
	}
}
