package supervisorini

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestParseEnvironment: environment= reads as supervisord's
// dict_of_key_value_pairs (shlex, non-POSIX) reads it, quirks included;
// every expectation was checked against supervisor 4's own function.
func TestParseEnvironment(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`A="1",B="two words", C=plain`, []string{"A=1", "B=two words", "C=plain"}},
		{`KEY='a,b'`, []string{"KEY=a,b"}},
		{`X=1`, []string{"X=1"}},
		{``, nil},
		{`A="x=y",D=/root/sub`, []string{"A=x=y", "D=/root/sub"}},
		{`A=1;B=2`, []string{"A=1", "B=2"}},              // the separator is not checked
		{`A=x y`, []string{"A=x"}},                       // y is taken as the separator
		{`A=1,A=2,B=3`, []string{"A=2", "B=3"}},          // a dict: last value, first place
		{"A=x#c\nB", []string{"A=xB"}},                   // a comment inside a word
		{`A='"x"'`, []string{"A=x"}},                     // every quote stripped from both ends
		{`C='say "hi" now'`, []string{`C=say "hi" now`}}, // the one way to a double quote
		{`U=http://h:80/p+q-r.s`, []string{"U=http://h:80/p+q-r.s"}},
		{`A=$HOME`, []string{"A=$"}}, // '$' is a token of its own, HOME the separator
	} {
		got, err := parseEnvironment(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		`A="open`,
		`C="has \"quote\""`, // no escapes in supervisord
		`A=`,
		`A=x=y`,
	} {
		if got, err := parseEnvironment(in); err == nil {
			t.Errorf("%q: got %q, want an error as supervisord refuses it", in, got)
		}
	}
}

// TestEnvironmentRefusedLikeSupervisord: a value supervisord refuses
// ("Unexpected end of key/value pairs") makes Translate fail, naming
// file, line, section and key, instead of a mangled variable.
func TestEnvironmentRefusedLikeSupervisord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "supervisord.conf")
	conf := "[supervisord]\n\n[program:q]\ncommand = /bin/sleep 100\n" +
		`environment=DUMPDIR="/x",A="x=y",B='single',C="has \"quote\"",D=%(ENV_HOME)s/sub` + "\n"
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Translate(path, []string{"HOME=/root"})
	want := path + ":5: [program:q] environment: unexpected end of key/value pairs"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want %q", err, want)
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
	env := []string{"SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=app", "SUPERVISOR_GROUP_NAME=app", "SHARED=1"}
	if w.Cmd != "/bin/sleep --name app" || w.Respawn || !w.CopyEnv || !reflect.DeepEqual(w.Env, env) {
		t.Errorf("watcher %+v", w)
	}
}

// TestProgramsDifferingInCase: poold's names are case-insensitive, so
// [program:web] and [program:WEB] would be one watcher: an error naming
// both sections, not one of them silently dropped.
func TestProgramsDifferingInCase(t *testing.T) {
	configError(t, "[supervisord]\n\n[program:web]\ncommand = /bin/sleep 1\n\n[program:WEB]\ncommand = /bin/sleep 2\n",
		"PATH:3: [program:web]: has the same name as [program:WEB] (line 6) but for case")
}
