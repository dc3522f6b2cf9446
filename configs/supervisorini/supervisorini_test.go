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
