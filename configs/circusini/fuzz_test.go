package circusini

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/poold/poold/configs"
)

// FuzzTranslate: any bytes, read as a file of this format, translate
// without a panic; and when the translation loads, its 'poold convert'
// output (TOML) loads too, with the same watchers and sockets: what
// poold runs and what it writes for the user agree.
func FuzzTranslate(f *testing.F) {
	for _, s := range []string{"[circus]\ninclude = *.ini\n[watcher:a]\ncmd = sleep 1\nnumprocesses = 2\n[env:a]\nK = $(circus.env.HOME)\n", "[watcher:w]\ncmd = /bin/sh -c \"echo \\\"[x]\\\"; sleep 5\"\nwarmup_delay = 1e9\n[socket:s]\nhost = 127.0.0.1\nport = 0\n", "[watcher:A]\ncmd=x\n[watcher:a]\ncmd=y\n"} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.ini")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		doc, err := Translate(p, []string{"HOME=/root", "PATH=/usr/bin:/bin"})
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
