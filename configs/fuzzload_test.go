package configs

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad: any bytes, read as a TOML, YAML or JSON config, give a config
// or an *Error; never a panic, a crash or a plain error (the file exists
// and is readable).
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"good.toml", "elastic.yaml", "elastic.json", "bad_syntax.toml", "bad_types.json", "bad_many.yaml", "bad_nul.toml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, filepath.Ext(name))
	}
	f.Add([]byte("a = [[[{b = '''[\n'''}]]]"), ".toml")
	f.Add([]byte("watchers: &a [*a]"), ".yaml")
	f.Add([]byte("watchers: &a {web: {<<: *a, numprocesses: -1}}"), ".yaml")
	f.Add([]byte(`{"watchers": {"W": {}, "w": {"cmd": 1e400}}}`), ".json")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, ext string) {
		if _, ok := formats[ext]; !ok {
			ext = ".toml"
		}
		p := filepath.Join(dir, "fuzz"+ext)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(p)
		var ce *Error
		switch {
		case err == nil && cfg == nil:
			t.Fatal("Load returned neither a config nor an error")
		case err != nil && !errors.As(err, &ce):
			t.Fatalf("Load: %v (%T), want an *Error", err, err)
		}
	})
}
