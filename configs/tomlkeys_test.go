package configs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// numbered repeats format n times, with the count 0..n-1 as its one verb.
func numbered(format string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

// TestTOMLWideTables: a table's keys counted only as key = value lines
// outside inline tables let a file of 100,000 table headers, dotted keys
// or keys of one inline table through: the TOML reader looks each name
// up among its table's names one by one, and took 19–30 s over such a
// file, at start and on each SIGHUP. Every way of adding a key to a table
// counts, once per distinct key, and so do the reader's lookups over the
// whole file.
func TestTOMLWideTables(t *testing.T) {
	for _, c := range []struct{ name, body, want string }{
		{"headers", "[arbiter]\n" + numbered("[t%d]\n", 100_000), "more than 10000 keys in the top-level table"},
		{"dotted keys", "[watchers]\n" + numbered("w%d.cmd = 'x'\n", 100_000), "more than 10000 keys in table [watchers]"},
		{"nested headers", numbered("[watchers.w%d]\n", 100_000), "more than 10000 keys in table [watchers]"},
		{"inline table", "[watchers.a]\nenv = {" + numbered("K%d = '1', ", 100_000) + "}\n", "more than 10000 keys in table [watchers.a.env]"},
		{"array of tables", "[[w.x]]\n" + numbered("[w.x.t%d]\n", 100_000), "more than 10000 keys in table [w.x]"},
		{"many wide tables", numbered("[t%d]\n"+numbered("k%d = 1\n", 9000), 20), "more than 100000000 key lookups"},
		// One table spelled three ways is one table (r50b review: 100
		// spellings of 1,000 keys took the reader 38 s).
		{"quoted spellings", numbered("a.x%d = 1\n", 4000) + numbered("'a'.y%d = 1\n", 4000) + numbered("\"\\u0061\".z%d = 1\n", 4000), "more than 10000 keys in table [a]"},
		{"escaped spellings", numbered("\"a\\eb\".x%d = 1\n", 4000) + numbered("\"a\\u001bb\".y%d = 1\n", 4000) + numbered("\"a\\x1bb\".z%d = 1\n", 4000), "more than 10000 keys in table [a\x1bb]"},
		// Each element a value of the reader's own (a 50 MB file of them
		// took it 6-12 GB).
		{"empty arrays", "a = [" + strings.Repeat("[],", 2_000_001) + "]\n", "more than 2000000 keys, arrays"},
	} {
		p, found := tomlNesting([]byte(c.body), maxNesting)
		if !found || !strings.Contains(p.Msg, c.want) {
			t.Errorf("%s: tomlNesting = %v, %q, want %q", c.name, found, p.Msg, c.want)
		}
	}

	// What a config may hold: 10,000 watchers; keys given again (the
	// reader says where); an element of an array of tables or an inline
	// table in an array is a table of its own.
	for _, c := range []struct{ name, body string }{
		{"10,000 watchers", numbered("[watchers.w%d]\ncmd = 'x'\nnumprocesses = 2\nenv = {A = '1', B = '2'}\n", 10_000)},
		{"a key given again", "[a]\n" + strings.Repeat("k = 1\n", 100_000)},
		{"arrays of tables", strings.Repeat("[[a]]\n"+numbered("k%d = 1\n", 100), 200)},
		{"a table in each element", numbered("[[w.x]]\n[w.x.t%d]\n", 20_000)},
		{"inline tables in an array", "a = [" + strings.Repeat("{"+numbered("k%d = 1, ", 100)+"},", 200) + "]\n"},
	} {
		if p, found := tomlNesting([]byte(c.body), maxNesting); found {
			t.Errorf("%s: tomlNesting = %q at line %d, want nothing", c.name, p.Msg, p.Line)
		}
	}
}

// A config file past maxFileSize is refused before any reader holds it.
func TestLoadRefusesAHugeFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "huge.toml")
	body := strings.Repeat("# "+strings.Repeat("x", 1021)+"\n", maxFileSize/1024+1)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than 32 MiB") {
		t.Errorf("Load of a %d-byte file: %v, want it refused as larger than 32 MiB", len(body), err)
	}
}
