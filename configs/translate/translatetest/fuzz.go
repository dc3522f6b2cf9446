// Package translatetest holds what the tests of the translators from
// other managers' files (circusini, supervisorini) share.
package translatetest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/configs/translate"
)

// FuzzRoundTrip fuzzes translate, a translator of files named file, from
// seeds: any bytes translate without a panic; and when the translation
// loads, its 'poold convert' output (TOML) loads too, with the same
// watchers and sockets: what poold runs and what it writes for the user
// agree.
func FuzzRoundTrip(f *testing.F, file string, seeds []string, translate func(path string) (*translate.Doc, error)) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		doc, err := translate(p)
		if err != nil {
			return
		}
		cfg, err := doc.Config(false)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := doc.WriteTOML(&out); err != nil {
			t.Fatalf("WriteTOML: %v", err)
		}
		tp := filepath.Join(dir, "fuzz.toml")
		if err := os.WriteFile(tp, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		back, err := configs.Load(tp)
		if err != nil {
			t.Fatalf("the translation loads, its TOML does not: %v\n--- input:\n%q\n--- TOML:\n%s", err, data, out.String())
		}
		if len(back.Watchers) != len(cfg.Watchers) || len(back.Sockets) != len(cfg.Sockets) {
			t.Fatalf("translation has %d watchers, %d sockets; its TOML %d, %d\n--- input:\n%q\n--- TOML:\n%s",
				len(cfg.Watchers), len(cfg.Sockets), len(back.Watchers), len(back.Sockets), data, out.String())
		}
	})
}
