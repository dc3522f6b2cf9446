package configs

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// TestLoadDeepNesting loads files whose arrays nest absurdly deep. A TOML
// file of a million "[" (2 MB) overflowed the goroutine stack inside the
// TOML reader: a fatal error no recover catches, so poold died at start,
// or on SIGHUP with every worker. It must be a problem with the line
// instead; and a file just under the limit, in any format, must load
// without the cost growing with the square of its depth.
func TestLoadDeepNesting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

	for _, c := range []struct{ name, body, want string }{
		{"arrays.toml", "[arbiter]\nx = " + nest(1_000_000) + "\n", "deep.toml:2: tables and arrays nest more than 10000 deep"},
		{"tables.toml", "\n\nx = " + strings.Repeat("{a=", 1_000_000) + "1" + strings.Repeat("}", 1_000_000), ":3: tables and arrays nest more than 10000 deep"},
		// Tables nested through dotted keys and headers cost the reader
		// memory with the square of their depth (1 million: out of
		// memory, poold killed on SIGHUP with its workers; r49c review).
		{"header.toml", "\n[a" + strings.Repeat(".a", 1_000_000) + "]\n", ":2: a dotted key or table header of more than 1000 parts"},
		{"key.toml", "a" + strings.Repeat(".a", 1_000_000) + " = 1\n", ":1: a dotted key or table header of more than 1000 parts"},
		{"inline.toml", "x = " + strings.Repeat("{"+strings.Repeat("a.", 999)+"a = ", 11) + "1" + strings.Repeat("}", 11), ":1: tables and arrays nest more than 10000 deep"},
		{"keys.toml", "[watchers.w]\n" + numbered("k%d = 1\n", 1_000_000), ":10002: more than 10000 keys in table [watchers.w]"},
		{"mixed.toml", "[" + strings.Repeat("a.", 999) + "a]\n" + strings.Repeat("b.", 999) + "b = " + strings.Repeat("{"+strings.Repeat("c.", 999)+"c = ", 9) + "1" + strings.Repeat("}", 9), ":2: tables and arrays nest more than 10000 deep"},
	} {
		p := write("deep.toml", c.body)
		_, err := Load(p)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, "deep.toml")) {
			t.Errorf("%s: Load = %v, want a problem %q", c.name, err, c.want)
		}
	}

	// Just under the limit: read, then refused for the unknown key only,
	// allocating tens of MB, where the checks for keys given twice or in
	// two cases once built a key path per level (170 MB for the JSON file).
	for _, c := range []struct{ name, body string }{
		{"under.toml", "x = " + nest(maxNesting-1) + "\n"},
		{"under.json", `{"x": ` + nest(maxNesting-10) + "}"},
		{"under.yaml", "x: " + nest(maxNesting-10) + "\n"},
	} {
		p := write(c.name, c.body)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Load(p)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "x: unknown section") {
			t.Errorf("%s: Load = %v, want only x: unknown section", c.name, err)
		}
		if mb := (after.TotalAlloc - before.TotalAlloc) >> 20; mb > 64 {
			t.Errorf("%s: Load allocated %d MB for a %d-byte file, want at most 64", c.name, mb, len(c.body))
		}
	}
}

// TestTOMLNestingSkipsStringsAndComments: brackets inside strings (all
// four kinds, with escapes and extra closing quotes) and comments are
// not nesting.
func TestTOMLNestingSkipsStringsAndComments(t *testing.T) {
	for _, s := range []string{
		`a = "[[[\"[[["`,
		`a = '[[[\'`,
		"a = \"\"\"\n[[[\\\"\"\"[[\n\"\"\"",
		"a = '''\n[[['''",
		`a = """x""""" # [[[`,
		`a = ''''x''''' # [[[`,
		"# [[[\na = 1",
		`"[[[" = 1`,
		`a = ""`,
		`a = [""] # [[`,
	} {
		if _, err := parseTOML([]byte(s)); err != nil {
			t.Fatalf("case %q is not valid TOML: %v", s, err)
		}
		if p, found := tomlNesting([]byte(s), 1); found {
			t.Errorf("tomlNesting(%q, 1) = %q, want nothing", s, p.Msg)
		}
	}
	if p, found := tomlNesting([]byte("a = 1\n\nb = [[\"]\"]]"), 1); !found || p.Line != 3 {
		t.Errorf("tomlNesting found %v at line %d, want line 3", found, p.Line)
	}
}

func parseTOML(data []byte) (map[string]any, error) {
	v := map[string]any{}
	return v, toml.Unmarshal(data, &v)
}

// depthOf is how many containers nest in v, v included.
func depthOf(v any) int {
	d := 0
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
	case []any:
		for _, e := range x {
			d = max(d, depthOf(e))
		}
	default:
		return 0
	}
	return d + 1
}

// FuzzTOMLNesting: on any file the TOML reader takes, tomlNesting counts
// no deeper than the file really nests, so a valid file is never refused
// for depth it does not have.
func FuzzTOMLNesting(f *testing.F) {
	for _, s := range []string{
		"a = [[1], {b = [2]}]", "[x]\na = '['", "[[x.y]]\nz = \"\"\"]\"\"\"", "a = \"\\\"[\" # [",
		"a = '''\n[''''", "\"[\".b = [{}]", "a = [ # [\n1]",
		"a.b.c = 1", "[a.b]\nc.d = [1]", "x = {a.b = {c.d = 1}, e = 2}", "[[a . b]]\n'c.d'.e = [[{f.g = 1}]]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseTOML(data)
		if err != nil {
			return
		}
		want := depthOf(v) - 1 // the document itself is no nesting
		if p, found := tomlNesting(data, want); found {
			t.Errorf("tomlNesting(%q, %d): %s at line %d; the file nests %d deep", data, want, p.Msg, p.Line, want)
		}
	})
}
