package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestForeignFormatByContent: a file not named .toml, .yaml, .yml or
// .json is told by its first section, after any UTF-8 byte order mark; one
// that is neither Circus nor supervisord says what was looked for and
// what was found, not that its extension is wrong.
func TestForeignFormatByContent(t *testing.T) {
	dir := t.TempDir()
	circus := "[circus]\nendpoint = ipc://" + dir + "/c.sock\npubsub_endpoint = ipc://" + dir + "/p.sock\nstats_endpoint = ipc://" + dir + "/s.sock\n\n[watcher:w]\ncmd = /bin/sleep 10\n"
	for _, tc := range []struct{ name, content, want string }{
		{"bom.ini", "\ufeff" + circus, "ok (0 sockets, 1 watcher)"},
		{"bom.conf", "\ufeff[program:w]\ncommand = /bin/sleep 10\n", "ok (0 sockets, 1 watcher)"},
		{"empty.ini", "", "empty.ini: not a configuration poold can tell the format of: a Circus file starts with [circus],"},
		{"comments.ini", "; only\n# comments\n", "it holds no section (nothing but blank lines and comments)"},
		{"other.ini", "\n[foo]\nx = 1\n", "; its first section is [foo] (line 2). Start the file with one of those sections, or name a poold file .toml, .yaml, .yml or .json"},
		{"keys.ini", "x = 1\n", `its first line (1) is not a section header: "x = 1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			exitCode(run(context.Background(), []string{"--check", path}, &out, &errb), &errb)
			if got := out.String() + errb.String(); !strings.Contains(got, tc.want) || strings.Contains(got, "extension") {
				t.Errorf("--check %s:\n%s\nwant %q", tc.name, got, tc.want)
			}
		})
	}
}
