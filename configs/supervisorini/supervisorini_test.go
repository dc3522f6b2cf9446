package supervisorini

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseEnvironment(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`A="1",B="two words", C=plain`, []string{"A=1", "B=two words", "C=plain"}},
		{`KEY='a,b'`, []string{"KEY=a,b"}},
		{`X=1`, []string{"X=1"}},
		{``, nil},
	} {
		got, err := parseEnvironment(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseEnvironment(`A="open`); err == nil || !strings.Contains(err.Error(), "unclosed quote in A") {
		t.Errorf("unclosed quote: %v", err)
	}
}

func TestTranslateExpandsAndIncludes(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "supervisord.conf"), []byte("[supervisord]\nenvironment = SHARED=1\n[include]\nfiles = conf.d/*.conf\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "conf.d", "app.conf"), []byte("[program:app]\ncommand = %(ENV_APP_BIN)s --name %(program_name)s\nautorestart = false\n"), 0o644)
	doc, err := Translate(filepath.Join(dir, "supervisord.conf"), []string{"APP_BIN=/bin/sleep"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := doc.Config(false)
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Watchers[0]
	if w.Cmd != "/bin/sleep --name app" || w.Respawn || !w.CopyEnv || !reflect.DeepEqual(w.Env, []string{"SHARED=1"}) {
		t.Errorf("watcher %+v", w)
	}
}

// TestProgramsDifferingInCase: poold's names are case-insensitive, so
// [program:web] and [program:WEB] would be one watcher: an error naming
// both sections, not one of them silently dropped.
func TestProgramsDifferingInCase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[supervisord]\n\n[program:web]\ncommand = /bin/sleep 1\n\n[program:WEB]\ncommand = /bin/sleep 2\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	doc, err := Translate(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = doc.Config(false)
	want := path + ":3: [program:web]: has the same name as [program:WEB] (line 6) but for case"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
	}
}
