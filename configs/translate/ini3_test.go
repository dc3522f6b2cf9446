package translate

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"

	"github.com/poold/poold/watcher/proctest"
)

// supervisordINI is a file on which Circus's rules and supervisord's
// differ: '#' comments, a ';' that Python 3 passes over, option names in
// capitals, repeated options and sections, indented continuation lines
// with blank lines and comments among them (r53b review, findings 1, 3
// and 4).
const supervisordINI = `# c
[supervisord]
logfile=/tmp/s.log ; c

[program:p]
Command=/bin/sleep 100 # keep alive
stdout_logfile=/tmp/p.log  # the log
semi = a;b ;c #d
hash = a#b
multi = one
    two

    three
  ; indented comment
    four
empty = ""
   [notsection]
Command = /bin/sleep 102
[program:p]   ; again
extra = 1
REM = x
tab	=	y
AutoRestart=false
[DEFAULT]
Shared = yes
`

// supervisordParse reads the files with supervisord's own parser
// (supervisor.options.UnhosedConfigParser) and returns each section's
// options, "DEFAULT" included.
func supervisordParse(t *testing.T, paths ...string) map[string]map[string]string {
	t.Helper()
	proctest.Tool(t, "supervisord", "supervisor")
	proctest.PythonModules(t, "/usr/bin/python3", "supervisor.options", "supervisor")
	script := `import json, sys
from supervisor.options import UnhosedConfigParser
p = UnhosedConfigParser()
p.read(sys.argv[1:])
out = {s: dict(p._sections[s]) for s in p.sections()}
out["DEFAULT"] = dict(p._defaults)
print(json.dumps(out))`
	out, err := exec.Command("/usr/bin/python3", append([]string{"-c", script}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("supervisord's parser: %v\n%s", err, out)
	}
	var got map[string]map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return got
}

func iniMap(f *INI) map[string]map[string]string {
	out := map[string]map[string]string{"DEFAULT": {}}
	for _, s := range append(f.Sections, f.Defaults) {
		if s == nil {
			continue
		}
		m := map[string]string{}
		for _, o := range s.Options {
			m[o.Key] = o.Value
		}
		out[s.Name] = m
	}
	return out
}

// ReadSupervisordINI reads a file as supervisord 4 (Python 3) does,
// checked against supervisord's own parser on the same file.
func TestReadSupervisordINIAsSupervisord(t *testing.T) {
	p := writeINI(t, supervisordINI)
	f, err := ReadSupervisordINI(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	got, want := iniMap(f), supervisordParse(t, p)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("poold read\n%q\nsupervisord read\n%q", got, want)
	}
	// The values that matter most, spelled out.
	s := f.Section("program:p")
	for key, want := range map[string]string{"command": "/bin/sleep 102", "stdout_logfile": "/tmp/p.log", "autorestart": "false"} {
		if v, _ := s.Get(key); v != want {
			t.Errorf("%s = %q, want %q", key, v, want)
		}
	}
}

// A repeated option and a repeated section are recorded with both
// places, for a warning; the later value stands at the first one's place.
func TestReadSupervisordINIRepeats(t *testing.T) {
	p := writeINI(t, supervisordINI)
	f, err := ReadSupervisordINI(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []Repeat{
		{Section: "program:p", Key: "command", File: p, Line: 18, PrevFile: p, PrevLine: 6},
		{Section: "program:p", File: p, Line: 19, PrevFile: p, PrevLine: 5},
	}
	if !reflect.DeepEqual(f.Repeats, want) {
		t.Errorf("repeats %+v, want %+v", f.Repeats, want)
	}
	if o := f.Section("program:p").Options[0]; o.Key != "command" || o.Line != 18 {
		t.Errorf("first option %+v, want command from line 18", o)
	}
}

// An included file overrides the main one's option, as supervisord reads
// its files in turn into one parser.
func TestReadSupervisordINIIncludedOverrides(t *testing.T) {
	main := writeINI(t, "[program:p]\ncommand=/bin/sleep 1\nuser=nobody\n")
	inc := writeINI(t, "[program:p]\ncommand=/bin/sleep 2 # from conf.d\n")
	f, err := ReadSupervisordINI(nil, main)
	if err == nil {
		_, err = ReadSupervisordINI(f, inc)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got, want := iniMap(f), supervisordParse(t, main, inc); !reflect.DeepEqual(got, want) {
		t.Errorf("poold read %q, supervisord %q", got, want)
	}
	if len(f.Repeats) != 2 || f.Repeats[1].File != inc || f.Repeats[1].PrevFile != main || f.Repeats[1].PrevLine != 2 {
		t.Errorf("repeats %+v", f.Repeats)
	}
}

// Circus's own parser is left as it is: '#' after a blank is part of the
// value there (circus/util.py StrictConfigParser._read), and the first
// value wins.
func TestReadINICircusKeepsHash(t *testing.T) {
	p := writeINI(t, "[watcher:w]\ncmd = /bin/sleep 100 # not a comment\ncmd = second\nNumProcesses = 2\n")
	f, err := ReadINI(nil, p)
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section("watcher:w")
	if v, _ := s.Get("cmd"); v != "/bin/sleep 100 # not a comment" {
		t.Errorf("cmd = %q", v)
	}
	if _, ok := s.Get("NumProcesses"); !ok || len(f.Repeats) != 0 {
		t.Errorf("case or repeats changed: %+v", f)
	}
}

func TestStripPy3Comments(t *testing.T) {
	for in, want := range map[string]string{
		"a ;b": "a", "a;b": "a;b", "a #b": "a", "a\t#b": "a", "a;b ;c #d": "a;b ;c", "a#b;c #d": "a#b;c",
		"  # all": "", "x = 'a # b'": "x = 'a", "[s] ; c": "[s]",
	} {
		if got, _ := stripPy3Comments(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
