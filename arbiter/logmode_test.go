package arbiter

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// A worker log file poold creates takes the watcher's umask, as systemd
// creates StandardOutput=file: with UMask=: umask "077" gives 0600, not
// a 0644 file every local user may read, and umask "002" gives 0664
// whatever poold's own umask. Without a umask, poold's applies.
func TestWorkerLogFileTakesTheWatchersUmask(t *testing.T) {
	dir := t.TempDir()
	o := newOutput(hclog.NewNullLogger(), true, events.NewBus(nil))
	t.Cleanup(func() { o.close(hang) })
	for name, umask := range map[string]int{"private": 0o077, "group": 0o002} {
		spec := configs.DefaultWatcher(name)
		spec.Umask = umask
		spec.Logs.Stdout, spec.Logs.Stderr = filepath.Join(dir, name+".log"), configs.LogToNone
		outR, outW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		errR, errW, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		errW.Close()
		t.Cleanup(func() { outW.Close() })
		o.follow(spec, 1, 100, outR, errR)
		if _, err := outW.WriteString("secret\n"); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]os.FileMode{"private": 0o600, "group": 0o664} {
		path := filepath.Join(dir, name+".log")
		proctest.Eventually(t, name+"'s line in its file", func() bool {
			b, _ := os.ReadFile(path)
			return string(b) == "secret\n"
		})
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v, %v; want mode %04o (0666 less the watcher's umask)", path, fi.Mode(), err, want)
		}
	}
}
