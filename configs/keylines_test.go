package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestProblemLines: a problem of meaning names the line and column where
// its key is written, in every format, as a syntax error does (a newcomer
// trial found errors naming file and key only, which in a long file left
// the key to hunt for). A key the file does not write is named at the
// table it belongs in; one an environment variable set, at no line.
func TestProblemLines(t *testing.T) {
	tests := []struct {
		name, file, text string
		env              map[string]string
		want             []string // "KEY @L:C" (or "KEY @-" for no line), one per problem
	}{
		{"toml value", "poold.toml", "[watchers.web]\ncmd = \"/bin/true\"\n\n# long enough to hunt\ngraceful_timeout = \"-5s\"\n",
			nil, []string{"watchers.web.graceful_timeout @5:1"}},
		{"toml unknown key", "poold.toml", "[watchers.web]\ncmd = \"/bin/true\"\n  numprocess = 4\n",
			nil, []string{"watchers.web.numprocess @3:3"}},
		{"toml list element", "poold.toml", "[watchers.app]\ncmd = \"/bin/true\"\ndepends_on = [\n  \"db\",\n  \"cache\",\n]\n\n[watchers.db]\ncmd = \"/bin/true\"\n",
			nil, []string{"watchers.app.depends_on[1] @5:3"}},
		{"toml socket not defined", "poold.toml", "[sockets.web]\nport = 8000\n\n[watchers.app]\ncmd = \"/bin/true\"\nsockets = [\"web\", \"api\"]\n",
			nil, []string{"watchers.app.sockets[1] @6:19"}},
		{"toml dotted key", "poold.toml", "watchers.web.cmd = \"/bin/true\"\nwatchers.web.numprocesses = -1\n",
			nil, []string{"watchers.web.numprocesses @2:14"}},
		{"toml inline table", "poold.toml", "[watchers.web]\ncmd = \"/bin/true\"\nrlimits = { nofile = 10, files = 3 }\n",
			nil, []string{"watchers.web.rlimits.files @3:26"}},
		{"toml element without a position", "poold.toml", "[watchers.web]\ncmd = \"/bin/true\"\nargs = [\"-v\", true]\n",
			nil, []string{"watchers.web.args[1] @3:1"}},
		{"toml quoted name", "poold.toml", "[watchers.\"api.v2\"]\ncmd = \"/bin/true\"\nNumProcesses = -1\n",
			nil, []string{"watchers.api.v2.numprocesses @3:1"}},
		{"toml missing key: its table", "poold.toml", "[arbiter]\nlog_level = \"info\"\n\n[watchers.web]\nnumprocesses = 1\n",
			nil, []string{"watchers.web.cmd @4:11"}},
		{"toml set by the environment", "poold.toml", "[watchers.web]\ncmd = \"/bin/true\"\nnumprocesses = 2\nstop_signal = \"NOPE\"\n",
			map[string]string{"POOLD_WATCHERS_WEB_NUMPROCESSES": "-3"},
			[]string{"watchers.web.stop_signal @4:1", "watchers.web.numprocesses @-"}},
		{"yaml", "poold.yaml", "watchers:\n  web:\n    cmd: /bin/true\n    Graceful_Timeout: soon\n    sockets:\n      - api\n",
			nil, []string{"watchers.web.graceful_timeout @4:5", "watchers.web.sockets[0] @6:9"}},
		{"yaml merge", "poold.yaml", "base: &base\n  numprocesses: -1\n  cmd: /bin/true\nwatchers:\n  web:\n    <<: *base\n    cmd: /bin/false\n",
			nil, []string{"base @1:1", "watchers.web.numprocesses @2:3"}},
		{"yaml merge of a merge", "poold.yaml", "common: &common\n  numprocesses: -1\nbase: &base\n  <<: *common\n  cmd: /bin/true\nwatchers:\n  web:\n    <<: *base\n",
			nil, []string{"common @1:1", "watchers.web.numprocesses @2:3", "base @3:1"}},
		{"yaml alias of a merge", "poold.yaml", "common: &common\n  numprocesses: -1\nbase: &base\n  <<: *common\n  cmd: /bin/true\nwatchers:\n  web: *base\n",
			nil, []string{"common @1:1", "watchers.web.numprocesses @2:3", "base @3:1"}},
		{"json", "poold.json", "{\n  \"watchers\": {\n    \"web\": {\"cmd\": \"/bin/true\",\n      \"args\": [\"-v\", 2]}\n  }\n}\n",
			nil, []string{"watchers.web.args[1] @4:22"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			path := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load: %v, want an *Error", err)
			}
			var got []string
			for _, p := range ce.Problems {
				at := "-"
				if p.Line > 0 {
					at = strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Column)
				}
				got = append(got, p.Key+" @"+at)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("problems at\n%s\nwant\n%s\nerror:\n%v", strings.Join(got, "\n"), strings.Join(tt.want, "\n"), err)
			}
		})
	}
}

// TestProblemLineRendered: the line and column come between the file and
// the key, as a syntax error's do.
func TestProblemLineRendered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "poold.toml")
	if err := os.WriteFile(path, []byte("[watchers.web]\ncmd = \"/bin/true\"\ngraceful_timeout = -5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := "configs: " + path + ":3:1: watchers.web.graceful_timeout: must not be negative"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want it to start %q", err, want)
	}
}

// TestYAMLWalkEndsAtACycle: a YAML alias that leads back into the mapping
// holding it (through a merge) ends the walk that locates keys, which
// follows an alias at its own depth. The YAML reader refuses such a file
// before the walk; the walk does not depend on that.
func TestYAMLWalkEndsAtACycle(t *testing.T) {
	key := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v, Line: 1, Column: 1} }
	web := &yaml.Node{Kind: yaml.MappingNode}
	web.Content = []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!merge", Value: "<<"}, {Kind: yaml.AliasNode, Alias: web},
		key("numprocesses"), key("-1"),
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{key("watchers"),
		{Kind: yaml.MappingNode, Content: []*yaml.Node{key("web"), web}}}}
	f := keyFinder{want: map[string]bool{}, found: map[string]keyPos{}, aliased: map[*yaml.Node]bool{}}
	f.ask("watchers.web.numprocesses")
	f.yamlNode(root, "", 0)
	if _, ok := f.found["watchers.web.numprocesses"]; !ok {
		t.Errorf("found %v, want watchers.web.numprocesses", f.found)
	}
}
