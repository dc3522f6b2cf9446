package arbiter

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/poold/poold/arbiter/workerlog"
	"github.com/poold/poold/events"
)

// TestWriteFailureAdviceByCause: every failure but a link was told to
// "free space on its filesystem, or make its directory exist and
// writable", a FIFO at the path too, where neither helps. The advice
// now follows the cause.
func TestWriteFailureAdviceByCause(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "something other than a regular file (a FIFO, a socket, a directory) is at its path; remove it"},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "something other than a regular file"},
		{"link", func(t *testing.T, path string) {
			if err := os.Symlink(path+".target", path); err != nil {
				t.Fatal(err)
			}
		}, "a symbolic link is at its path"},
		{"no directory", func(t *testing.T, path string) {
			if err := os.Remove(path[:strings.LastIndexByte(path, '/')]); err != nil {
				t.Fatal(err)
			}
		}, "its directory does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := t.TempDir() + "/d/w.log"
			if err := os.Mkdir(path[:strings.LastIndexByte(path, '/')], 0o755); err != nil {
				t.Fatal(err)
			}
			tc.setup(t, path)
			var logged lockedBuffer
			o := newOutput(hclog.New(&hclog.LoggerOptions{Output: &logged}), false, events.NewBus(nil))
			sf := &sharedFile{f: workerlog.Open(path, workerlog.Rotation{}, nil), users: map[string]int{}}
			defer sf.f.Close()
			ps := &pipeSink{pool: o.pool("web", 10), wid: 1, pid: 4711, stream: "stdout", file: sf}
			o.writeFile(ps, []byte("hello\n"), 1)
			if !strings.Contains(logged.String(), tc.want) {
				t.Errorf("report lacks %q:\n%s", tc.want, logged.String())
			}
			if tc.name != "no directory" && strings.Contains(logged.String(), "free space") {
				t.Errorf("report tells to free space, which does not help:\n%s", logged.String())
			}
		})
	}
}
