package arbiter

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/poold/poold/configs"
	"github.com/poold/poold/events"
	"github.com/poold/poold/watcher/proctest"
)

// reopen NAME reopens every file a worker of NAME writes, also one it
// shares with another watcher, whichever of them opened it first and
// after that one is gone.
func TestReopenReachesFilesSharedWithOtherWatchers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shared.log")
	o := newOutput(hclog.NewNullLogger(), true, events.NewBus(nil))
	t.Cleanup(func() { o.close(hang) })
	writers := map[string]*os.File{}
	for _, name := range []string{"a", "b"} {
		spec := configs.DefaultWatcher(name)
		spec.Logs.Stdout, spec.Logs.Stderr = path, configs.LogToNone
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
		writers[name] = outW
	}
	for _, name := range []string{"a", "B", ""} {
		if got := o.reopen(name); !slices.Equal(got, []string{path}) {
			t.Errorf("reopen %q: paths %q, want %q", name, got, path)
		}
	}

	// a is removed: its reader drains and lets go of the file.
	writers["a"].Close()
	proctest.Eventually(t, "a's reader to release the shared file", func() bool {
		o.smu.Lock()
		defer o.smu.Unlock()
		sf := o.files[path]
		return sf != nil && sf.refs == 1
	})
	if got := o.reopen("a"); len(got) != 0 {
		t.Errorf("reopen a after it is gone: paths %q, want none", got)
	}
	if got := o.reopen("b"); !slices.Equal(got, []string{path}) {
		t.Fatalf("reopen b after rm a: paths %q, want %q", got, path)
	}

	// And the reopen happens: after logrotate moved the file away, b's
	// next line goes to a new file at the path.
	if _, err := writers["b"].WriteString("before\n"); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "b's first line in the file", func() bool {
		b, _ := os.ReadFile(path)
		return string(b) == "before\n"
	})
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	o.reopen("b")
	if _, err := writers["b"].WriteString("after rotation\n"); err != nil {
		t.Fatal(err)
	}
	proctest.Eventually(t, "b's line in the reopened file", func() bool {
		b, _ := os.ReadFile(path)
		return string(b) == "after rotation\n"
	})
}
