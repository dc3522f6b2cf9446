package supervisorini

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
	for _, s := range []string{"[supervisord]\n[program:a]\ncommand = sleep 1\nnumprocs = 2\nprocess_name = %(program_name)s_%(process_num)02d\nenvironment = A=\"1,2\",B=3\n", "[program:x]\ncommand=/bin/sh -c \"echo [y]\"\nstartsecs=-1\nstopwaitsecs=99999999999999999\n", "[include]\nfiles = *.conf\n[program:b]\ncommand=true\n"} {
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
