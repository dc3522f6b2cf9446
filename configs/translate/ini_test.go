package translate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeINI(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.ini")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// The reader follows RawConfigParser as Circus subclasses it.
func TestReadINIPythonRules(t *testing.T) {
	p := writeINI(t, `# comment
; comment
[DEFAULT]
shared = yes

[watcher:web]
cmd = /bin/app --a
    --b

    --c
Key: Value ; trailing comment
semi = a;b
empty = ""
cmd = second value loses
  # an indented hash continues a value
[watcher:web]
extra = 1
REM a remark
`)
	f, err := ReadINI(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	f.ApplyDefaults()
	s := f.Section("watcher:web")
	for key, want := range map[string]string{
		"cmd":    "/bin/app --a\n--b\n--c\n# an indented hash continues a value",
		"Key":    "Value",
		"semi":   "a;b",
		"empty":  "",
		"extra":  "1",
		"shared": "yes",
	} {
		if got, ok := s.Get(key); !ok || got != want {
			t.Errorf("%s = %q (set %v), want %q", key, got, ok, want)
		}
	}
	if len(f.Sections) != 1 {
		t.Errorf("sections %d, want 1 (a repeated header extends)", len(f.Sections))
	}
	if o := s.Options[0]; o.Line != 7 || o.File != p {
		t.Errorf("cmd at %s:%d", o.File, o.Line)
	}
}

func TestReadINIErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"cmd = x\n", ":1: the file must start with a section header"},
		{"[a]\njust words\n", `:2: not a section, an option (key = value) or a comment: "just words"`},
	} {
		_, err := ReadINI(nil, writeINI(t, tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestWriteTOMLQuotesAndComments(t *testing.T) {
	d := &Doc{Header: []string{"top"}}
	s := d.Section("watchers", "api.v2")
	s.Set("cmd", "a \"quoted\" \\ path\n")
	s.Comment("a note")
	s.Set("args", []string{"x", "y z"})
	s.Set("rlimits", map[string]string{"nofile": "4096", "core": "unlimited"})
	s.Set("numprocesses", int64(2))
	s.Set("respawn", false)
	var b bytes.Buffer
	if err := d.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	want := `# top

[watchers."api.v2"]
cmd = "a \"quoted\" \\ path\n"
# a note
args = ["x", "y z"]
rlimits = { core = "unlimited", nofile = "4096" }
numprocesses = 2
respawn = false
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestWriteTOMLLowerCasesNames: [watcher:Worker] is written
// [watchers.worker], the name circusd, supervisord and poold use; two
// names equal but for case stay as written, so that the error the
// conversion reports for them matches the output.
func TestWriteTOMLLowerCasesNames(t *testing.T) {
	d := &Doc{}
	d.Section("arbiter").Set("log_level", "info")
	d.Section("sockets", "Web").Set("port", int64(8000))
	d.Section("watchers", "Worker").Set("cmd", "sleep 1")
	d.Section("watchers", "Dup").Set("cmd", "sleep 2")
	d.Section("watchers", "dup").Set("cmd", "sleep 3")
	var b bytes.Buffer
	if err := d.WriteTOML(&b); err != nil {
		t.Fatal(err)
	}
	var headers []string
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "[") {
			headers = append(headers, line)
		}
	}
	if got, want := strings.Join(headers, " "), "[arbiter] [sockets.web] [watchers.worker] [watchers.Dup] [watchers.dup]"; got != want {
		t.Errorf("section headers %s, want %s", got, want)
	}
}

// TestFirstSection: the section that tells a file's format, [DEFAULT]
// (RawConfigParser's options for every section) passed over.
func TestFirstSection(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"[circus]\nendpoint = x\n", "circus"},
		{"; comment\n\n[watcher:web]\n", "watcher:web"},
		{"[DEFAULT]\ngraceful_timeout = 7\n\n[watcher:web]\ncmd = x\n", "watcher:web"},
		{"[DEFAULT]\na = 1\n  [not a header]\n[DEFAULT]\nb = 2\n[program:x]\n", "program:x"},
		{"[DEFAULT]\na = 1\n", "DEFAULT"},
		{"a = 1\n[circus]\n", ""},
		{"", ""},
	} {
		if got := FirstSection([]byte(tc.data)); got != tc.want {
			t.Errorf("FirstSection(%q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}
