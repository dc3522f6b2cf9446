package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestReloaderKeepsTranslationWarnings: the warnings of a circus.ini
// (an option poold does not map) were printed at start only, and a
// reload read them into io.Discard: neither its log nor its reply (the
// config's warnings, which the reloadconfig reply now carries) said
// anything. They are among the config's warnings, at start and reload.
func TestReloaderKeepsTranslationWarnings(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "circus.ini")
	text := "[circus]\nendpoint = ipc://" + dir + "/c.sock\nwarmup_delay = 2\n[watcher:web]\ncmd = sleep 1\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var notes strings.Builder
	start, err := loadConfig(path, false, &notes)
	if err != nil {
		t.Fatal(err)
	}
	want := path + ":3: [circus] warmup_delay: "
	if len(start.Warnings) != 1 || !strings.HasPrefix(start.Warnings[0], want) {
		t.Fatalf("start: warnings %q, want one starting %q", start.Warnings, want)
	}
	if got := notes.String(); got != "poold: warning: "+start.Warnings[0]+"\n" {
		t.Errorf("start printed %q, want the warning once", got)
	}
	o := cmdline{path: path}
	c, err := o.reloader(start, hclog.NewNullLogger())()
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || c.Warnings[0] != start.Warnings[0] {
		t.Errorf("reload: warnings %q, want %q", c.Warnings, start.Warnings)
	}
}
